"""docs/format.md and the bytes agree: a header and a chunk built field by field from the spec's
tables are exactly what the container writes."""

import re
import struct
import zlib
from pathlib import Path

from rnncodec import bitstream
from rnncodec.bitstream import Header

SPEC = (Path(__file__).resolve().parent.parent / "docs" / "format.md").read_text()
SPEC_MODES = {"RGB": "RGB", "gray (L)": "L", "RGB + alpha": "RGBA", "gray + alpha": "LA"}


def table_after(heading: str) -> list[list[str]]:
    """The rows of the first Markdown table after a heading, as lists of cell texts."""
    section = SPEC[SPEC.index(heading):]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # without the title row and the separator


def header_rows() -> list[tuple[int, int, str, str]]:
    return [(int(offset), int(size), field, notes) for offset, size, field, notes in table_after("## Header")]


def spec_value(field: str, notes: str, header: Header) -> int | bytes:
    if field == "magic":
        return bytes.fromhex(re.search(r"`([0-9A-F ]+)`", notes).group(1))
    if field == "colour mode":
        codes = {SPEC_MODES[name]: int(code) for code, name in (item.split(" ", 1) for item in notes.split(", "))}
        return codes[header.mode]
    return {"version": header.version, "entropy coder id": header.coder_id, "iterations": header.iterations,
            "width": header.width, "height": header.height, "padding right": header.pad_right,
            "padding bottom": header.pad_bottom, "tile": header.tile, "code channels": header.code_channels,
            "model id": header.model_id, "chunk flags": header.flags, "file id": header.file_id}[field]


def test_the_header_built_from_the_spec_table_is_what_pack_writes():
    header = Header(width=1001, height=517, mode="LA", iterations=9, code_channels=32, tile=512,
                    model_id=bytes.fromhex("0123456789abcdef"), coder_id=3, flags=bitstream.HAS_ICC | bitstream.HAS_ALPHA,
                    file_id=bytes.fromhex("fedcba9876543210"))
    built = bytearray()
    for offset, size, field, notes in header_rows():
        assert offset == len(built), f"{field}: offset {offset} does not follow the fields before it"
        if field == "header CRC":
            built += struct.pack("<I", zlib.crc32(built))
            continue
        value = spec_value(field, notes, header)
        built += value if isinstance(value, bytes) else value.to_bytes(size, "little")
        assert len(built) == offset + size, field
    assert bytes(built) == header.pack()
    assert f"## Header ({bitstream.HEADER_SIZE} bytes)" in SPEC and len(built) == bitstream.HEADER_SIZE
    assert "the first 33 bytes of this one" in SPEC and bitstream.header_size(2) == 33 + 4


def test_a_chunk_built_from_the_spec_table_is_what_the_container_writes():
    header = Header(48, 40, "RGB", 2, 32, 1024, bytes(8), 2, file_id=b"\x07" * 8)
    payload = b"\x01\x02\x03\x04"
    sizes = [size for size, _ in table_after("## Chunks")]
    assert sizes == ["1", "1", "1", "4", "n", "4"]
    head = bytes([ord("I"), 1, 2]) + len(payload).to_bytes(4, "little")  # type I, mode 1 (range-coded), iteration 2
    crc = zlib.crc32(head + payload, zlib.crc32(header.pack()[:42]))  # the header's bytes 0–41, then the chunk's
    assert "CRC-32 of the header's bytes before its CRC (0–41; 0–32 in version 2)" in SPEC
    assert head + payload + struct.pack("<I", crc) == bitstream.pack_chunk(header, bitstream.CHUNK_ITERATION, 1, 2, payload)
    assert bitstream.CHUNK_OVERHEAD == 11 and "11 bytes of framing per chunk" in SPEC


def test_the_icc_chunk_is_specified_with_the_containers_numbers():
    text = " ".join(SPEC.split())
    payload_limit = Header(1, 1, "RGB", 1, 32, 16, bytes(8), 2).chunk_limits()[bitstream.CHUNK_ICC]
    assert f"`C` (0x{bitstream.CHUNK_ICC:02X}) ICC colour profile" in text
    assert f"inflates to 1–{bitstream.MAX_ICC:,} bytes (its payload may be at most {payload_limit:,} bytes" in text
    assert f"a profile of 1..{bitstream.MAX_ICC} bytes" in text
