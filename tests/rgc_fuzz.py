"""Damaged and crafted .rgc files for fuzzing the decoder (tests/test_fuzz.py, benchmarks/fuzz_decode.py).

Mutations start from small valid files, plain and layered (a model with a block stage), some of
them *twins*: files whose headers are the same but for the file id. *Chance* damage (bit flips,
byte edits, truncation, appended bytes, chunks swapped, duplicated, dropped or taken from another
file or from a twin, the ICC or alpha chunk dropped or repeated) keeps the CRCs as they were: the
decoder must report it. *Crafted* damage (payloads filled, resized, bytes edited, header or chunk
fields set to odd values) recomputes every CRC, as someone building a file by hand would: the
decoder may then decode an image, but must fail only with its own error; a coded payload made
longer or shorter must still never decode silently to another image.
"""

from __future__ import annotations

import random
import resource
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st

from conftest import TINY, smooth_image, tiny_staged_model
from rnncodec.bitstream import MAGIC, FormatError, parse_header, read
from rnncodec.codec import ModelPipeline
from rnncodec.model import Model
from rnncodec.images import Picture
from rnncodec.network import Network

V1_GOLDEN = Path(__file__).parent / "data" / "v1-tiny-rgba-8it.rgc"
# header fields (offset, size) after the magic: version, mode, coder, iterations, width, height,
# padding right and bottom, tile, code channels, model id; from version 3 chunk flags and file id
HEADER_FIELDS = {1: [(8, 1), (9, 1), (10, 1), (11, 1), (12, 4), (16, 4), (20, 1), (21, 1), (22, 2), (24, 1), (25, 8)]}
HEADER_FIELDS[2] = HEADER_FIELDS[1]
HEADER_FIELDS[3] = HEADER_FIELDS[1] + [(33, 1), (34, 8)]
CHUNK_FIELDS = {1: [(0, 1), (1, 1), (2, 4)], 2: [(0, 1), (1, 1), (2, 1), (3, 4)]}  # type, mode, [index,] length


def tiny_codec_for_golden() -> ModelPipeline:
    """The tiny test model (seed 0, as in conftest) under the model id of the version-1 golden file.

    The tiny weights are the same every run, their file's hash is not (safetensors writes its
    metadata in no fixed order), so the id is taken from the golden file."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = Network(TINY)
    return ModelPipeline(Model.of(model, id=parse_header(V1_GOLDEN.read_bytes()).model_id))


def golden_source() -> Picture:
    """The picture the version-1 golden file was encoded from."""
    rgb = smooth_image(40, 88, seed=5)
    rgb[:, :40] = 90  # a flat part: repeated codes, so the later iterations are range-coded
    alpha = (np.arange(40 * 88) % 251).astype(np.uint8).reshape(40, 88)
    return Picture(rgb, "RGBA", alpha)


FAKE_ICC = bytes(range(256)) * 2  # the container does not look inside a profile


def sample_files(codec: ModelPipeline, staged: ModelPipeline, ternary: ModelPipeline) -> list[bytes]:
    """Small valid files of every colour mode, tile and chunk mode, with and without an ICC profile,
    twins (same header, other image), layered files of the staged codec (coder 3) and of the ternary
    one (coder 4), and the version-1 golden file."""
    gray = smooth_image(20, 24, seed=2)[..., :1].repeat(3, axis=2)
    pictures = [
        (codec, Picture(smooth_image(40, 56, seed=1), "RGB"), 3, codec.tile),
        (codec, Picture(smooth_image(40, 56, seed=6), "RGB"), 3, codec.tile),  # a twin of the first
        (codec, Picture(gray, "L", icc=FAKE_ICC), 2, codec.tile),
        (codec, Picture(smooth_image(24, 40, seed=3), "LA", np.full((24, 40), 200, np.uint8)), 2, 16),
        (codec, Picture(smooth_image(17, 33, seed=4), "RGB"), 4, 16),
        (codec, golden_source(), 8, codec.tile),
        (staged, Picture(smooth_image(48, 40, seed=7), "RGB"), 8, codec.tile),
        (staged, Picture(smooth_image(48, 40, seed=8), "RGB"), 8, codec.tile),  # a layered twin
        (staged, Picture(smooth_image(32, 48, seed=9), "RGBA", np.full((32, 48), 9, np.uint8), FAKE_ICC, b"Exif\0\0MM", b"<x/>"), 6, 16),
        (ternary, Picture(smooth_image(48, 40, seed=10), "RGB"), 8, codec.tile),
    ]
    files = []
    for model, picture, iterations, tile in pictures:
        files.append(ModelPipeline(model.model, tile).encode(picture, iterations))
    return files + [V1_GOLDEN.read_bytes()]


def fuzz_setup(stage=None) -> "Fuzzer":
    """The tiny test model, plain, with a block stage (``stage``, or one fitted here) and with a
    ternary one, and the fuzzer of their sample files."""
    codec = tiny_codec_for_golden()
    network = codec.model.network
    staged = ModelPipeline(tiny_staged_model(network) if stage is None else Model.of(network, stage, id=b"\x05" * 8))
    ternary = ModelPipeline(tiny_staged_model(network, b"\x06" * 8, dead_zone=0.5, rate_weight=0.6))
    return Fuzzer([codec, staged, ternary], sample_files(codec, staged, ternary))


# --- the file as parts: header (with CRC), chunks (each with its CRC) ---------------------------
@dataclass
class Parts:
    version: int
    header: bytearray
    chunks: list[bytearray]

    @classmethod
    def of(cls, data: bytes) -> "Parts":
        contents = read(data)
        chunks = [c for c in (contents.icc_chunk, contents.metadata_chunk, contents.alpha_chunk) if c] + contents.iterations
        return cls(contents.header.version, bytearray(data[: contents.header.size]), [bytearray(data[c.start : c.end]) for c in chunks])

    def join(self) -> bytes:
        return bytes(self.header) + b"".join(bytes(c) for c in self.chunks)

    def fix_crcs(self) -> None:
        """Recompute every CRC, as the format defines them, over the bytes as they now are."""
        body = self.header[:-4]
        self.header[-4:] = struct.pack("<I", zlib.crc32(body))
        start = zlib.crc32(body) if self.version >= 2 else 0
        for chunk in self.chunks:
            chunk[-4:] = struct.pack("<I", zlib.crc32(chunk[:-4], start))

    def head_size(self) -> int:
        return 7 if self.version >= 2 else 6


def _odd_value(rng: random.Random, original: int, size: int) -> int:
    top = (1 << (8 * size)) - 1
    choices = [0, 1, original - 1, original + 1, original * 2, original // 2, top, rng.randrange(top + 1), rng.randrange(min(top, 4096) + 1)]
    return min(max(rng.choice(choices), 0), top)


def _set_field(buf: bytearray, offset: int, size: int, rng: random.Random) -> None:
    original = int.from_bytes(buf[offset : offset + size], "little")
    buf[offset : offset + size] = _odd_value(rng, original, size).to_bytes(size, "little")


# --- chance damage: CRCs as they were -----------------------------------------------------------
def flip_bits(data: bytes, rng: random.Random, pool) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
        i = rng.randrange(len(out) * 8)
        out[i // 8] ^= 1 << (i % 8)
    return bytes(out)


def edit_bytes(data: bytes, rng: random.Random, pool) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4])):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def truncate(data: bytes, rng: random.Random, pool) -> bytes:
    return data[: rng.randrange(len(data))]


def append(data: bytes, rng: random.Random, pool) -> bytes:
    return data + rng.randbytes(rng.randrange(1, 24))


def swap_chunks(data: bytes, rng: random.Random, pool) -> bytes:
    parts = Parts.of(data)
    if len(parts.chunks) >= 2:
        i, j = rng.sample(range(len(parts.chunks)), 2)
        parts.chunks[i], parts.chunks[j] = parts.chunks[j], parts.chunks[i]
    return parts.join()


def duplicate_chunk(data: bytes, rng: random.Random, pool) -> bytes:
    parts = Parts.of(data)
    parts.chunks.insert(rng.randrange(len(parts.chunks) + 1), rng.choice(parts.chunks))
    return parts.join()


def drop_chunk(data: bytes, rng: random.Random, pool) -> bytes:
    parts = Parts.of(data)
    del parts.chunks[rng.randrange(len(parts.chunks))]
    return parts.join()


def transplant_chunk(data: bytes, rng: random.Random, pool) -> bytes:
    """A chunk from another valid file put in place of one of this file's."""
    parts, donor = Parts.of(data), Parts.of(rng.choice(pool))
    parts.chunks[rng.randrange(len(parts.chunks))] = rng.choice(donor.chunks)
    return parts.join()


def transplant_twin_chunks(data: bytes, rng: random.Random, pool) -> bytes:
    """Chunks of a twin (a file whose header differs only in its file id) put in place of this file's
    from some chunk on; another file's chunk when the file has no twin."""
    parts = Parts.of(data)
    twins = [d for d in pool if d != data and _same_but_id(Parts.of(d), parts)]
    if not twins:
        return transplant_chunk(data, rng, pool)
    donor = Parts.of(rng.choice(twins))
    start = rng.randrange(len(parts.chunks))
    parts.chunks[start:] = donor.chunks[start:]
    return parts.join()


def _same_but_id(a: Parts, b: Parts) -> bool:
    id_at = 34  # version 3: the file id's offset
    return a.version == b.version >= 3 and len(a.chunks) == len(b.chunks) and a.header[:id_at] == b.header[:id_at]


def drop_optional_chunk(data: bytes, rng: random.Random, pool) -> bytes:
    """The ICC or alpha chunk dropped (any chunk when the file has neither)."""
    parts, contents = Parts.of(data), read(data)
    optional = sum(c is not None for c in (contents.icc_chunk, contents.metadata_chunk, contents.alpha_chunk))
    del parts.chunks[rng.randrange(optional or len(parts.chunks))]
    return parts.join()


def duplicate_optional_chunk(data: bytes, rng: random.Random, pool) -> bytes:
    """The ICC or alpha chunk repeated somewhere (any chunk when the file has neither)."""
    parts, contents = Parts.of(data), read(data)
    optional = sum(c is not None for c in (contents.icc_chunk, contents.metadata_chunk, contents.alpha_chunk))
    parts.chunks.insert(rng.randrange(len(parts.chunks) + 1), parts.chunks[rng.randrange(optional or len(parts.chunks))])
    return parts.join()


# --- crafted damage: every CRC recomputed -------------------------------------------------------
def fill_payload(data: bytes, rng: random.Random, pool) -> bytes:
    parts = Parts.of(data)
    chunk = rng.choice(parts.chunks)
    n = len(chunk) - parts.head_size() - 4
    fill = rng.choice([b"\xff" * n, b"\x00" * n, rng.randbytes(n)])
    chunk[parts.head_size() : -4] = fill
    parts.fix_crcs()
    return parts.join()


def garble_codes(data: bytes, rng: random.Random, pool) -> bytes:
    """A range-coded iteration's payload (any iteration's if none is coded) replaced by other words."""
    parts, contents = Parts.of(data), read(data)
    first = 1 if contents.alpha_chunk else 0
    coded = [first + i for i, c in enumerate(contents.iterations) if c.mode == 1]
    chunk = parts.chunks[rng.choice(coded or range(first, len(parts.chunks)))]
    n = 4 * rng.randrange(0, 8)
    head = parts.head_size()
    chunk[head:-4] = rng.choice([b"\xff" * n, b"\x00" * n, rng.randbytes(n)])
    chunk[head - 4 : head] = n.to_bytes(4, "little")
    parts.fix_crcs()
    return parts.join()


def resize_payload(data: bytes, rng: random.Random, pool) -> bytes:
    """A range-coded iteration's payload (any iteration's if none is coded) made whole words longer or
    shorter, its length field and every CRC set to match."""
    parts, contents = Parts.of(data), read(data)
    first = len(parts.chunks) - len(contents.iterations)
    coded = [first + i for i, c in enumerate(contents.iterations) if c.mode == 1]
    chunk = parts.chunks[rng.choice(coded or range(first, len(parts.chunks)))]
    head = parts.head_size()
    payload = bytes(chunk[head:-4])
    words = rng.choice([-2, -1, 1, 2])
    payload = payload[: 4 * words] if words < 0 else payload + rng.choice([bytes(4 * words), rng.randbytes(4 * words)])
    chunk[head:] = payload + bytes(4)
    chunk[head - 4 : head] = len(payload).to_bytes(4, "little")
    parts.fix_crcs()
    return parts.join()


def edit_bytes_fixed(data: bytes, rng: random.Random, pool) -> bytes:
    parts = Parts.of(data)
    for _ in range(rng.choice([1, 1, 2, 4])):
        target = rng.choice([parts.header] + parts.chunks)
        first = len(MAGIC) if target is parts.header else 0
        target[rng.randrange(first, len(target) - 4)] = rng.randrange(256)
    parts.fix_crcs()
    return parts.join()


def set_header_field(data: bytes, rng: random.Random, pool) -> bytes:
    parts = Parts.of(data)
    offset, size = rng.choice(HEADER_FIELDS[parts.version])
    _set_field(parts.header, offset, size, rng)
    parts.fix_crcs()
    return parts.join()


def set_chunk_field(data: bytes, rng: random.Random, pool) -> bytes:
    parts = Parts.of(data)
    chunk = rng.choice(parts.chunks)
    offset, size = rng.choice(CHUNK_FIELDS[min(parts.version, 2)])
    _set_field(chunk, offset, size, rng)
    parts.fix_crcs()
    return parts.join()


MUTATIONS = {f.__name__: f for f in (flip_bits, edit_bytes, truncate, append, swap_chunks, duplicate_chunk, drop_chunk,
                                      transplant_chunk, transplant_twin_chunks, drop_optional_chunk, duplicate_optional_chunk,
                                      fill_payload, garble_codes, resize_payload, edit_bytes_fixed, set_header_field,
                                      set_chunk_field)}
CHANCE = ("flip_bits", "edit_bytes", "truncate", "append", "swap_chunks", "duplicate_chunk", "drop_chunk", "transplant_chunk",
          "transplant_twin_chunks", "drop_optional_chunk", "duplicate_optional_chunk")
NEVER_SILENT = CHANCE + ("resize_payload",)  # damage that must never decode, without a warning, to another image


def mutations(pool: list[bytes]):
    """Hypothesis strategy: (mutation name, mutated bytes, index of the file it came from)."""

    @st.composite
    def mutated(draw):
        index = draw(st.integers(0, len(pool) - 1))
        name = draw(st.sampled_from(sorted(MUTATIONS)))
        rng = draw(st.randoms(use_true_random=False))
        return name, MUTATIONS[name](pool[index], rng, pool), index

    return mutated()


# --- running one case ---------------------------------------------------------------------------
@dataclass
class Outcome:
    kind: str  # "decoded" or "FormatError"; anything else is the exception's type name
    seconds: float
    message: str = ""
    silent_change: bool = False  # damage (NEVER_SILENT) decoded with no warning to an image the valid file does not give
    dropped_optional: bool = False  # decoded with no warning and without the valid file's ICC profile or metadata


class Fuzzer:
    """Decodes mutated files the way ``rnncodec decode`` does and classifies what happened."""

    def __init__(self, codecs: list[ModelPipeline], pool: list[bytes]):
        self.codecs = {codec.model_id: codec for codec in codecs}
        self.codec, self.pool = codecs[0], pool  # the codec of files whose model id is none of these
        self._clean = {}  # (file index, iterations) → the valid file's picture

    def decode(self, data: bytes, **options):
        """Decode as ``rnncodec decode`` would: with the model the header names (if it parses)."""
        try:
            codec = self.codecs.get(parse_header(data).model_id, self.codec)
        except FormatError:
            codec = self.codec
        return codec.decode(data, **options)

    def run(self, name: str, data: bytes, index: int) -> Outcome:
        start = time.perf_counter()
        try:
            decoded = self.decode(data)
        except FormatError as e:
            return Outcome("FormatError", time.perf_counter() - start, str(e))
        except Exception as e:  # what the fuzzing looks for: any of these is a bug
            return Outcome(type(e).__name__, time.perf_counter() - start, f"{type(e).__name__}: {e}")
        seconds = time.perf_counter() - start
        checked = name in NEVER_SILENT and not decoded.warnings
        clean = self._clean_picture(index, decoded.iterations) if checked else None
        silent = checked and not _same_picture(clean, decoded.picture)
        dropped = checked and (decoded.picture.icc, decoded.picture.metadata) != (clean.icc, clean.metadata)
        return Outcome("decoded", seconds, silent_change=silent, dropped_optional=dropped)

    def _clean_picture(self, index: int, iterations: int):
        key = (index, iterations)
        if key not in self._clean:
            self._clean[key] = self.decode(self.pool[index], iterations=iterations).picture
        return self._clean[key]


def _same_picture(clean, got) -> bool:
    alpha_same = (clean.alpha is None) == (got.alpha is None) and (clean.alpha is None or np.array_equal(clean.alpha, got.alpha))
    return got.mode == clean.mode and np.array_equal(clean.rgb, got.rgb) and alpha_same


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
