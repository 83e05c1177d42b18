"""The Python API: encode images into .rgc files, decode them, describe them.

Images go in as Pillow images, numpy arrays (H, W[, C]) uint8, paths or encoded image bytes, and
come back as Pillow images. Decoding picks the weights by the file's model id among the models
this release carries (:mod:`rnncodec.registry`), unless a weights file is given. Every refusal is
an :class:`~rnncodec.errors.RnncodecError`; a file decoded with fewer iterations than it declares
gives a :class:`~rnncodec.errors.RnncodecWarning`. Nothing here imports PyTorch until an image is
encoded or decoded.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

from . import bitstream, registry
from .errors import RnncodecWarning, WeightsError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from .codec import Decoded, ModelCodec
    from .images import Picture

ImageInput = Union["Image.Image", "np.ndarray", str, os.PathLike, bytes]
RgcInput = Union[bytes, bytearray, memoryview, str, os.PathLike]
Progress = Callable[[int, int], None] | None  # called with (network steps done, steps in all)


class Codec:
    """Encodes and decodes many images, loading each model's weights once.

    ``model``: a weights file that encodes and decodes everything (files made with other weights
    are refused); by default the shipped default model encodes and each file decodes with the
    shipped model it names. ``tile``: the side of the tiles the network runs on when encoding.
    """

    def __init__(self, model: str | os.PathLike | None = None, *, tile: int | None = None):
        self.model = None if model is None else Path(model)
        self.tile = tile
        self._loaded: dict[Path, ModelCodec] = {}

    def encode(self, image: ImageInput, iterations: int = 8, *, progress: Progress = None) -> bytes:
        """An .rgc file of ``iterations`` iterations (1 to MAX_ITERATIONS, 0.125 bpp each before entropy coding)."""
        picture = to_picture(image)
        return self._encoder().encode(picture, iterations, progress)

    def decode(self, data: RgcInput, iterations: int | None = None, *, salvage: bool = False,
               progress: Progress = None) -> Image.Image:
        """The picture of the file's first ``iterations`` iterations (default: all of them).

        A truncated file decodes its complete iterations with a warning; a damaged one raises
        DamageError unless ``salvage``, which decodes its intact iterations with a warning.
        """
        return self._decoded(data, iterations, salvage, False, progress).picture.to_pil()

    def decode_iterations(self, data: RgcInput, iterations: int | None = None, *, salvage: bool = False,
                          progress: Progress = None) -> list[Image.Image]:
        """Every iteration's picture, as :meth:`decode` gives them for 1, 2, … iterations."""
        decoded = self._decoded(data, iterations, salvage, True, progress)
        return [picture.to_pil() for picture in decoded.pictures]

    def _decoded(self, data: RgcInput, iterations: int | None, salvage: bool, keep_all: bool, progress: Progress) -> Decoded:
        if iterations is not None and iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {iterations}")
        data = _rgc_bytes(data)
        header = bitstream.parse_header(data)
        decoded = self._decoder(header.model_id).decode(data, iterations, keep_all, progress, salvage)
        for message in decoded.warnings:
            warnings.warn(message, RnncodecWarning, stacklevel=4)
        return decoded

    def _encoder(self) -> ModelCodec:
        if self.model is not None:
            return self._load(self.model)
        default = registry.load().default
        return self._load(default.path, default.id)

    def _decoder(self, model_id: bytes) -> ModelCodec:
        if self.model is not None:
            return self._load(self.model)  # refuses files made with other weights
        shipped = registry.load().find(model_id)
        return self._load(shipped.path, shipped.id)

    def _load(self, path: Path, model_id: bytes | None = None) -> ModelCodec:
        if path not in self._loaded:
            from .codec import DEFAULT_TILE, ModelCodec

            self._loaded[path] = ModelCodec.load(path, self.tile or DEFAULT_TILE, model_id)
        return self._loaded[path]


@functools.lru_cache(maxsize=4)
def _shared_codec(model: Path | None, tile: int | None) -> Codec:
    return Codec(model, tile=tile)


def _codec(model: str | os.PathLike | None, tile: int | None = None) -> Codec:
    return _shared_codec(None if model is None else Path(model), tile)


def encode(image: ImageInput, iterations: int = 8, *, model: str | os.PathLike | None = None, tile: int | None = None,
           progress: Progress = None) -> bytes:
    """Encode an image into .rgc bytes (see :meth:`Codec.encode`); weights stay loaded between calls."""
    return _codec(model, tile).encode(image, iterations, progress=progress)


def decode(data: RgcInput, iterations: int | None = None, *, salvage: bool = False, model: str | os.PathLike | None = None,
           progress: Progress = None) -> Image.Image:
    """Decode .rgc bytes (or a file) into a Pillow image (see :meth:`Codec.decode`)."""
    return _codec(model).decode(data, iterations, salvage=salvage, progress=progress)


def decode_iterations(data: RgcInput, iterations: int | None = None, *, salvage: bool = False,
                      model: str | os.PathLike | None = None, progress: Progress = None) -> list[Image.Image]:
    """Every iteration's picture of an .rgc file (see :meth:`Codec.decode_iterations`)."""
    return _codec(model).decode_iterations(data, iterations, salvage=salvage, progress=progress)


# --- describing a file without decoding it ---------------------------------------------------------
@dataclass(frozen=True)
class IterationInfo:
    index: int  # 1-based
    bytes: int  # the chunk, framing included
    coded: bool  # range-coded (False: raw bits)
    end: int  # offset just past the chunk: the file cut here holds iterations 1..index
    bpp: float  # bits per pixel of that cut file


@dataclass(frozen=True)
class FileInfo:
    """What an .rgc file holds, from its header and chunks alone."""

    size: int  # bytes
    header: bitstream.Header  # width, height, mode, iterations declared, code channels, tile, model id, coder id, version
    chunks: tuple[IterationInfo, ...]  # the intact iteration chunks present
    alpha_bytes: int | None  # the alpha chunk, framing included, when the mode has alpha
    model: registry.ShippedModel | None  # the shipped model that decodes it; None if this release does not carry it
    damage: str | None = None  # the first damaged chunk and its problem (iterations before it are intact)

    @property
    def bpp(self) -> float:
        return self.size * 8 / (self.header.width * self.header.height)

    @property
    def nominal_bpp(self) -> float:
        """Bits per pixel of the declared iterations' codes before entropy coding."""
        return self.header.iterations * self.header.code_channels / 256

    @property
    def truncated(self) -> bool:
        return self.damage is None and len(self.chunks) < self.header.iterations


def info(data: RgcInput) -> FileInfo:
    """Describe an .rgc file: its header and each iteration's bytes and bpp (no weights, no decoding).

    A bad header raises FormatError; damaged chunks are reported in ``damage``.
    """
    data = _rgc_bytes(data)
    contents = bitstream.read(data)
    pixels = contents.header.width * contents.header.height
    chunks = tuple(IterationInfo(c.index, c.end - c.start, c.mode == bitstream.ITERATION_CODED, c.end, c.end * 8 / pixels)
                   for c in contents.iterations)
    alpha = contents.alpha_chunk
    return FileInfo(len(data), contents.header, chunks, None if alpha is None else alpha.end - alpha.start,
                    _shipped(contents.header.model_id), None if contents.damage is None else contents.damage.message)


def _shipped(model_id: bytes) -> registry.ShippedModel | None:
    try:
        return registry.load().models.get(model_id)
    except WeightsError:
        return None


def models() -> list[registry.ShippedModel]:
    """The models this release carries, each decoding the files made with it (the default encodes)."""
    return list(registry.load().models.values())


# --- inputs --------------------------------------------------------------------------------------
def to_picture(image: ImageInput) -> Picture:
    """The codec's Picture of a Pillow image, a numpy array, a path or encoded image bytes."""
    import numpy as np
    from PIL import Image

    from .images import picture_from_array, picture_from_pil, read_picture

    if isinstance(image, Image.Image):
        return picture_from_pil(image)
    if isinstance(image, np.ndarray):
        return picture_from_array(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return read_picture(bytes(image))
    if isinstance(image, (str, os.PathLike)):
        return read_picture(Path(image).read_bytes())
    raise TypeError(f"cannot encode a {type(image).__name__}: give a Pillow image, a numpy array, a path or image bytes")


def _rgc_bytes(data: RgcInput) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return Path(data).read_bytes()
    raise TypeError(f"cannot decode a {type(data).__name__}: give .rgc bytes or a path")
