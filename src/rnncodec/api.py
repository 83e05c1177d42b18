"""The Python API: encode images into .rgc files, decode them, describe them.

Images go in as Pillow images, numpy arrays (H, W[, C]) uint8, paths or encoded image bytes, and
come back as Pillow images. An image is encoded to a number of iterations or to a target (a size
or bpp budget, a PSNR): the most iterations are encoded once and the file is cut after as many as
the target asks for (a progressive file makes that a cut, not a search). Decoding picks the
weights by the file's model id among the models this release carries (:mod:`rnncodec.registry`),
unless a weights file is given. Every refusal is an :class:`~rnncodec.errors.RnncodecError` (a
path that cannot be read: :class:`~rnncodec.errors.UnreadableFileError`, also an OSError, and
:class:`~rnncodec.errors.MissingFileError`, also a FileNotFoundError); a wrong argument is a
TypeError or a ValueError that is not one. A file decoded with fewer iterations than it declares
gives a :class:`~rnncodec.errors.RnncodecWarning`. Nothing here imports PyTorch until an image is
encoded or decoded.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

from . import bitstream, registry
from .errors import ImageError, MissingFileError, RnncodecWarning, TargetError, UnreadableFileError, WeightsError
from .limits import BLOCK, DEFAULT_EFFORT, DEFAULT_ITERATIONS, DEFAULT_TUNE, MAX_ITERATIONS, TUNES

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from .codec import Decoded, ModelPipeline
    from .images import Picture
    from .model import Model

ImageInput = Union["Image.Image", "np.ndarray", str, os.PathLike, bytes]
RgcInput = Union[bytes, bytearray, memoryview, str, os.PathLike]
Progress = Callable[[int, int], None] | None  # called with (network steps done, steps in all)
METADATA_PARTS = ("icc", "exif", "xmp")  # what of an image's metadata a file may keep
DEFAULT_METADATA = "icc"


@dataclass(frozen=True)
class Encoded:
    """An encoded file, the iterations it holds and the pixels of its image."""

    data: bytes
    iterations: int
    pixels: int

    @property
    def bpp(self) -> float:
        return len(self.data) * 8 / self.pixels


@dataclass(frozen=True)
class DecodedFile:
    """A decoded image, the iterations decoded, and the bits per pixel of the file's bytes they take."""

    image: Image.Image
    iterations: int
    bpp: float


class Codec:
    """Encodes and decodes many images, loading each model's weights once.

    ``model``: a weights file, or a model :func:`rnncodec.load_model` loaded, that encodes and
    decodes everything (files made with other weights are refused); by default the shipped default
    model encodes and each file decodes with the shipped model it names. ``tile``: the side of the
    tiles the network runs on when encoding. ``tune``: what a layered model's encoder spends each
    iteration's bits on: "balanced" (the default: squared error, weighed a little towards smooth
    areas, where errors show most), "psnr" (squared error alone) or "ssim" (more towards smooth
    areas: higher MS-SSIM, lower PSNR). Every file decodes the same way whatever its tune.
    ``effort``: how hard the encoder searches each network iteration's bits through the decoder
    (:mod:`rnncodec.engines.search`): one decoder pass forward and back, then ``effort`` sets of bit
    flips tried, each 16×16 block keeping the closest; closer pictures for about the same bits, at
    one decoder pass more per set (README, "Use", has what each effort gains and costs). 1 is the
    default; 0 codes the network encoder's bits, the fastest. Every file decodes the same way
    whatever its effort.
    """

    def __init__(self, model: str | os.PathLike | Model | None = None, *, tile: int | None = None,
                 tune: str = DEFAULT_TUNE, effort: int = DEFAULT_EFFORT):
        if model is not None and not isinstance(model, (str, os.PathLike)):
            from .model import Model

            if not isinstance(model, Model):
                raise TypeError(f"model must be a weights file or a Model, got {model!r} (a {type(model).__name__})")
        self.model = Path(model) if isinstance(model, (str, os.PathLike)) else model
        _check_tune(tune)
        _check_effort(effort)
        self.tile = tile
        self.tune = tune
        self.effort = effort
        self._loaded: dict[Path | None, ModelPipeline] = {}

    def encode(self, image: ImageInput, iterations: int | None = None, *, size: int | None = None,
               bpp: float | None = None, psnr: float | None = None, metadata: str = DEFAULT_METADATA,
               progress: Progress = None) -> bytes:
        """An .rgc file of ``iterations`` iterations (1 to MAX_ITERATIONS, default 8; 0.125 bpp each before entropy
        coding), or of the iterations a target picks; give at most one of

        - ``size``: the largest file of at most that many bytes (TargetError if one iteration is larger):
          the most iterations that fit, and with a layered model (one with a block stage, such as
          the default) as many of the next iteration's refinements as fit too,
        - ``bpp``: the same as bits per pixel,
        - ``psnr``: the fewest iterations whose decoded picture reaches that PSNR (dB) against the
          image; all of them, with a RnncodecWarning, if none does.

        ``metadata``: what of the image's metadata the file keeps: "icc" (its colour profile, the
        default), "all" (the profile, EXIF and XMP), "none", or a comma-separated list of icc,
        exif and xmp. EXIF is kept without its orientation, as the pixels are coded upright.
        """
        return self.encode_file(image, iterations, size=size, bpp=bpp, psnr=psnr, metadata=metadata, progress=progress).data

    def encode_file(self, image: ImageInput, iterations: int | None = None, *, size: int | None = None,
                    bpp: float | None = None, psnr: float | None = None, metadata: str = DEFAULT_METADATA,
                    progress: Progress = None) -> Encoded:
        """:meth:`encode`'s file, with the iterations it holds and its bpp (what ``rnncodec encode`` reports)."""
        _check_iterations(iterations)
        _at_most_one(iterations=iterations, size=size, bpp=bpp, psnr=psnr)
        kept = metadata_kept(metadata)
        picture = to_picture(image)
        picture = replace(picture, **{name: None for name in METADATA_PARTS if name not in kept})
        encoder = self._encoder()
        pixels = picture.rgb.shape[0] * picture.rgb.shape[1]
        if size is None and bpp is None and psnr is None:
            iterations = DEFAULT_ITERATIONS if iterations is None else iterations
            return Encoded(encoder.encode(picture, iterations, progress), iterations, pixels)
        if psnr is None and encoder.stage is not None:
            budget = _budget(pixels, size, bpp)
            data = encoder.encode(picture, encoder.max_iterations, progress, budget=budget)
            if data is None:
                _fitting(bitstream.read(encoder.encode(picture, 1)), budget)  # raises TargetError, naming one iteration's size
            return Encoded(data, bitstream.parse_header(data).iterations, pixels)
        stages = 1 if psnr is None else 2  # the PSNR target decodes what it encoded
        contents = bitstream.read(encoder.encode(picture, encoder.max_iterations, _stage(progress, 0, stages)))
        if psnr is None:
            keep = _fitting(contents, _budget(pixels, size, bpp))
        else:
            decoded = encoder.decode(contents, keep_all=True, progress=_stage(progress, 1, stages))
            keep = _fewest_reaching(psnr, _psnrs(picture, decoded.pictures))
        return Encoded(contents.cut(keep), keep, pixels)

    def decode(self, data: RgcInput, iterations: int | None = None, *, size: int | None = None,
               bpp: float | None = None, salvage: bool = False, progress: Progress = None) -> Image.Image:
        """The picture of the file's first ``iterations`` iterations (default: all of them), or of
        those within the first ``size`` bytes (or ``bpp`` bits per pixel) of the file, as a client
        that has downloaded only that much would decode them (TargetError if not even one is).

        A truncated file decodes its complete iterations with a warning; a damaged one raises
        DamageError unless ``salvage``, which decodes its intact iterations with a warning. The
        image's ``info`` holds the ``iterations`` decoded and the file's ``icc_profile``, if any.
        """
        return self._decode_file(data, iterations, size, bpp, salvage, progress).image

    def decode_file(self, data: RgcInput, iterations: int | None = None, *, size: int | None = None,
                    bpp: float | None = None, salvage: bool = False, progress: Progress = None) -> DecodedFile:
        """:meth:`decode`'s image, with the iterations decoded and the bpp of the bytes they take
        (what ``rnncodec decode`` reports)."""
        return self._decode_file(data, iterations, size, bpp, salvage, progress)

    def _decode_file(self, data: RgcInput, iterations: int | None, size: int | None, bpp: float | None, salvage: bool,
                     progress: Progress) -> DecodedFile:
        _check_iterations(iterations)
        _at_most_one(size=size, bpp=bpp)
        data = _rgc_bytes(data)
        contents = bitstream.read(data)
        if size is not None or bpp is not None:
            contents, iterations = _within_budget(data, contents, iterations, size, bpp)
        decoded = self._decoded(contents, iterations, salvage, False, progress, stacklevel=5)
        image = decoded.picture.to_pil()
        image.info["iterations"] = decoded.iterations
        pixels = decoded.header.width * decoded.header.height
        return DecodedFile(image, decoded.iterations, decoded.chunk_ends[decoded.iterations - 1] * 8 / pixels)

    def psnr_per_iteration(self, data: RgcInput, original: ImageInput) -> list[float]:
        """The PSNR (dB) against ``original`` of the picture after 1, 2, … of the file's iterations."""
        reference = to_picture(original)
        decoded = self._decoded(bitstream.read(_rgc_bytes(data)), None, False, True, None)
        if reference.colour.shape != decoded.picture.colour.shape:
            h, w = reference.rgb.shape[:2]
            raise ImageError(f"the original is {w}×{h}, the file {decoded.header.width}×{decoded.header.height}")
        return _psnrs(reference, decoded.pictures)

    def decode_iterations(self, data: RgcInput, iterations: int | None = None, *, salvage: bool = False,
                          progress: Progress = None) -> list[Image.Image]:
        """Every iteration's picture, as :meth:`decode` gives them for 1, 2, … iterations."""
        _check_iterations(iterations)
        decoded = self._decoded(bitstream.read(_rgc_bytes(data)), iterations, salvage, True, progress)
        return [picture.to_pil() for picture in decoded.pictures]

    def _decoded(self, contents: bitstream.Contents, iterations: int | None, salvage: bool, keep_all: bool,
                 progress: Progress, stacklevel: int = 4) -> Decoded:
        """The codec's decode of a file's contents (with the weights it names, unless the codec has its
        own), its warnings raised for the caller ``stacklevel`` frames up. ``iterations``: checked by the caller."""
        decoded = self._decoder(contents.header.model_id).decode(contents, iterations, keep_all, progress, salvage)
        for message in decoded.warnings:
            warnings.warn(message, RnncodecWarning, stacklevel=stacklevel)
        return decoded

    def _encoder(self) -> ModelPipeline:
        if self.model is not None:
            return self._load(self.model)
        default = registry.load().default
        return self._load(default.path, default.id)

    def _decoder(self, model_id: bytes) -> ModelPipeline:
        if self.model is not None:
            return self._load(self.model)  # refuses files made with other weights
        shipped = registry.load().find(model_id)
        return self._load(shipped.path, shipped.id)

    def _load(self, model: Path | Model, model_id: bytes | None = None) -> ModelPipeline:
        """The codec of a weights file (loaded once), or of the model this codec was given."""
        key = model if isinstance(model, Path) else None
        if key not in self._loaded:
            from .codec import DEFAULT_TILE, ModelPipeline
            from .model import load_model

            loaded = load_model(model, model_id=model_id) if isinstance(model, Path) else model
            self._loaded[key] = ModelPipeline(loaded, self.tile or DEFAULT_TILE, tune=self.tune, effort=self.effort)
        return self._loaded[key]


@functools.lru_cache(maxsize=4)
def _shared_codec(model: Path | None, tile: int | None, tune: str, effort: int) -> Codec:
    return Codec(model, tile=tile, tune=tune, effort=effort)


def _codec(model: str | os.PathLike | Model | None, tile: int | None = None, tune: str = DEFAULT_TUNE, effort: int = DEFAULT_EFFORT) -> Codec:
    if model is not None and not isinstance(model, (str, os.PathLike)):
        return Codec(model, tile=tile, tune=tune, effort=effort)  # a loaded model: nothing to load, nothing to keep
    _check_tune(tune)  # before the cache: it hashes its arguments
    _check_effort(effort)
    return _shared_codec(None if model is None else Path(model), tile, tune, effort)


def encode(image: ImageInput, iterations: int | None = None, *, size: int | None = None, bpp: float | None = None,
           psnr: float | None = None, metadata: str = DEFAULT_METADATA, model: str | os.PathLike | None = None,
           tile: int | None = None, tune: str = DEFAULT_TUNE, effort: int = DEFAULT_EFFORT, progress: Progress = None) -> bytes:
    """Encode an image into .rgc bytes (see :meth:`Codec.encode`; ``tile``, ``tune`` and ``effort``: see
    :class:`Codec`); weights stay loaded between calls."""
    return _codec(model, tile, tune, effort).encode(image, iterations, size=size, bpp=bpp, psnr=psnr, metadata=metadata,
                                      progress=progress)


def metadata_kept(choice: str) -> set[str]:
    """The parts of an image's metadata a ``metadata`` choice keeps (see :meth:`Codec.encode`)."""
    if not isinstance(choice, str):
        raise TypeError(f"metadata must be a str such as 'all' or 'icc,exif', got {choice!r}")
    if choice in ("all", "none"):
        return set(METADATA_PARTS) if choice == "all" else set()
    parts = {part.strip() for part in choice.split(",") if part.strip()}
    if not parts or parts - set(METADATA_PARTS):
        raise ValueError(f"metadata must be all, none or a comma-separated list of {', '.join(METADATA_PARTS)}; got {choice!r}")
    return parts


def decode(data: RgcInput, iterations: int | None = None, *, size: int | None = None, bpp: float | None = None,
           salvage: bool = False, model: str | os.PathLike | None = None, progress: Progress = None) -> Image.Image:
    """Decode .rgc bytes (or a file) into a Pillow image (see :meth:`Codec.decode`)."""
    return _codec(model).decode(data, iterations, size=size, bpp=bpp, salvage=salvage, progress=progress)


def decode_iterations(data: RgcInput, iterations: int | None = None, *, salvage: bool = False,
                      model: str | os.PathLike | None = None, progress: Progress = None) -> list[Image.Image]:
    """Every iteration's picture of an .rgc file (see :meth:`Codec.decode_iterations`)."""
    return _codec(model).decode_iterations(data, iterations, salvage=salvage, progress=progress)


def psnr_per_iteration(data: RgcInput, original: ImageInput, *, model: str | os.PathLike | None = None) -> list[float]:
    """The PSNR (dB) against ``original`` after each iteration of an .rgc file (see :meth:`Codec.psnr_per_iteration`)."""
    return _codec(model).psnr_per_iteration(data, original)


# --- arguments and targets -----------------------------------------------------------------------
def _check_iterations(iterations) -> None:
    """Refuse an iteration count that is not an int from 1 to MAX_ITERATIONS (None: the default)."""
    if iterations is None:
        return
    wanted = f"iterations must be an int from 1 to {MAX_ITERATIONS}"
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral):
        raise TypeError(f"{wanted}, got {iterations!r} (a {type(iterations).__name__})")
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"{wanted}, got {iterations}")


def _check_effort(effort) -> None:
    if isinstance(effort, bool) or not isinstance(effort, numbers.Integral):
        raise TypeError(f"effort must be a whole number of sets of flips, got {effort!r} (a {type(effort).__name__})")
    if effort < 0:
        raise ValueError(f"effort must be 0 or more sets of flips, got {effort}")


def _check_tune(tune) -> None:
    if not isinstance(tune, str):
        raise TypeError(f"tune must be one of {', '.join(TUNES)}, got {tune!r} (a {type(tune).__name__})")
    if tune not in TUNES:
        raise ValueError(f"tune must be one of {', '.join(TUNES)}, got {tune!r}")


def _at_most_one(**choices) -> None:
    """Refuse more than one of the choices, and a target that is not a positive number (size: an int)."""
    given = {name: value for name, value in choices.items() if value is not None}
    if len(given) > 1:
        raise ValueError(f"give at most one of {', '.join(choices)}; got {' and '.join(given)}")
    for name, value in given.items():
        if name == "iterations":
            continue
        kind = numbers.Integral if name == "size" else numbers.Real
        wanted = f"{name} must be a positive {'int (bytes)' if name == 'size' else 'number'}"
        if isinstance(value, bool) or not isinstance(value, kind):
            raise TypeError(f"{wanted}, got {value!r} (a {type(value).__name__})")
        if not 0 < value < math.inf:
            raise ValueError(f"{wanted}, got {value}")


def _budget(pixels: int, size: int | None, bpp: float | None) -> int:
    """Bytes allowed: ``size``, or ``bpp`` bits per pixel of an image of ``pixels`` (a size's own bpp gives that size)."""
    return size if size is not None else math.floor(bpp * pixels / 8 * (1 + 1e-12))


def _fitting(contents: bitstream.Contents, budget: int) -> int:
    """The most iterations whose file is at most ``budget`` bytes, or TargetError."""
    fitting = contents.within(budget)
    if not fitting:
        pixels = contents.header.width * contents.header.height
        smallest = contents.chunk_ends[0]
        raise TargetError(f"1 iteration takes {smallest} bytes ({smallest * 8 / pixels:.4f} bpp), more than "
                          f"the budget of {budget} bytes ({budget * 8 / pixels:.4f} bpp)")
    return fitting


def _within_budget(data: bytes, contents: bitstream.Contents, iterations: int | None, size: int | None,
                   bpp: float | None) -> tuple[bitstream.Contents, int | None]:
    """What a decode within a byte budget decodes: the contents of the file's first ``budget`` bytes,
    as a client that has downloaded only those holds them, and the complete iterations among them
    (at most ``iterations``). ``contents``: the whole file's."""
    budget = _budget(contents.header.width * contents.header.height, size, bpp)
    if budget >= len(data) or not contents.iterations:
        return contents, iterations  # the whole file; or nothing intact, which the decode reports
    _fitting(contents, budget)
    held = bitstream.read(data[:budget])
    if held.damage is not None:
        return held, iterations  # damage within the budget: refused (or salvaged) as in the whole file
    return held, len(held.iterations) if iterations is None else min(iterations, len(held.iterations))


def _psnrs(reference: Picture, pictures: list[Picture]) -> list[float]:
    from .metrics import psnr

    return [psnr(reference.colour, picture.colour) for picture in pictures]


def _fewest_reaching(target: float, psnrs: list[float]) -> int:
    """The fewest iterations whose PSNR reaches ``target``; all of them, with a warning, if none does."""
    for iterations, value in enumerate(psnrs, start=1):
        if value >= target:
            return iterations
    warnings.warn(f"no iteration reaches {target:g} dB (all {len(psnrs)} give {psnrs[-1]:.2f} dB); kept all of them",
                  RnncodecWarning, stacklevel=4)
    return len(psnrs)


def _stage(progress: Progress, stage: int, stages: int) -> Progress:
    """Progress of one of ``stages`` equal stages, reported as part of the whole."""
    if progress is None:
        return None
    return lambda done, total: progress(stage * total + done, stages * total)


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
    icc_bytes: int | None = None  # the ICC chunk, framing included, when the file carries a colour profile
    metadata_bytes: int | None = None  # the metadata chunk, framing included, when the file carries EXIF or XMP
    metadata: tuple[str, ...] = ()  # what that chunk holds: "exif", "xmp"

    @property
    def bpp(self) -> float:
        return self.size * 8 / (self.header.width * self.header.height)

    @property
    def nominal_bpp(self) -> float:
        """Bits per pixel of the declared iterations' codes before entropy coding."""
        return self.header.iterations * self.header.code_channels / (BLOCK * BLOCK)

    @property
    def truncated(self) -> bool:
        return self.damage is None and len(self.chunks) < self.header.iterations


def header_of(data: RgcInput) -> bitstream.Header:
    """The header of an .rgc file, its chunks unread (FormatError if it is not one)."""
    return bitstream.parse_header(_rgc_bytes(data))


def info(data: RgcInput) -> FileInfo:
    """Describe an .rgc file: its header and each iteration's bytes and bpp (no weights, no decoding).

    A bad header raises FormatError; damaged chunks are reported in ``damage``.
    """
    data = _rgc_bytes(data)
    contents = bitstream.read(data)
    pixels = contents.header.width * contents.header.height
    chunks = tuple(IterationInfo(c.index, c.end - c.start, c.mode == bitstream.ITERATION_CODED, c.end, c.end * 8 / pixels)
                   for c in contents.iterations)
    alpha, icc, metadata = contents.alpha_chunk, contents.icc_chunk, contents.metadata_chunk
    return FileInfo(len(data), contents.header, chunks, None if alpha is None else alpha.end - alpha.start,
                    _shipped(contents.header.model_id), None if contents.damage is None else contents.damage.message,
                    None if icc is None else icc.end - icc.start, None if metadata is None else metadata.end - metadata.start,
                    tuple(contents.metadata or ()))


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
    """The codec's Picture of a Pillow image, a numpy array, a path or encoded image bytes (a Picture as it is)."""
    import numpy as np
    from PIL import Image

    from .images import Picture, picture_from_array, picture_from_pil, read_picture

    if isinstance(image, Picture):
        return image
    if isinstance(image, Image.Image):
        return picture_from_pil(image)
    if isinstance(image, np.ndarray):
        return picture_from_array(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return read_picture(bytes(image))
    if isinstance(image, (str, os.PathLike)):
        return read_picture(_read_path(image))
    raise TypeError(f"cannot encode a {type(image).__name__}: give a Pillow image, a numpy array, a path or image bytes")


def _rgc_bytes(data: RgcInput) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return _read_path(data)
    raise TypeError(f"cannot decode a {type(data).__name__}: give .rgc bytes or a path")


def _read_path(path: str | os.PathLike) -> bytes:
    """The bytes of an input file, or MissingFileError / UnreadableFileError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as e:
        raise MissingFileError(e.errno, "no such file", os.fspath(path)) from None
    except IsADirectoryError as e:
        raise UnreadableFileError(e.errno, "is a directory", os.fspath(path)) from None
    except OSError as e:
        raise UnreadableFileError(e.errno, f"cannot read ({e.strerror or e})", os.fspath(path)) from None
