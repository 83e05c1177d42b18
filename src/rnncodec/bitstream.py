"""The .rgc container: a checked header, then one checked chunk per iteration (see docs/format.md).

Every rule of the format lives here. :func:`write` makes a file; :func:`read` checks one and returns
its :class:`Contents`: the header, the ICC profile, the alpha plane, the intact iteration chunks in
order and, if any, the first damage; :meth:`Contents.select` says which chunks a decode uses and
what to warn, :meth:`Contents.within` how many iterations fit a byte budget and :meth:`Contents.cut`
writes the file of the first ones. Nothing here sees a tensor or a picture.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from .errors import DamageError, FormatError
from .limits import (BLOCK, MAX_ICC, MAX_ITERATIONS, MAX_METADATA, MAX_PIXELS, MAX_SIDE,  # noqa: F401  (re-exported: part of the format)
                     MAX_TILE, MODEL_ID_BYTES)
from .wording import count

MAGIC = b"\x89RGC\r\n\x1a\n"
VERSION = 3  # what the encoder writes; 2 added each chunk's index and tied its CRC to the header, 3 a file id and chunk flags
READABLE_VERSIONS = (1, 2, 3)
MODES = {0: "RGB", 1: "L", 2: "RGBA", 3: "LA"}  # colour mode byte → Pillow mode
CHUNK_ITERATION = ord("I")
CHUNK_ALPHA = ord("A")
CHUNK_ICC = ord("C")  # from version 2 on, optional: the input's ICC colour profile
CHUNK_METADATA = ord("M")  # from version 3 on, optional: the input's EXIF and XMP
ITERATION_RAW, ITERATION_CODED = 0, 1  # an iteration chunk's modes (rnncodec.entropy.RAW, CODED)
ALPHA_ZLIB = ICC_ZLIB = 0  # the only mode of the alpha and ICC chunks
HAS_ICC, HAS_ALPHA, HAS_METADATA = 1, 2, 4  # version 3's chunk flags: the optional chunks a file carries
METADATA_KINDS = {ord("E"): "exif", ord("X"): "xmp"}  # a metadata chunk's entries, in this order
FILE_ID_BYTES = 8
LAYER_REFINEMENTS = 48  # the most refinements a block may get in one layer of entropy coder 3 (rnncodec uses ≤ 39)

_HEADER = struct.Struct("<8sBBBBIIBBHB8s")  # magic … model id (versions 1 and 2); a CRC32 of the header's bytes follows
_HEADER_3 = struct.Struct("<8sBBBBIIBBHB8sB8s")  # … model id, chunk flags, file id
_CHUNK_HEADS = {1: struct.Struct("<BBI"), 2: struct.Struct("<BBBI"), 3: struct.Struct("<BBBI")}  # type, mode, [index,] length
HEADER_SIZE = _HEADER_3.size + 4  # 46 bytes in version 3 (37 in versions 1 and 2)
CHUNK_OVERHEAD = _CHUNK_HEADS[VERSION].size + 4  # 11 bytes (10 in version 1): head and CRC
PREFIX_SIZE = 9  # magic and version: what says how long the header is


def header_size(version: int) -> int:
    """Bytes of a header of this version, its CRC included."""
    return (_HEADER_3 if version >= 3 else _HEADER).size + 4


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
    version: int = VERSION
    flags: int = 0  # version 3: the optional chunks the file carries (HAS_ICC | HAS_ALPHA)
    file_id: bytes = bytes(FILE_ID_BYTES)  # version 3: names this file's chunks (their CRCs start from it)

    @property
    def size(self) -> int:
        return header_size(self.version)

    @property
    def pad_right(self) -> int:
        return -self.width % BLOCK

    @property
    def pad_bottom(self) -> int:
        return -self.height % BLOCK

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("RGBA", "LA")

    @property
    def code_shape(self) -> tuple[int, int, int]:
        """(channels, rows, columns) of one iteration's codes."""
        return self.code_channels, (self.height + self.pad_bottom) // BLOCK, (self.width + self.pad_right) // BLOCK

    @property
    def raw_code_bytes(self) -> int:
        """Bytes of one iteration's codes stored raw: the most an iteration chunk may hold."""
        c, h, w = self.code_shape
        return (c * h * w + 7) // 8

    @property
    def blocks(self) -> int:
        _, h, w = self.code_shape
        return h * w

    def chunk_limits(self) -> dict[int, int]:
        """Largest valid payload of each chunk type this version has (zlib may grow incompressible data slightly).

        A layer (entropy coder 3) may carry up to LAYER_REFINEMENTS refinements per block, at up to
        two bits per code bit, and its map; a layer of coder 4 twice that (a flag and a sign per component)."""
        per_bit = {3: 2, 4: 4}.get(self.coder_id)
        iteration = self.raw_code_bytes if per_bit is None else per_bit * LAYER_REFINEMENTS * self.raw_code_bytes + self.blocks + 64
        limits = {CHUNK_ITERATION: iteration, CHUNK_ALPHA: _zlib_bound(self.width * self.height)}
        if self.version >= 2:
            limits[CHUNK_ICC] = _zlib_bound(MAX_ICC)
        if self.version >= 3:
            limits[CHUNK_METADATA] = _zlib_bound(MAX_METADATA)
        return limits

    def validate(self) -> None:
        if self.version not in READABLE_VERSIONS:
            raise FormatError(f"unsupported .rgc version {self.version} (this build reads versions 1–{VERSION})")
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
        if len(self.model_id) != MODEL_ID_BYTES:
            raise FormatError(f"model id must be {MODEL_ID_BYTES} bytes")
        if self.version >= 3:
            if self.flags & ~(HAS_ICC | HAS_ALPHA | HAS_METADATA):
                raise FormatError(f"unknown chunk flags {self.flags:#04x} (this build knows ICC, alpha and metadata)")
            if bool(self.flags & HAS_ALPHA) != self.has_alpha:
                raise FormatError(f"the alpha flag disagrees with colour mode {self.mode}")
            if len(self.file_id) != FILE_ID_BYTES:
                raise FormatError(f"file id must be {FILE_ID_BYTES} bytes")

    def body(self) -> bytes:
        """The header's bytes before its CRC."""
        self.validate()
        mode = {v: k for k, v in MODES.items()}[self.mode]
        fields = (MAGIC, self.version, mode, self.coder_id, self.iterations, self.width, self.height,
                  self.pad_right, self.pad_bottom, self.tile, self.code_channels, self.model_id)
        if self.version >= 3:
            return _HEADER_3.pack(*fields, self.flags, self.file_id)
        return _HEADER.pack(*fields)

    def pack(self) -> bytes:
        body = self.body()
        return body + struct.pack("<I", zlib.crc32(body))


def _zlib_bound(size: int) -> int:
    """The most bytes zlib writes for ``size`` bytes of incompressible data, with room to spare."""
    return size + size // 100 + 64


def parse_header(data: bytes) -> Header:
    """The header at the start of ``data`` (which may go on past it)."""
    if not data:
        raise FormatError("empty file")
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise FormatError("not an .rgc file (bad magic bytes)")
    if len(data) < PREFIX_SIZE:
        raise FormatError("truncated header")
    version = data[len(MAGIC)]
    if version not in READABLE_VERSIONS:
        raise FormatError(f"unsupported .rgc version {version} (this build reads versions 1–{VERSION})")
    layout = _HEADER_3 if version >= 3 else _HEADER
    if len(data) < layout.size + 4:
        raise FormatError("truncated header")
    body = data[: layout.size]
    (magic, version, mode, coder_id, iterations, width, height, pad_r, pad_b, tile, channels, model_id, *v3) = layout.unpack(body)
    (crc,) = struct.unpack_from("<I", data, layout.size)
    if crc != zlib.crc32(body):
        raise FormatError("header is corrupt (CRC mismatch)")
    if mode not in MODES:
        raise FormatError(f"unknown colour mode {mode}")
    header = Header(width, height, MODES[mode], iterations, channels, tile, model_id, coder_id, version, *v3)
    header.validate()
    if (pad_r, pad_b) != (header.pad_right, header.pad_bottom):
        raise FormatError("padding does not match the image size")
    return header


# --- chunks ----------------------------------------------------------------------------------------
def read_header(stream: BinaryIO) -> Header:
    """The header of the file ``stream`` starts with, read no further than its end."""
    prefix = stream.read(PREFIX_SIZE)
    rest = header_size(prefix[-1]) - len(prefix) if len(prefix) == PREFIX_SIZE and prefix[-1] in READABLE_VERSIONS else 0
    return parse_header(prefix + stream.read(rest))


def _crc_start(header: Header) -> int:
    """Where a chunk's CRC starts: from version 2 on it continues the header's CRC, tying each chunk to
    its file (version 3: to its file id, so no chunk verifies in a file with another id)."""
    return zlib.crc32(header.body()) if header.version >= 2 else 0


def pack_chunk(header: Header, kind: int, mode: int, index: int, payload: bytes) -> bytes:
    """One chunk of a file of version 2 or later; index: the iteration it carries, 0 for the alpha and ICC chunks."""
    if len(payload) > header.chunk_limits()[kind]:
        raise ValueError(f"a chunk of type {kind} may hold at most {header.chunk_limits()[kind]} bytes, not {len(payload)}")
    head = _CHUNK_HEADS[header.version].pack(kind, mode, index, len(payload))
    return head + payload + struct.pack("<I", zlib.crc32(head + payload, _crc_start(header)))


def pack_alpha(alpha: bytes) -> bytes:
    return zlib.compress(alpha, 9)


def write(header: Header, alpha: bytes | None, iterations: list[tuple[int, bytes]], icc: bytes | None = None,
          identity: bytes | None = None, metadata: dict[str, bytes] | None = None) -> bytes:
    """A complete file: header, the ICC chunk (a profile of 1..MAX_ICC bytes) if any, the metadata
    chunk (``metadata``: "exif" and "xmp" bytes, version 3) if any, the alpha chunk (plane bytes,
    row-major) if any, one chunk per (mode, payload). ``identity``: the file id (version 3;
    default: :func:`file_id` of the payloads)."""
    if icc is not None and not 1 <= len(icc) <= MAX_ICC:
        raise ValueError(f"an ICC profile must hold 1..{MAX_ICC} bytes, not {len(icc)}")
    packed = pack_metadata(metadata) if metadata else None
    if packed is not None and header.version < 3:
        raise ValueError("metadata needs format version 3")
    return _assemble(header, icc and zlib.compress(icc, 9), alpha and pack_alpha(alpha), iterations, identity, packed)


def pack_metadata(metadata: dict[str, bytes]) -> bytes | None:
    """A metadata chunk's payload: zlib of the entries (kind byte, length, bytes) there are; None if none."""
    kinds = {name: kind for kind, name in METADATA_KINDS.items()}
    unknown = set(metadata) - set(kinds)
    if unknown:
        raise ValueError(f"unknown metadata {sorted(unknown)} (a file holds {', '.join(kinds)})")
    entries = b"".join(struct.pack("<BI", kinds[name], len(metadata[name])) + metadata[name]
                       for name in kinds if metadata.get(name))
    if len(entries) > MAX_METADATA:
        raise ValueError(f"metadata of {len(entries)} bytes is more than the {MAX_METADATA} a file may carry")
    return zlib.compress(entries, 9) if entries else None


def unpack_metadata(payload: bytes) -> dict[str, bytes]:
    """The entries of a metadata chunk's zlib stream: each kind at most once, in order, none empty."""
    data = _inflate(payload, MAX_METADATA, "metadata chunk")
    if not data:
        raise FormatError(f"metadata chunk does not hold 1..{MAX_METADATA} bytes of entries")
    entries, offset, order = {}, 0, list(METADATA_KINDS)
    while offset < len(data):
        if len(data) - offset < 5:
            raise FormatError("metadata chunk ends inside an entry")
        kind, length = struct.unpack_from("<BI", data, offset)
        if kind not in order or (entries and order.index(kind) <= order.index(last)) or not 0 < length <= len(data) - offset - 5:
            raise FormatError(f"metadata chunk has a bad entry at byte {offset} (kind {kind}, {length} bytes)")
        entries[METADATA_KINDS[kind]], last = data[offset + 5 : offset + 5 + length], kind
        offset += 5 + length
    return entries


def file_id(*parts: bytes | None) -> bytes:
    """A file id from what the file is made of: the first bytes of the SHA-256 of the parts (each
    length-prefixed; None counts as empty). The encoder hashes the image it codes (its size, mode,
    pixels, alpha and profile), so files of different images get different ids and the files of one
    image (fewer iterations, a cut) share theirs."""
    digest = hashlib.sha256()
    for part in parts:
        part = part or b""
        digest.update(struct.pack("<Q", len(part)) + part)
    return digest.digest()[:FILE_ID_BYTES]


def _assemble(header: Header, icc: bytes | None, alpha: bytes | None, iterations: list[tuple[int, bytes]],
              identity: bytes | None = None, metadata: bytes | None = None) -> bytes:
    """The file of these payloads (the ICC, metadata and alpha ones already compressed) under
    ``header``; from version 3 on with its chunk flags and with the file id ``identity`` (default:
    :func:`file_id`)."""
    if header.version >= 3:
        flags = ((HAS_ICC if icc is not None else 0) | (HAS_ALPHA if alpha is not None else 0)
                 | (HAS_METADATA if metadata is not None else 0))
        identity = identity or file_id(icc, metadata, alpha, *(payload for _, payload in iterations))
        header = replace(header, flags=flags, file_id=identity)
    parts = [header.pack()]
    if icc is not None:
        parts.append(pack_chunk(header, CHUNK_ICC, ICC_ZLIB, 0, icc))
    if metadata is not None:
        parts.append(pack_chunk(header, CHUNK_METADATA, ICC_ZLIB, 0, metadata))
    if alpha is not None:
        parts.append(pack_chunk(header, CHUNK_ALPHA, ALPHA_ZLIB, 0, alpha))
    for index, (mode, payload) in enumerate(iterations, start=1):
        parts.append(pack_chunk(header, CHUNK_ITERATION, mode, index, payload))
    return b"".join(parts)


@dataclass(frozen=True)
class Chunk:
    kind: int
    mode: int
    index: int  # the iteration it carries (version 1: its place among the iteration chunks), 0 for alpha and ICC
    payload: bytes
    start: int  # offset of this chunk in the file
    end: int  # offset just past it


@dataclass(frozen=True)
class BrokenChunk:
    start: int  # where the walk over the chunks stopped: nothing after it can be trusted
    problem: str


@dataclass(frozen=True)
class Damage:
    intact: int  # iterations before the damage, all decodable
    message: str  # names the damaged iteration (or the alpha chunk, or trailing data) and the problem


@dataclass
class Contents:
    """What :func:`read` found: everything before the first damage, and that damage."""

    header: Header
    alpha: bytes | None = None  # the alpha plane, row-major, when the mode has one and it is intact
    alpha_chunk: Chunk | None = None
    icc: bytes | None = None  # the ICC profile, when the file carries one
    icc_chunk: Chunk | None = None
    metadata: dict[str, bytes] | None = None  # the EXIF and XMP bytes, when the file carries them
    metadata_chunk: Chunk | None = None
    iterations: list[Chunk] = field(default_factory=list)  # the intact iteration chunks, in order
    damage: Damage | None = None

    @property
    def chunk_ends(self) -> list[int]:
        return [chunk.end for chunk in self.iterations]

    @property
    def truncated(self) -> bool:
        return self.damage is None and len(self.iterations) < self.header.iterations

    def select(self, iterations: int | None = None, salvage: bool = False) -> Selection:
        """The iteration chunks a decode uses, and its warnings.

        ``iterations``: the first ones only; damage after them is a warning. Damage within the
        iterations asked for (all of them by default) raises DamageError, or with ``salvage`` keeps
        the intact iterations before it, with a warning. A file cut short decodes its complete
        iterations, with a warning; one without a complete iteration is refused.
        """
        declared, warnings = self.header.iterations, []
        wanted = declared if iterations is None else min(iterations, declared)
        if iterations is not None and iterations > declared:
            warnings.append(f"file holds {count(declared, 'iteration')}; decoding those")
        usable = min(wanted, len(self.iterations))
        if self.damage is not None:
            usable, note = _decodable(self.damage, wanted, iterations is None, salvage)
            warnings.append(note)
        elif usable < wanted:
            warnings.append(f"truncated file: decoded {usable} of {count(declared, 'iteration')}")
        if not usable:
            raise FormatError("truncated file: no complete iteration")
        return Selection(self.iterations[:usable], warnings)

    def within(self, budget: int) -> int:
        """How many of the intact iterations a prefix of ``budget`` bytes of this file holds."""
        return sum(end <= budget for end in self.chunk_ends)

    def cut(self, iterations: int) -> bytes:
        """A complete file of the first ``iterations`` intact iterations: the header declares that many,
        every CRC is recomputed. A file of version 2 or later keeps its version (and a version-3 file
        its id), so the result is exactly as long as the file's prefix through iteration ``iterations``;
        a version-1 file becomes version 2."""
        if not 1 <= iterations <= len(self.iterations):
            raise ValueError(f"cannot cut {count(iterations, 'iteration')} from a file with {len(self.iterations)} intact")
        header = replace(self.header, iterations=iterations, version=max(self.header.version, 2))
        return _assemble(header, self.icc_chunk and self.icc_chunk.payload, self.alpha_chunk and self.alpha_chunk.payload,
                         [(chunk.mode, chunk.payload) for chunk in self.iterations[:iterations]], self.header.file_id,
                         self.metadata_chunk and self.metadata_chunk.payload)

    def damaged(self, damage: Damage) -> Contents:
        """These contents with damage found later (an iteration whose codes do not decode)."""
        return replace(self, iterations=self.iterations[: damage.intact], damage=damage)


@dataclass(frozen=True)
class Selection:
    chunks: list[Chunk]  # the iteration chunks to decode, in order
    warnings: list[str]


def _decodable(damage: Damage, wanted: int, whole_file: bool, salvage: bool) -> tuple[int, str]:
    """How many iterations of a damaged file to decode, and the warning: those asked for if the
    damage comes after them, the intact ones when salvaging; otherwise raise DamageError."""
    if not whole_file and wanted <= damage.intact:
        return wanted, f"damaged file, after the {count(wanted, 'iteration')} decoded: {damage.message}"
    if salvage and damage.intact:
        return damage.intact, f"damaged file: {damage.message}; decoded the {count(damage.intact, 'intact iteration')}"
    raise DamageError(damage.message, damage.intact)


def _frames(data: bytes, header: Header):
    """Yield the chunks after the header whose framing and CRC hold, then a BrokenChunk if the walk
    stopped at one. A chunk cut short ends the walk quietly (a truncated file)."""
    head = _CHUNK_HEADS[header.version]
    limits, crc_start = header.chunk_limits(), _crc_start(header)
    offset, place = header.size, 0
    while len(data) - offset >= head.size:
        fields = head.unpack_from(data, offset)
        kind, mode, length = fields[0], fields[1], fields[-1]
        if kind not in limits:
            yield BrokenChunk(offset, f"has unknown type {kind}")
            return
        if length > limits[kind]:
            yield BrokenChunk(offset, f"claims {length} bytes, more than its limit {limits[kind]}")
            return
        end = offset + head.size + length + 4
        if end > len(data):
            return
        (crc,) = struct.unpack_from("<I", data, end - 4)
        if crc != zlib.crc32(data[offset : end - 4], crc_start):
            yield BrokenChunk(offset, "is corrupt (CRC mismatch)")
            return
        place += kind == CHUNK_ITERATION
        index = fields[2] if header.version >= 2 else (place if kind == CHUNK_ITERATION else 0)
        yield Chunk(kind, mode, index, data[offset + head.size : end - 4], offset, end)
        offset = end


def _inflate(payload: bytes, most: int, name: str) -> bytes | None:
    """A chunk's zlib stream inflated; None if it holds more than ``most`` bytes or anything after it."""
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(payload, most + 1)
    except zlib.error:
        raise FormatError(f"{name} does not decompress") from None
    return data if len(data) <= most and inflate.eof and not inflate.unused_data else None


def unpack_alpha(header: Header, payload: bytes) -> bytes:
    """The alpha plane from an alpha chunk's zlib stream, which must hold exactly width × height bytes."""
    plane = _inflate(payload, header.width * header.height, "alpha chunk")
    if plane is None or len(plane) != header.width * header.height:
        raise FormatError(f"alpha chunk does not hold exactly {header.width}×{header.height} bytes")
    return plane


def unpack_icc(payload: bytes) -> bytes:
    """The ICC profile from an ICC chunk's zlib stream: 1 to MAX_ICC bytes."""
    profile = _inflate(payload, MAX_ICC, "ICC chunk")
    if not profile:
        raise FormatError(f"ICC chunk does not hold a profile of 1..{MAX_ICC} bytes")
    return profile


def _take_alpha(chunk: Chunk, contents: Contents) -> str | None:
    """Store the alpha plane of a well-placed, well-formed alpha chunk; otherwise say what is wrong."""
    if not contents.header.has_alpha:
        return f"alpha chunk at byte {chunk.start} in a file without alpha (mode {contents.header.mode})"
    return _take(chunk, contents, "alpha", lambda payload: unpack_alpha(contents.header, payload),
                 contents.alpha is not None or bool(contents.iterations))


def _take_metadata(chunk: Chunk, contents: Contents) -> str | None:
    """Store the entries of a listed, well-placed, well-formed metadata chunk; otherwise say what is wrong."""
    if not contents.header.flags & HAS_METADATA:
        return f"the chunk at byte {chunk.start} is metadata the header does not list"
    return _take(chunk, contents, "metadata", unpack_metadata,
                 contents.metadata is not None or contents.alpha is not None or bool(contents.iterations))


def _take_icc(chunk: Chunk, contents: Contents) -> str | None:
    """Store the profile of a well-placed, well-formed ICC chunk; otherwise say what is wrong."""
    placed = (contents.icc, contents.metadata, contents.alpha)
    return _take(chunk, contents, "icc", unpack_icc, any(v is not None for v in placed) or bool(contents.iterations))


def _take(chunk: Chunk, contents: Contents, field: str, unpack, misplaced: bool) -> str | None:
    """Store what a zlib chunk holds in ``contents.<field>`` (and the chunk in ``<field>_chunk``), unless
    it is ``misplaced`` or malformed: then say what is wrong."""
    name = f"{'ICC' if field == 'icc' else field} chunk"
    if misplaced:
        return f"second or misplaced {name} at byte {chunk.start}"
    try:
        value = unpack(_zlib_payload(chunk, name))
    except FormatError as e:
        return str(e)
    setattr(contents, field, value)
    setattr(contents, f"{field}_chunk", chunk)
    return None


def _zlib_payload(chunk: Chunk, name: str) -> bytes:
    """The payload of an alpha, ICC or metadata chunk, whose mode (zlib) and index must both be 0."""
    if chunk.mode != 0 or chunk.index != 0:
        raise FormatError(f"{name} at byte {chunk.start} has mode {chunk.mode} and index {chunk.index} (both must be 0)")
    return chunk.payload


def _misplaced(chunk: Chunk, expected: int, later: list[Chunk], header: Header) -> str:
    """Why the iteration chunk found where iteration ``expected`` belongs carries another index."""
    where = f"the chunk at byte {chunk.start}"
    if not 1 <= chunk.index <= header.iterations:
        return f"{where} claims iteration {chunk.index}, outside 1..{header.iterations}"
    if chunk.index < expected:
        return f"{where} repeats iteration {chunk.index} (duplicated chunk)"
    if any(isinstance(c, Chunk) and c.kind == CHUNK_ITERATION and c.index == expected for c in later):
        return f"out of order: {where} is iteration {chunk.index}, iteration {expected} comes later (reordered chunks)"
    return f"missing: {where} is iteration {chunk.index} (dropped chunk)"


def _iteration_problem(chunk: Chunk, expected: int, later: list, header: Header) -> str | None:
    if chunk.index != expected:
        return _misplaced(chunk, expected, later, header)
    if chunk.mode not in (ITERATION_RAW, ITERATION_CODED):
        return f"the chunk at byte {chunk.start} has unknown mode {chunk.mode}"
    if chunk.mode == ITERATION_RAW and len(chunk.payload) != header.raw_code_bytes:
        return f"the raw chunk at byte {chunk.start} holds {len(chunk.payload)} bytes, not {header.raw_code_bytes}"
    if chunk.mode == ITERATION_CODED and len(chunk.payload) % 4:
        return f"the coded chunk at byte {chunk.start} has a length that is not a multiple of 4"
    return None


def read_leading(header: Header, stream: BinaryIO) -> Contents:
    """The ICC profile and metadata of a file from the ``stream`` just after its header, read only as
    far as the chunks that hold them (the first ones); each None when the file carries none or its
    chunk is damaged (decoding reports it)."""
    head = _CHUNK_HEADS[header.version]
    contents, data = Contents(header), header.pack()
    takers = {CHUNK_ICC: _take_icc, CHUNK_METADATA: _take_metadata}
    while header.version >= 2:
        start = len(data)
        data += stream.read(head.size)
        if len(data) < start + head.size or data[start] not in takers:
            break
        length = head.unpack_from(data, start)[-1]
        if length > header.chunk_limits()[data[start]]:
            break
        data += stream.read(length + 4)
        frames = list(_frames(data, header))  # the chunks before this one were taken already
        frame = frames[-1] if frames else None
        if not isinstance(frame, Chunk) or frame.start != start or takers[frame.kind](frame, contents) is not None:
            break
    return contents


def read(data: bytes) -> Contents:
    """Check a whole file; header problems raise FormatError, chunk problems become ``damage``.

    Chunks are taken in order while they are intact and in their place; the first one that is not
    (or trailing data after the last declared chunk) is the damage, named with its iteration.
    """
    header = parse_header(data)
    contents = Contents(header)
    frames = list(_frames(data, header))
    for i, frame in enumerate(frames):
        expected = len(contents.iterations) + 1
        if expected > header.iterations:
            break
        awaiting_alpha = header.has_alpha and contents.alpha is None
        awaiting_icc = header.version >= 3 and header.flags & HAS_ICC and contents.icc is None
        awaiting_metadata = header.version >= 3 and header.flags & HAS_METADATA and contents.metadata is None
        stage = ("ICC chunk" if awaiting_icc else "metadata chunk" if awaiting_metadata else "alpha chunk" if awaiting_alpha
                 else f"iteration {expected}")
        if isinstance(frame, BrokenChunk):
            problem = f"the chunk at byte {frame.start} {frame.problem}"
        elif awaiting_icc and frame.kind != CHUNK_ICC:
            problem = f"missing: the header lists an ICC profile, the chunk at byte {frame.start} is another"
        elif awaiting_metadata and frame.kind not in (CHUNK_METADATA, CHUNK_ICC):
            problem = f"missing: the header lists metadata, the chunk at byte {frame.start} is another"
        elif frame.kind == CHUNK_METADATA:
            problem = _take_metadata(frame, contents)
        elif frame.kind == CHUNK_ICC:
            if not (contents.icc or contents.alpha or contents.iterations):
                stage = "ICC chunk"  # where it belongs: a problem of its own
            problem = _take_icc(frame, contents)
            if problem is None and header.version >= 3 and not header.flags & HAS_ICC:
                problem = f"the chunk at byte {frame.start} is an ICC profile the header does not list"
        elif frame.kind == CHUNK_ALPHA:
            problem = _take_alpha(frame, contents)
        elif awaiting_alpha:
            problem = f"missing: an iteration chunk comes first, at byte {frame.start}"
        else:
            problem = _iteration_problem(frame, expected, frames[i + 1 :], header)
        if problem:
            contents.damage = Damage(len(contents.iterations), f"{stage}: {problem}")
            return contents
        if frame.kind == CHUNK_ITERATION:
            contents.iterations.append(frame)
    ends = contents.chunk_ends
    if len(ends) == header.iterations and ends[-1] != len(data):
        contents.damage = Damage(len(ends), f"{len(data) - ends[-1]} bytes of trailing data after the last chunk")
    elif header.has_alpha and contents.alpha is None:
        raise FormatError("truncated file: the alpha channel is missing")
    return contents
