"""One model's pipeline between pictures and .rgc bytes: Picture ⇄ codes through the model (tile by tile, :mod:`rnncodec.model`),
codes ⇄ chunk payloads through the entropy coder. A model with a block stage writes layered files (entropy coder 3, :mod:`rnncodec.layered`):
after the network's iterations each block gets its stage refinements in the iterations where they
buy the most (:func:`rnncodec.block_stage.refinement_order`); files of coder 2 still decode as they did.
The container's rules are :mod:`rnncodec.bitstream`'s; choosing the model for a file is
:mod:`rnncodec.api`'s."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from . import bitstream
from .bitstream import Chunk, Damage, Header
from .block_stage import REFINEMENTS, layered_pictures, levels_after, masking_weights, refinement_order, refinements
from .entropy import CODED, CODER_ID, GridCoder, shortest_first_payload
from .errors import FormatError
from .images import Picture
from .layered import LAYERED_CODER_ID, TERNARY_CODER_ID, LayeredCoder, refinement_costs
from .limits import BLOCK, DEFAULT_TILE, DEFAULT_TUNE, TUNES
from .model import Model, load_model
from .pixels import image_to_network, to_image

Progress = Callable[[int, int], None] | None  # called with (network steps done, steps in all)


class FileCodes(NamedTuple):
    """What the entropy decoder recovers from a file."""

    header: Header
    alpha: np.ndarray | None  # (H, W) uint8 when the mode has alpha
    codes: np.ndarray  # (K, C, h, w) 0/1, the K iterations decoded (layered files: the network's iterations)
    chunk_ends: list[int]  # byte offset just past each intact iteration chunk: a file cut there is valid
    warnings: list[str]
    icc: bytes | None = None  # the ICC profile the file carries
    layers: Layers | None = None  # layered files: the stage iterations decoded
    metadata: dict[str, bytes] | None = None  # the EXIF and XMP the file carries

    @property
    def iterations(self) -> int:
        return len(self.codes) + (0 if self.layers is None else len(self.layers.levels))


class Layers(NamedTuple):
    """A layered file's stage iterations: every refinement's bits (S, C, h, w) 0/1 (zero where not sent)
    and each block's stage level after each layer, (L, h, w)."""

    codes: np.ndarray
    levels: np.ndarray


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


class TileWorker:
    """Runs a tile's block stage refinements (numpy, mostly on one core) in a worker thread while the
    encoder runs the next tile's network steps, so the two share the cores instead of taking turns.
    One job at a time: :meth:`submit` first waits for the previous one, so at most one more tile's
    arrays are held. A job's exception is raised by the next :meth:`submit` or at the end of the
    ``with`` block."""

    def __enter__(self) -> "TileWorker":
        self._pool, self._job = ThreadPoolExecutor(max_workers=1), None
        return self

    def submit(self, work: Callable, *args) -> None:
        self.wait()
        self._job = self._pool.submit(work, *args)

    def wait(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.result()

    def __exit__(self, kind, *_) -> None:
        try:
            if kind is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def pad_to_blocks(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, C) image padded by repeating its last row and column to multiples of BLOCK."""
    h, w = rgb.shape[:2]
    return np.pad(rgb, ((0, -h % BLOCK), (0, -w % BLOCK), (0, 0)), mode="edge")


def model_codes(model: Model, rgb: np.ndarray, iterations: int, tile: int = DEFAULT_TILE,
                progress: Progress = None) -> np.ndarray:
    """The model's bits for an (H, W, 3) uint8 image, iteration after iteration (a stage's too):
    (iterations, C, ⌈H/BLOCK⌉, ⌈W/BLOCK⌉) uint8 0/1."""
    padded = pad_to_blocks(rgb)
    H, W = padded.shape[:2]
    out = np.zeros((iterations, model.config.code_channels, H // BLOCK, W // BLOCK), np.uint8)
    tick = _ticker(progress, len(list(tiles(H, W, tile))) * iterations)
    for rows, cols in tiles(H, W, tile):
        cr, cc = code_slices(rows, cols)
        for t, bits in enumerate(model.encode_bits(image_to_network(padded[rows, cols]), iterations)):
            out[t, :, cr, cc] = bits[0] > 0
            tick()
    return out


def _ticker(progress: Progress, total: int) -> Callable[[], None]:
    """A callable that reports one more network step of ``total`` to ``progress`` (if any)."""
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    return tick


def _most_that_fit(payload: Callable[[int], bytes], least: int, most: int, room: int | None) -> int:
    """The largest n in least..most whose payload(n) holds at most ``room`` bytes (any: most), or least
    if none above it does (payloads grow with n, give or take a word: a bisection)."""
    if room is None or len(payload(most)) <= room:
        return most
    low, high = least, most  # payload(high) does not fit
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(payload(middle)) <= room else (low, middle)
    return low


# How a layered file's layers give out refinements: by rate and distortion (rnncodec's encoder),
# the same within one pass over the stage's levels, or one per block per layer (coder 2's order).
ALLOCATIONS = ("rd", "rd-one-pass", "uniform")


class ModelPipeline:
    """One model's pipeline, Picture ⇄ per-iteration codes ⇄ .rgc bytes: its files carry the model's id; a model with a block stage writes layered files."""

    def __init__(self, model: Model, tile: int = DEFAULT_TILE, allocation: str = "rd", tune: str = DEFAULT_TUNE,
                 effort: int = 0):
        """``allocation``: how the layers of a model with a block stage give out refinements: "rd" (by
        rate and distortion, the default); "rd-one-pass" and "uniform" (what coder 2 gives out)
        measure what its parts buy (benchmarks/allocation.py). ``tune``: the distortion "rd" weighs,
        one of :data:`rnncodec.limits.TUNES` (see :func:`rnncodec.block_stage.masking_weights`).
        ``effort``: the sets of flips the search of each network iteration's bits tries
        (:mod:`rnncodec.engines.search`); 0, the default here, codes the encoder's bits (the command
        line and :mod:`rnncodec.api` default to :data:`rnncodec.limits.DEFAULT_EFFORT`)."""
        if allocation not in ALLOCATIONS:
            raise ValueError(f"allocation must be one of {ALLOCATIONS}, not {allocation!r}")
        if effort:
            from .engines.search import SearchingEngine

            model = replace(model, network=SearchingEngine(model.network, effort))
        self.allocation = allocation
        self.masking = TUNES[tune]
        self.model = model
        self.cfg = model.config
        self.model_id = model.id
        self.tile = tile
        self.tables = model.tables
        self.stage = model.stage

    @classmethod
    def load(cls, weights: str | Path | bytes | None = None, tile: int = DEFAULT_TILE, model_id: bytes | None = None,
             engine: str | None = None, allocation: str = "rd", tune: str = DEFAULT_TUNE, effort: int = 0) -> "ModelPipeline":
        """The pipeline of :func:`rnncodec.model.load_model`'s model (default: the shipped default)."""
        return cls(load_model(weights, engine=engine, model_id=model_id), tile, allocation, tune, effort)

    @property
    def max_iterations(self) -> int:
        return self.cfg.max_iterations

    @property
    def coder_id(self) -> int:
        """The entropy coder this pipeline's files use: layered (3, or 4 with a ternary stage) with a block stage, else 2."""
        if self.stage is None:
            return CODER_ID
        return TERNARY_CODER_ID if self.stage.ternary else LAYERED_CODER_ID

    @property
    def decodable_coders(self) -> list[int]:
        """The entropy coders of the files this pipeline decodes: its own, and 2 unless its stage is ternary
        (a sign stage's first files were coder 2's)."""
        return [self.coder_id] if self.stage is not None and self.stage.ternary else sorted({CODER_ID, self.coder_id})

    def _layered_coder(self, header: Header) -> LayeredCoder:
        return LayeredCoder(*header.code_shape, self.tables, self.stage.after, REFINEMENTS,
                            ternary=header.coder_id == TERNARY_CODER_ID)

    # --- encoding ------------------------------------------------------------------------------
    def codes(self, rgb: np.ndarray, iterations: int, progress: Progress = None) -> np.ndarray:
        return model_codes(self.model, rgb, iterations, self.tile, progress)

    def encode(self, picture: Picture, iterations: int, progress: Progress = None, budget: int | None = None) -> bytes | None:
        """The file of ``iterations`` iterations; with a ``budget`` (bytes; layered files only), the file
        of at most that many bytes with the most refinements: whole iterations while they fit, then
        as many of the next one's refinements as fit (None if not even one iteration fits)."""
        if not 1 <= iterations <= self.max_iterations:
            raise ValueError(f"iterations must be in 1..{self.max_iterations}")
        if budget is not None and self.stage is None:
            raise ValueError("a byte budget needs a model with a block stage (layered files)")
        h, w = picture.rgb.shape[:2]
        header = Header(w, h, picture.mode, iterations, self.cfg.code_channels, self.tile, self.model_id, self.coder_id)
        alpha = None if picture.alpha is None else picture.alpha.tobytes()
        metadata = picture.metadata or None
        identity = bitstream.file_id(f"{picture.mode} {w}×{h}".encode(), picture.rgb.tobytes(), alpha, picture.icc,
                                     *picture.metadata.values())
        if self.stage is None:
            coder = GridCoder(*header.code_shape, self.tables)
            chunks = [coder.encode(bits) for bits in self.codes(picture.rgb, iterations, progress)]
        else:
            room = None if budget is None else budget - len(bitstream.write(header, alpha, [], picture.icc, identity, metadata))
            chunks = self._layered_chunks(header, picture.rgb, progress, room)
            if not chunks:
                return None
            header = replace(header, iterations=len(chunks))
        return bitstream.write(header, alpha, chunks, picture.icc, identity, metadata)

    def _layered_chunks(self, header: Header, rgb: np.ndarray, progress: Progress, room: int | None) -> list[tuple[int, bytes]]:
        """A layered file's chunk payloads: the network's iterations, then one layer per stage iteration,
        each giving out the next N refinements in :func:`rnncodec.block_stage.refinement_order`. With
        ``room`` (bytes for the chunks), the chunks that fit, the last layer cut to the refinements that fit."""
        stage, after = self.stage, min(self.stage.after, header.iterations)
        refine = header.iterations > after
        codes, stage_codes, gains, costs = self._layered_codes(rgb, after, refine, progress)
        coder = self._layered_coder(header)
        chunks, used = [], 0
        for bits in codes:
            chunk = coder.encode_grid(bits)
            used += bitstream.CHUNK_OVERHEAD + len(chunk[1])
            if room is not None and used > room:
                return chunks
            chunks.append(chunk)
        if not refine:
            return chunks
        shape = gains.shape[1:]
        blocks, previous = shape[0] * shape[1], np.zeros(shape, np.int64)
        if self.allocation == "uniform":
            order = np.tile(np.arange(blocks), len(gains))
        else:
            levels = len(gains) if self.allocation == "rd" else self.stage.iterations
            order = refinement_order(gains[:levels], None if costs is None else costs[:levels])
        for j in range(1, header.iterations - after + 1):
            trials = {}  # refinements given → the coder after coding this layer with them, and its payload

            def layer(given: int, coder=coder, trials=trials) -> tuple[LayeredCoder, bytes]:
                if given not in trials:
                    trial = copy.deepcopy(coder) if room is not None else coder
                    trials[given] = trial, trial.encode_layer(levels_after(order, given, shape) - previous, stage_codes)
                return trials[given]
            given = _most_that_fit(lambda n: layer(n)[1], (j - 1) * blocks, j * blocks, None if room is None else room - used - bitstream.CHUNK_OVERHEAD)
            if given == (j - 1) * blocks and room is not None:
                return chunks
            coder, payload = layer(given)
            chunks.append((CODED, payload))
            used += bitstream.CHUNK_OVERHEAD + len(payload)
            previous = levels_after(order, given, shape)
            if given < j * blocks:
                return chunks
        return chunks

    def _layered_codes(self, rgb: np.ndarray, after: int, refine: bool, progress: Progress):
        """The network's bits for ``after`` iterations (after, C, h, w), and with ``refine`` every stage
        level's bits (S, C, h, w) and gains (S, h, w) (see :func:`rnncodec.block_stage.refinements`),
        weighed by the tune's masking weights (:func:`rnncodec.block_stage.masking_weights`), and for
        a ternary stage their estimated bits (S, h, w) (:func:`rnncodec.layered.refinement_costs`; else None)."""
        network, stage = self.model.network, self.stage
        padded = pad_to_blocks(rgb)
        H, W = padded.shape[:2]
        codes = np.zeros((after, self.cfg.code_channels, H // BLOCK, W // BLOCK), np.uint8)
        stage_codes = np.zeros((REFINEMENTS, *codes.shape[1:]), np.uint8)
        gains = np.zeros((REFINEMENTS, H // BLOCK, W // BLOCK))
        costs = np.zeros_like(gains) if refine and stage.ternary else None
        tick = _ticker(progress, len(list(tiles(H, W, self.tile))) * after)

        def refine_tile(residual, last_increment, cr, cc):
            tile_codes, gains[:, cr, cc] = refinements(stage, residual, last_increment)
            stage_codes[:, :, cr, cc] = tile_codes
            if costs is not None:
                flat = tile_codes.reshape(*tile_codes.shape[:2], -1)
                costs[:, cr, cc] = refinement_costs(self.tables and self.tables.stage_prior, flat).reshape(len(flat), *tile_codes.shape[2:])

        with TileWorker() as worker:
            for rows, cols in tiles(H, W, self.tile):
                cr, cc = code_slices(rows, cols)
                x = image_to_network(padded[rows, cols])
                recon, enc_state, dec_state = np.zeros_like(x), None, None
                for t in range(1, after + 1):
                    bits, enc_state = network.encode_step(x - recon, t, enc_state)
                    codes[t - 1, :, cr, cc] = bits[0] > 0
                    if t < after or refine:
                        delta, dec_state = network.decode_step(bits, t, dec_state)
                        recon = delta + recon  # γ = 1 with a stage
                    tick()
                if refine:
                    worker.submit(refine_tile, x - recon, delta, cr, cc)
        if refine:
            gains *= masking_weights(padded, self.masking)
        return codes, stage_codes, gains, costs

    # --- decoding ------------------------------------------------------------------------------
    def check_compatible(self, header: Header) -> None:
        """Refuse a file these weights cannot decode."""
        if header.model_id != self.model_id:
            raise FormatError(f"file was made with other weights (model id {header.model_id.hex()}, these are {self.model_id.hex()})")
        if header.coder_id not in self.decodable_coders:
            raise FormatError(f"file uses entropy coder {header.coder_id}; this model decodes coders {self.decodable_coders}")
        if header.code_channels != self.cfg.code_channels:
            raise FormatError("file's code channel count does not match the model")
        if header.iterations > self.max_iterations:
            raise FormatError(f"file declares {header.iterations} iterations; the model runs at most {self.max_iterations}")

    def read(self, data: bytes | bitstream.Contents, iterations: int | None = None, salvage: bool = False) -> FileCodes:
        """Check a file (its bytes, or the contents :func:`bitstream.read` found in them) and entropy-decode
        the iterations :meth:`bitstream.Contents.select` picks (``iterations``, ``salvage``: see there).
        Every failure is a FormatError."""
        contents = data if isinstance(data, bitstream.Contents) else bitstream.read(data)
        self.check_compatible(contents.header)
        selection = contents.select(iterations, salvage)
        codes, layers, damage = self._entropy_decode(contents.header, selection.chunks)
        if damage is not None:  # always before any damage read() found
            contents = contents.damaged(damage)
            selection = contents.select(iterations, salvage)
        header, used = contents.header, len(selection.chunks)
        alpha = None if contents.alpha is None else np.frombuffer(contents.alpha, np.uint8).reshape(header.height, header.width)
        if layers is not None:
            layers = Layers(layers.codes, layers.levels[: used - len(codes)]) if used > len(codes) else None
        return FileCodes(header, alpha, np.stack(codes[:used]), contents.chunk_ends, selection.warnings, contents.icc, layers,
                         contents.metadata)

    def _entropy_decode(self, header: Header, chunks: list[Chunk]) -> tuple[list[np.ndarray], Layers | None, Damage | None]:
        """The codes of the chunks (the network's iterations, and a layered file's layers), up to the
        damage if one does not decode."""
        codes, counts = [], []
        layered = header.coder_id in (LAYERED_CODER_ID, TERNARY_CODER_ID)
        first = chunks[0]
        if first.mode == CODED and len(first.payload) < shortest_first_payload(self.tables, header.code_shape):
            return [], None, Damage(0, f"iteration 1: its {len(first.payload)} bytes are too few for "
                                       f"{header.blocks} blocks' codes (a file claiming a larger image?)")
        coder = self._layered_coder(header) if layered else None
        grid = coder.grid if layered else GridCoder(*header.code_shape, self.tables)
        for chunk in chunks:
            try:
                if layered and chunk.index > self.stage.after:
                    if chunk.mode != CODED:
                        raise ValueError(f"a layer is range-coded (mode {CODED}), not mode {chunk.mode}")
                    counts.append(coder.decode_layer(chunk.payload))
                else:
                    codes.append(grid.decode(chunk.mode, chunk.payload))
            except MemoryError:
                raise
            except Exception as e:  # the range decoder asserts on invalid data: any failure is the file's
                return codes, self._layers(coder, counts), Damage(len(codes) + len(counts), f"iteration {chunk.index}: its codes do not decode ({type(e).__name__}: {e})")
        return codes, self._layers(coder, counts), None

    @staticmethod
    def _layers(coder: LayeredCoder | None, counts: list[np.ndarray]) -> Layers | None:
        """The layers decoded (None without any): every refinement's bits and the levels after each layer."""
        return Layers(coder.codes, np.cumsum(np.stack(counts), axis=0)) if counts else None

    def reconstruct(self, codes: np.ndarray, height: int, width: int, keep_all: bool = False, progress: Progress = None,
                    tile: int | None = None, layers: Layers | None = None):
        """Run the decoder over the codes tile by tile (the pipeline's tile unless given: a file's decode
        must use the tile it was encoded with), then a layered file's stage layers; the final
        (H, W, 3) uint8 image, or all of them, as the model delivers them (post-filtered, if it has a filter)."""
        K, L = codes.shape[0], 0 if layers is None else len(layers.levels)
        H, W = codes.shape[2] * BLOCK, codes.shape[3] * BLOCK
        outs = [np.zeros((H, W, 3), np.uint8) for _ in range(K + L if keep_all else 1)]
        tile = tile or self.tile
        tick = _ticker(progress, len(list(tiles(H, W, tile))) * K)
        for rows, cols in tiles(H, W, tile):
            cr, cc = code_slices(rows, cols)
            for t, (recon, delta) in enumerate(self.model.reconstructions(codes[:, :, cr, cc])):
                if keep_all or (t == K - 1 and not L):
                    outs[t if keep_all else 0][rows, cols] = to_image(recon[0])
                tick()
            if L:
                pictures = layered_pictures(self.stage, recon, delta, layers.codes[:, :, cr, cc], layers.levels[:, cr, cc],
                                            every=keep_all)
                for j, picture in enumerate(pictures):
                    outs[K + j if keep_all else 0][rows, cols] = to_image(picture[0])
        first = 1 if keep_all else K + L  # the iteration count of outs[0]
        return [self.model.finish(o[:height, :width], first + i) for i, o in enumerate(outs)]

    def decode(self, data: bytes | bitstream.Contents, iterations: int | None = None, keep_all: bool = False,
               progress: Progress = None, salvage: bool = False) -> Decoded:
        """Decode a file (see :meth:`read`); raises FormatError, and nothing else, on any invalid data."""
        file = self.read(data, iterations, salvage)
        header = file.header
        images = self.reconstruct(file.codes, header.height, header.width, keep_all, progress, header.tile, file.layers)
        exif, xmp = ((file.metadata or {}).get(name) for name in ("exif", "xmp"))
        pictures = [Picture(im, header.mode, file.alpha, file.icc, exif, xmp) for im in images]
        return Decoded(pictures[-1], header, file.iterations, file.chunk_ends, file.warnings, pictures if keep_all else None)
