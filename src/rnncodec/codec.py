"""The codec: Picture ⇄ .rgc bytes, through the network (tile by tile) and the entropy coder.

The network runs on an engine, numpy in and out, one iteration per call (:mod:`rnncodec.engines`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .bitstream import BLOCK, Contents, Damage, DamageError, FormatError, Header, pack_file, parse
from .engines import as_engine, image_to_network, load_engine, network_to_image
from .entropy import CODER_ID, CodeCoder, CoderTables
from .images import Picture
from .weights import default_weights_path, load_coder_tables, model_id

DEFAULT_TILE = 1024  # the network runs on tiles this big: bounded memory, seams only on larger images
Progress = Callable[[int], None] | None  # called with the number of network steps just done


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


class Codec:
    def __init__(self, engine, model_id: bytes, tile: int = DEFAULT_TILE, tables: CoderTables | None = None):
        """``engine``: an engine (see :mod:`rnncodec.engines`), or a PyTorch RNNCodec to run as one."""
        self.engine = as_engine(engine)
        self.cfg = self.engine.cfg
        self.model_id = model_id
        self.tile = tile
        self.tables = tables  # the entropy coder's fitted tables (None: uniform)

    @classmethod
    def load(cls, weights: str | Path | None = None, tile: int = DEFAULT_TILE, engine: str | None = None) -> "Codec":
        """The codec of a weights file (the shipped ones by default) on ``engine`` (see :func:`rnncodec.engines.engine_name`)."""
        path = Path(weights) if weights is not None else default_weights_path()
        network = load_engine(path, engine)
        return cls(network, model_id(path), tile, load_coder_tables(path, network.cfg.code_channels))

    @property
    def max_iterations(self) -> int:
        return self.cfg.max_iterations

    def network_codes(self, x: np.ndarray, iterations: int):
        """Yield the bits b_t (1, C, h, w) in ±1 of an image (1, 3, H, W) for t = 1..iterations, without the
        decoder step after the last iteration, which nothing uses (as :meth:`RNNCodec.encode`)."""
        recon = np.zeros_like(x)
        enc_state = dec_state = None
        for t in range(1, iterations + 1):
            bits, enc_state = self.engine.encode_step(x - recon, t, enc_state)
            yield bits
            if t < iterations:
                delta, dec_state = self.engine.decode_step(bits, t, dec_state)
                recon = delta + self.cfg.gamma * recon

    # --- encoding ------------------------------------------------------------------------------
    def codes(self, rgb: np.ndarray, iterations: int, progress: Progress = None) -> np.ndarray:
        """The network's bits for an (H, W, 3) uint8 image: (iterations, C, ⌈H/BLOCK⌉, ⌈W/BLOCK⌉) uint8 0/1."""
        h, w = rgb.shape[:2]
        padded = np.pad(rgb, ((0, -h % BLOCK), (0, -w % BLOCK), (0, 0)), mode="edge")
        H, W = padded.shape[:2]
        out = np.zeros((iterations, self.cfg.code_channels, H // BLOCK, W // BLOCK), np.uint8)
        for rows, cols in tiles(H, W, self.tile):
            cr, cc = code_slices(rows, cols)
            for t, bits in enumerate(self.network_codes(image_to_network(padded[rows, cols]), iterations)):
                out[t, :, cr, cc] = bits[0] > 0
                progress and progress(1)
        return out

    def encode(self, picture: Picture, iterations: int, progress: Progress = None) -> bytes:
        if not 1 <= iterations <= self.max_iterations:
            raise ValueError(f"iterations must be in 1..{self.max_iterations}")
        h, w = picture.rgb.shape[:2]
        header = Header(w, h, picture.mode, iterations, self.cfg.code_channels, self.tile, self.model_id, CODER_ID)
        coder = CodeCoder(*header.code_shape, self.tables)
        chunks = [coder.encode(bits) for bits in self.codes(picture.rgb, iterations, progress)]
        return pack_file(header, None if picture.alpha is None else picture.alpha.tobytes(), chunks)

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

    def read(self, data: bytes, iterations: int | None = None, salvage: bool = False):
        """Parse and entropy-decode a file: (header, alpha, codes (K, C, h, w), chunk_ends, warnings).

        ``iterations``: decode only the first ones; damage after them is a warning. Damage within the
        iterations asked for (all of them by default) raises DamageError, or with ``salvage`` decodes
        the intact iterations before it with a warning. Every failure is a FormatError.
        """
        contents = parse(data)
        header = contents.header
        self.check_compatible(header)
        wanted, warnings = header.iterations, []
        if iterations is not None and iterations > header.iterations:
            warnings.append(f"file holds {header.iterations} iterations; decoding those")
        elif iterations is not None:
            wanted = iterations
        count, note = wanted, None
        if contents.damage is not None:
            count, note = _decodable(contents.damage, wanted, iterations is None, salvage)
        codes, damage = self._entropy_decode(contents, count)
        if damage is not None:  # always within the iterations asked for, before any damage parse found
            count, note = _decodable(damage, wanted, iterations is None, salvage)
        if note is None and len(codes) < wanted:
            note = f"truncated file: decoded {len(codes)} of {header.iterations} iterations"
        if not codes:
            raise FormatError("truncated file: no complete iteration")
        alpha = None if contents.alpha is None else np.frombuffer(contents.alpha, np.uint8).reshape(header.height, header.width)
        ends = contents.chunk_ends[: damage.intact] if damage else contents.chunk_ends
        return header, alpha, np.stack(codes[:count]), ends, warnings + ([note] if note else [])

    def _entropy_decode(self, contents: Contents, wanted: int) -> tuple[list[np.ndarray], Damage | None]:
        """The codes of the first ``wanted`` intact iterations, and the damage if one does not decode."""
        coder = CodeCoder(*contents.header.code_shape, self.tables)
        codes = []
        for chunk in contents.iterations[:wanted]:
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
        for rows, cols in tiles(H, W, tile or self.tile):
            cr, cc = code_slices(rows, cols)
            recon, state = None, None
            for t in range(K):
                bits = codes[t, :, cr, cc][None].astype(np.float32) * 2 - 1
                delta, state = self.engine.decode_step(bits, t + 1, state)
                recon = delta if recon is None else delta + gamma * recon
                if keep_all or t == K - 1:
                    outs[t if keep_all else 0][rows, cols] = network_to_image(recon[0])
                progress and progress(1)
        return [o[:height, :width] for o in outs]

    def decode(self, data: bytes, iterations: int | None = None, keep_all: bool = False, progress: Progress = None,
               salvage: bool = False) -> Decoded:
        """Decode a file (see :meth:`read`); raises FormatError, and nothing else, on any invalid data."""
        header, alpha, codes, ends, warnings = self.read(data, iterations, salvage)
        images = self.reconstruct(codes, header.height, header.width, keep_all, progress, header.tile)
        pictures = [Picture(im, header.mode, alpha) for im in images]
        return Decoded(pictures[-1], header, len(codes), ends, warnings, pictures if keep_all else None)


def _decodable(damage: Damage, wanted: int, whole_file: bool, salvage: bool) -> tuple[int, str]:
    """How many iterations of a damaged file to decode, and the warning: those asked for if the
    damage comes after them, the intact ones when salvaging; otherwise raise DamageError."""
    if not whole_file and wanted <= damage.intact:
        return wanted, f"damaged file, after the {wanted} iterations decoded: {damage.message}"
    if salvage and damage.intact:
        return damage.intact, f"damaged file: {damage.message}; decoded the {damage.intact} intact iterations"
    raise DamageError(damage.message, damage.intact)


def network_steps(height: int, width: int, iterations: int, tile: int = DEFAULT_TILE) -> int:
    """How many progress ticks encode or decode of an image makes (tiles × iterations)."""
    ph, pw = height + (-height % BLOCK), width + (-width % BLOCK)
    return sum(1 for _ in tiles(ph, pw, tile)) * iterations
