"""One model's codec: Picture ⇄ codes through the network (tile by tile, on an engine: numpy in and
out, one iteration per call, see :mod:`rnncodec.engines`), codes ⇄ chunk payloads through the entropy
coder. The container's rules are :mod:`rnncodec.bitstream`'s; choosing the model for a file is
:mod:`rnncodec.api`'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from . import bitstream, registry
from .bitstream import Chunk, Damage, Header
from .engines import as_engine, image_to_network, load_engine, network_to_image
from .entropy import CODER_ID, CodeCoder, CoderTables
from .errors import FormatError
from .images import Picture
from .limits import BLOCK
from .weights import default_weights_path, load_coder_tables

DEFAULT_TILE = 1024  # the network runs on tiles this big: bounded memory, seams only on larger images
Progress = Callable[[int, int], None] | None  # called with (network steps done, steps in all)


class FileCodes(NamedTuple):
    """What the entropy decoder recovers from a file."""

    header: Header
    alpha: np.ndarray | None  # (H, W) uint8 when the mode has alpha
    codes: np.ndarray  # (K, C, h, w) 0/1, the K iterations decoded
    chunk_ends: list[int]  # byte offset just past each intact iteration chunk: a file cut there is valid
    warnings: list[str]
    icc: bytes | None = None  # the ICC profile the file carries


@dataclass
class Decoded:
    picture: Picture
    header: Header
    iterations: int  # iterations decoded
    chunk_ends: list[int]  # byte offset just past each iteration chunk: a file cut there is valid
    warnings: list[str] = field(default_factory=list)
    pictures: list[Picture] | None = None  # every iteration's picture, when asked for


def tiles(height: int, width: int, tile: int):
    """Slices (rows, cols) of the tiles covering a padded image, in raster order."""
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            yield slice(y, min(y + tile, height)), slice(x, min(x + tile, width))


def code_slices(rows: slice, cols: slice):
    return slice(rows.start // BLOCK, rows.stop // BLOCK), slice(cols.start // BLOCK, cols.stop // BLOCK)


def network_codes(engine, rgb: np.ndarray, iterations: int, tile: int = DEFAULT_TILE,
                  progress: Progress = None) -> np.ndarray:
    """The network's bits for an (H, W, 3) uint8 image: (iterations, C, ⌈H/BLOCK⌉, ⌈W/BLOCK⌉) uint8 0/1.

    ``engine``: an engine (see :mod:`rnncodec.engines`), or a PyTorch RNNCodec to run as one."""
    engine = as_engine(engine)
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -h % BLOCK), (0, -w % BLOCK), (0, 0)), mode="edge")
    H, W = padded.shape[:2]
    out = np.zeros((iterations, engine.cfg.code_channels, H // BLOCK, W // BLOCK), np.uint8)
    tick = _ticker(progress, len(list(tiles(H, W, tile))) * iterations)
    for rows, cols in tiles(H, W, tile):
        cr, cc = code_slices(rows, cols)
        for t, bits in enumerate(_bits(engine, image_to_network(padded[rows, cols]), iterations)):
            out[t, :, cr, cc] = bits[0] > 0
            tick()
    return out


def _bits(engine, x: np.ndarray, iterations: int):
    """Yield the bits b_t (1, C, h, w) in ±1 of an image (1, 3, H, W) for t = 1..iterations, without the
    decoder step after the last iteration, which nothing uses (unlike :meth:`RNNCodec.iterate`)."""
    recon = np.zeros_like(x)
    enc_state = dec_state = None
    for t in range(1, iterations + 1):
        bits, enc_state = engine.encode_step(x - recon, t, enc_state)
        yield bits
        if t < iterations:
            delta, dec_state = engine.decode_step(bits, t, dec_state)
            recon = delta + engine.cfg.gamma * recon


def _ticker(progress: Progress, total: int) -> Callable[[], None]:
    """A callable that reports one more network step of ``total`` to ``progress`` (if any)."""
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    return tick


class ModelCodec:
    """One model's network (on an engine) and entropy coder tables, under the model id its files carry."""

    def __init__(self, engine, model_id: bytes, tile: int = DEFAULT_TILE, tables: CoderTables | None = None):
        """``engine``: an engine (see :mod:`rnncodec.engines`), or a PyTorch RNNCodec to run as one."""
        self.engine = as_engine(engine)
        self.cfg = self.engine.cfg
        self.model_id = model_id
        self.tile = tile
        self.tables = tables  # the entropy coder's fitted tables (None: uniform)

    @classmethod
    def load(cls, weights: str | Path | None = None, tile: int = DEFAULT_TILE, model_id: bytes | None = None,
             engine: str | None = None) -> "ModelCodec":
        """The codec of a weights file (default: the shipped default) on ``engine`` (see
        :func:`rnncodec.engines.engine_name`); its id from the model registry unless given."""
        path = Path(weights) if weights is not None else default_weights_path()
        network = load_engine(path, engine)
        model_id = model_id or registry.load().id_of(path)
        return cls(network, model_id, tile, load_coder_tables(path, network.cfg.code_channels))

    @property
    def max_iterations(self) -> int:
        return self.cfg.max_iterations

    # --- encoding ------------------------------------------------------------------------------
    def codes(self, rgb: np.ndarray, iterations: int, progress: Progress = None) -> np.ndarray:
        return network_codes(self.engine, rgb, iterations, self.tile, progress)

    def encode(self, picture: Picture, iterations: int, progress: Progress = None) -> bytes:
        if not 1 <= iterations <= self.max_iterations:
            raise ValueError(f"iterations must be in 1..{self.max_iterations}")
        h, w = picture.rgb.shape[:2]
        header = Header(w, h, picture.mode, iterations, self.cfg.code_channels, self.tile, self.model_id, CODER_ID)
        coder = CodeCoder(*header.code_shape, self.tables)
        chunks = [coder.encode(bits) for bits in self.codes(picture.rgb, iterations, progress)]
        return bitstream.write(header, None if picture.alpha is None else picture.alpha.tobytes(), chunks, picture.icc)

    # --- decoding ------------------------------------------------------------------------------
    def check_compatible(self, header: Header) -> None:
        """Refuse a file these weights cannot decode."""
        if header.model_id != self.model_id:
            raise FormatError(f"file was made with other weights (model id {header.model_id.hex()}, these are {self.model_id.hex()})")
        if header.coder_id != CODER_ID:
            raise FormatError(f"file uses entropy coder {header.coder_id}; this build has coder {CODER_ID}")
        if header.code_channels != self.cfg.code_channels:
            raise FormatError("file's code channel count does not match the model")
        if header.iterations > self.max_iterations:
            raise FormatError(f"file declares {header.iterations} iterations; the model runs at most {self.max_iterations}")

    def read(self, data: bytes, iterations: int | None = None, salvage: bool = False) -> FileCodes:
        """Check a file and entropy-decode the iterations :meth:`bitstream.Contents.select` picks
        (``iterations``, ``salvage``: see there). Every failure is a FormatError."""
        contents = bitstream.read(data)
        self.check_compatible(contents.header)
        selection = contents.select(iterations, salvage)
        codes, damage = self._entropy_decode(contents.header, selection.chunks)
        if damage is not None:  # always before any damage read() found
            contents = contents.damaged(damage)
            selection = contents.select(iterations, salvage)
        header = contents.header
        alpha = None if contents.alpha is None else np.frombuffer(contents.alpha, np.uint8).reshape(header.height, header.width)
        return FileCodes(header, alpha, np.stack(codes[: len(selection.chunks)]), contents.chunk_ends, selection.warnings,
                         contents.icc)

    def _entropy_decode(self, header: Header, chunks: list[Chunk]) -> tuple[list[np.ndarray], Damage | None]:
        """The codes of the chunks, up to the damage if one does not decode."""
        coder = CodeCoder(*header.code_shape, self.tables)
        codes = []
        for chunk in chunks:
            try:
                codes.append(coder.decode(chunk.mode, chunk.payload))
            except MemoryError:
                raise
            except Exception as e:  # the range decoder asserts on invalid data: any failure is the file's
                return codes, Damage(len(codes), f"iteration {chunk.index}: its codes do not decode ({type(e).__name__}: {e})")
        return codes, None

    def reconstruct(self, codes: np.ndarray, height: int, width: int, keep_all: bool = False, progress: Progress = None,
                    tile: int | None = None):
        """Run the decoder over the codes tile by tile (the codec's tile unless given: a file's decode
        must use the tile it was encoded with); the final (H, W, 3) uint8 image, or all of them."""
        K = codes.shape[0]
        H, W = codes.shape[2] * BLOCK, codes.shape[3] * BLOCK
        outs = [np.zeros((H, W, 3), np.uint8) for _ in range(K if keep_all else 1)]
        gamma = self.cfg.gamma
        tile = tile or self.tile
        tick = _ticker(progress, len(list(tiles(H, W, tile))) * K)
        for rows, cols in tiles(H, W, tile):
            cr, cc = code_slices(rows, cols)
            recon, state = None, None
            for t in range(K):
                bits = codes[t, :, cr, cc][None].astype(np.float32) * 2 - 1
                delta, state = self.engine.decode_step(bits, t + 1, state)
                recon = delta if recon is None else delta + gamma * recon
                if keep_all or t == K - 1:
                    outs[t if keep_all else 0][rows, cols] = network_to_image(recon[0])
                tick()
        return [o[:height, :width] for o in outs]

    def decode(self, data: bytes, iterations: int | None = None, keep_all: bool = False, progress: Progress = None,
               salvage: bool = False) -> Decoded:
        """Decode a file (see :meth:`read`); raises FormatError, and nothing else, on any invalid data."""
        header, alpha, codes, ends, warnings, icc = self.read(data, iterations, salvage)
        images = self.reconstruct(codes, header.height, header.width, keep_all, progress, header.tile)
        pictures = [Picture(im, header.mode, alpha, icc) for im in images]
        return Decoded(pictures[-1], header, len(codes), ends, warnings, pictures if keep_all else None)

