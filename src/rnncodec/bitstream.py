"""The .rgc container: a checked header, then one checked chunk per iteration (see docs/format.md)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\x89RGC\r\n\x1a\n"
VERSION = 1
MAX_SIDE = 1 << 15  # 32768 pixels per side
MAX_PIXELS = 1 << 26  # 67 megapixels (below Pillow's decompression-bomb warning)
MAX_TILE = 4096
MAX_ITERATIONS = 16  # iteration chunks a file may hold: 16 × 0.125 = 2 bpp before entropy coding
BLOCK = 16  # one code position covers a BLOCK×BLOCK block of pixels (the network downsamples by 2 four times)
MODES = {0: "RGB", 1: "L", 2: "RGBA", 3: "LA"}  # colour mode byte → Pillow mode
CHUNK_ITERATION = ord("I")
CHUNK_ALPHA = ord("A")

_HEADER = struct.Struct("<8sBBBBIIBBHB8s")  # magic … model id; a CRC32 of these bytes follows
_CHUNK = struct.Struct("<BBI")  # type, mode, payload length; payload and CRC32 follow
HEADER_SIZE = _HEADER.size + 4
CHUNK_OVERHEAD = _CHUNK.size + 4


class FormatError(ValueError):
    """The data is not a valid .rgc file (or not one this version can read)."""


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    mode: str  # "RGB", "L", "RGBA" or "LA"
    iterations: int  # iteration chunks written by the encoder
    code_channels: int
    tile: int  # side of the square tiles the network runs on, a multiple of BLOCK
    model_id: bytes  # 8 bytes identifying the weights
    coder_id: int  # entropy coder (rnncodec.entropy.CODER_ID)

    @property
    def pad_right(self) -> int:
        return -self.width % BLOCK

    @property
    def pad_bottom(self) -> int:
        return -self.height % BLOCK

    @property
    def code_shape(self) -> tuple[int, int, int]:
        """(channels, rows, columns) of one iteration's codes."""
        return self.code_channels, (self.height + self.pad_bottom) // BLOCK, (self.width + self.pad_right) // BLOCK

    @property
    def raw_code_bytes(self) -> int:
        """Bytes of one iteration's codes stored raw: the most an iteration chunk may hold."""
        c, h, w = self.code_shape
        return (c * h * w + 7) // 8

    def chunk_limits(self) -> dict[int, int]:
        """Largest valid payload of each chunk type (zlib may grow incompressible alpha slightly)."""
        alpha = self.width * self.height
        return {CHUNK_ITERATION: self.raw_code_bytes, CHUNK_ALPHA: alpha + alpha // 100 + 64}

    def validate(self) -> None:
        if not (1 <= self.width <= MAX_SIDE and 1 <= self.height <= MAX_SIDE and self.width * self.height <= MAX_PIXELS):
            raise FormatError(f"image size {self.width}×{self.height} is outside the limits ({MAX_SIDE} per side, {MAX_PIXELS} pixels)")
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise FormatError(f"iteration count {self.iterations} is outside 1..{MAX_ITERATIONS}")
        if self.mode not in MODES.values():
            raise FormatError(f"unknown colour mode {self.mode!r}")
        if not (1 <= self.code_channels <= 64):
            raise FormatError(f"code channel count {self.code_channels} is outside 1..64")
        if self.tile % BLOCK or not BLOCK <= self.tile <= MAX_TILE:
            raise FormatError(f"tile size {self.tile} is not a multiple of {BLOCK} in {BLOCK}..{MAX_TILE}")
        if len(self.model_id) != 8:
            raise FormatError("model id must be 8 bytes")

    def pack(self) -> bytes:
        self.validate()
        mode = {v: k for k, v in MODES.items()}[self.mode]
        body = _HEADER.pack(MAGIC, VERSION, mode, self.coder_id, self.iterations, self.width, self.height,
                            self.pad_right, self.pad_bottom, self.tile, self.code_channels, self.model_id)
        return body + struct.pack("<I", zlib.crc32(body))


def parse_header(data: bytes) -> Header:
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise FormatError("not an .rgc file (bad magic bytes)")
    if len(data) < HEADER_SIZE:
        raise FormatError("truncated header")
    body = data[: _HEADER.size]
    (magic, version, mode, coder_id, iterations, width, height, pad_r, pad_b, tile, channels, model_id) = _HEADER.unpack(body)
    if version != VERSION:
        raise FormatError(f"unsupported .rgc version {version} (this build reads version {VERSION})")
    (crc,) = struct.unpack_from("<I", data, _HEADER.size)
    if crc != zlib.crc32(body):
        raise FormatError("header is corrupt (CRC mismatch)")
    if mode not in MODES:
        raise FormatError(f"unknown colour mode {mode}")
    header = Header(width, height, MODES[mode], iterations, channels, tile, model_id, coder_id)
    header.validate()
    if (pad_r, pad_b) != (header.pad_right, header.pad_bottom):
        raise FormatError("padding does not match the image size")
    return header


def pack_chunk(kind: int, mode: int, payload: bytes) -> bytes:
    head = _CHUNK.pack(kind, mode, len(payload))
    return head + payload + struct.pack("<I", zlib.crc32(head + payload))


@dataclass(frozen=True)
class Chunk:
    kind: int
    mode: int
    payload: bytes
    end: int  # offset just past this chunk in the file


def read_chunks(data: bytes, max_payload: dict[int, int]):
    """Yield the chunks after the header in order. A chunk cut short ends the iteration (a truncated
    file); a bad CRC, an unknown type or a length above ``max_payload[kind]`` raises FormatError."""
    offset = HEADER_SIZE
    while offset < len(data):
        if len(data) - offset < _CHUNK.size:
            return
        kind, mode, length = _CHUNK.unpack_from(data, offset)
        if kind not in max_payload:
            raise FormatError(f"unknown chunk type {kind} at byte {offset}")
        if length > max_payload[kind]:
            raise FormatError(f"chunk at byte {offset} claims {length} bytes, more than its limit {max_payload[kind]}")
        end = offset + _CHUNK.size + length + 4
        if end > len(data):
            return
        (crc,) = struct.unpack_from("<I", data, end - 4)
        if crc != zlib.crc32(data[offset : end - 4]):
            raise FormatError(f"chunk at byte {offset} is corrupt (CRC mismatch)")
        yield Chunk(kind, mode, data[offset + _CHUNK.size : end - 4], end)
        offset = end
