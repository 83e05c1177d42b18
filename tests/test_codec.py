"""Codec and .rgc container: exactness, progressive prefixes, truncation, corruption and damage."""

import io
import struct
import time
import zlib
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from rgc_fuzz import V1_GOLDEN, Parts, golden_source, tiny_codec_for_golden
from rnncodec.bitstream import CHUNK_OVERHEAD, HEADER_SIZE, MAGIC, VERSION, DamageError, FormatError, parse_header, read
from rnncodec.codec import ModelPipeline, TileWorker
from rnncodec.images import Picture, read_picture


def rgb_picture(h, w, seed=0):
    return Picture(smooth_image(h, w, seed), "RGB")


@pytest.mark.parametrize("h,w,iterations", [(16, 16, 1), (37, 50, 3), (64, 33, 5), (5, 130, 2)])
def test_decode_returns_the_encoders_codes_exactly(tiny_codec, h, w, iterations):
    picture = rgb_picture(h, w)
    data = tiny_codec.encode(picture, iterations)
    header, _, codes, ends, warnings, *_ = tiny_codec.read(data)
    assert np.array_equal(codes, tiny_codec.codes(picture.rgb, iterations))
    assert (header.width, header.height, header.iterations) == (w, h, iterations)
    assert ends[-1] == len(data) and not warnings
    decoded = tiny_codec.decode(data)
    assert decoded.picture.rgb.shape == (h, w, 3)


def test_decode_first_k_equals_encoding_k(tiny_codec):
    picture = rgb_picture(40, 56)
    full = tiny_codec.encode(picture, 6)
    for k in (1, 3, 6):
        short = tiny_codec.decode(tiny_codec.encode(picture, k)).picture.rgb
        assert np.array_equal(tiny_codec.decode(full, iterations=k).picture.rgb, short)


def test_small_tiles_give_the_same_codes_as_tile_by_tile(tiny_weights):
    picture = rgb_picture(70, 50)
    small = ModelPipeline.load(tiny_weights, tile=32)
    data = small.encode(picture, 2)
    assert parse_header(data).tile == 32
    assert np.array_equal(small.read(data)[2], small.codes(picture.rgb, 2))
    assert small.decode(data).picture.rgb.shape == (70, 50, 3)


def test_every_truncation_decodes_complete_iterations_or_fails_cleanly(tiny_codec):
    picture = rgb_picture(32, 48)
    data = tiny_codec.encode(picture, 4)
    ends = tiny_codec.read(data)[3]
    for cut in range(len(data)):
        try:
            decoded = tiny_codec.decode(data[:cut])
        except FormatError:
            assert cut < ends[0]
            continue
        complete = sum(e <= cut for e in ends)
        assert decoded.iterations == complete >= 1
        assert any("truncated" in w for w in decoded.warnings)
        assert np.array_equal(decoded.picture.rgb, tiny_codec.decode(data, iterations=complete).picture.rgb)


def test_every_flipped_bit_is_reported(tiny_codec):
    data = tiny_codec.encode(rgb_picture(32, 32), 2)
    clean = tiny_codec.decode(data).picture.rgb
    for i in range(len(data) * 8):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        try:
            decoded = tiny_codec.decode(bytes(bad))
        except FormatError:
            continue
        # a flipped length bit can only make the file look truncated, which is reported
        assert decoded.warnings, f"bit {i} flipped silently"
        assert decoded.iterations < 2 or np.array_equal(decoded.picture.rgb, clean)


def test_header_limits_are_checked_before_allocation(tiny_codec):
    import zlib

    body = struct.pack("<8sBBBBIIBBHB8s", MAGIC, 1, 0, 1, 8, 2**31, 2**31, 0, 0, 1024, 32, tiny_codec.model_id)
    data = body + struct.pack("<I", zlib.crc32(body))
    assert len(data) < 45
    with pytest.raises(FormatError, match="limits"):
        tiny_codec.decode(data)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"GIF89a" + d[6:], "magic"),
    (lambda d: d[:8] + bytes([9]) + d[9:], "unsupported .rgc version 9"),
    (lambda d: d[:20], "truncated header"),
    (lambda d: d[:HEADER_SIZE - 4] + b"\0\0\0\0" + d[HEADER_SIZE:], "header is corrupt"),
    (lambda d: d + b"junk", "chunk"),
])
def test_bad_files_are_refused(tiny_codec, mutate, message):
    data = tiny_codec.encode(rgb_picture(16, 16), 1)
    with pytest.raises(FormatError, match=message):
        tiny_codec.decode(mutate(data))


def test_other_weights_are_refused(tiny_codec, tiny_weights):
    data = tiny_codec.encode(rgb_picture(16, 16), 1)
    other = ModelPipeline(replace(tiny_codec.model, id=b"\x01" * 8))
    with pytest.raises(FormatError, match="other weights"):
        other.decode(data)


def png_bytes(array, mode=None):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def test_grayscale_comes_back_grayscale(tiny_codec):
    picture = read_picture(png_bytes(smooth_image(20, 24)[..., 0]))
    assert picture.mode == "L"
    out = tiny_codec.decode(tiny_codec.encode(picture, 2)).picture.to_pil()
    assert out.mode == "L" and out.size == (24, 20)


def test_alpha_is_kept_losslessly(tiny_codec):
    rgba = np.dstack([smooth_image(20, 24), np.arange(480, dtype=np.uint8).reshape(20, 24)])
    picture = read_picture(png_bytes(rgba, "RGBA"))
    decoded = tiny_codec.decode(tiny_codec.encode(picture, 1)).picture
    assert decoded.mode == "RGBA" and np.array_equal(decoded.alpha, rgba[..., 3])


def test_sixteen_bit_input_is_converted_with_a_warning():
    a = (np.arange(24 * 20, dtype=np.uint16).reshape(20, 24) * 130)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    with pytest.warns(UserWarning, match="16-bit grayscale .*reduced to 8 bits per sample"):
        picture = read_picture(buf.getvalue())
    assert picture.mode == "L" and picture.rgb.dtype == np.uint8
    assert picture.rgb[..., 0].max() == round(int(a.max()) * 255 / 65535)


# --- format versions 2 and 3: chunks bound to their place and file, damage named, intact iterations kept
def test_encoder_writes_version_3_with_the_documented_sizes(tiny_codec):
    data = tiny_codec.encode(rgb_picture(32, 32), 3)
    contents = read(data)
    assert contents.header.version == VERSION == 3
    assert [chunk.index for chunk in contents.iterations] == [1, 2, 3]
    assert (HEADER_SIZE, CHUNK_OVERHEAD) == (46, 11)  # docs/format.md
    assert len(data) == HEADER_SIZE + sum(CHUNK_OVERHEAD + len(c.payload) for c in contents.iterations)


def test_version_1_files_decode_as_the_release_that_wrote_them_did():
    """tests/data/v1-tiny-rgba-8it.* were written by release 0.1.0 (format version 1):
    `rnncodec encode -q 8` of golden_source() with the tiny weights, then `rnncodec decode`
    without and with `-n 6`."""
    codec = tiny_codec_for_golden()
    data = V1_GOLDEN.read_bytes()
    assert parse_header(data).version == 1
    for iterations, png in ((None, "v1-tiny-rgba-8it.png"), (6, "v1-tiny-rgba-8it-n6.png")):
        decoded = codec.decode(data, iterations=iterations)
        assert not decoded.warnings
        expected = np.asarray(Image.open(V1_GOLDEN.parent / png))
        assert np.array_equal(np.asarray(decoded.picture.to_pil()), expected)
    assert np.array_equal(codec.read(data)[2], codec.read(codec.encode(golden_source(), 8))[2])


def rearranged(data: bytes, order: list[int]) -> bytes:
    parts = Parts.of(data)
    parts.chunks = [parts.chunks[i] for i in order]
    return parts.join()


@pytest.mark.parametrize("order, intact, message", [
    ([0, 2, 1, 3], 1, "out of order.*reordered"),
    ([1, 0, 2, 3], 0, "out of order.*reordered"),
    ([0, 1, 1, 2, 3], 2, "repeats iteration 2 .duplicated"),
    ([0, 1, 2, 3, 3], 4, "trailing data"),
    ([0, 2, 3], 1, "missing.*dropped"),
])
def test_reordered_duplicated_and_dropped_chunks_are_named(tiny_codec, order, intact, message):
    data = tiny_codec.encode(rgb_picture(32, 48), 4)
    bad = rearranged(data, order)
    with pytest.raises(DamageError, match=message) as caught:
        tiny_codec.decode(bad)
    assert caught.value.intact == intact
    if intact:
        decoded = tiny_codec.decode(bad, iterations=intact)
        assert np.array_equal(decoded.picture.rgb, tiny_codec.decode(data, iterations=intact).picture.rgb)
        assert any("damaged" in w for w in decoded.warnings)


def test_a_damaged_iteration_leaves_the_earlier_ones_decodable(tiny_codec):
    data = tiny_codec.encode(rgb_picture(32, 48), 4)
    clean = [tiny_codec.decode(data, iterations=n).picture.rgb for n in range(1, 5)]
    for k, chunk in enumerate(read(data).iterations, start=1):
        bad = bytearray(data)
        bad[chunk.end - 5] ^= 0x04  # the chunk's last payload byte
        bad = bytes(bad)
        with pytest.raises(DamageError, match=f"^iteration {k}: .*CRC mismatch") as caught:
            tiny_codec.decode(bad)
        assert caught.value.intact == k - 1
        for n in range(1, k):
            assert np.array_equal(tiny_codec.decode(bad, iterations=n).picture.rgb, clean[n - 1])
        if k == 1:
            with pytest.raises(DamageError):
                tiny_codec.decode(bad, salvage=True)
            continue
        salvaged = tiny_codec.decode(bad, salvage=True)
        assert salvaged.iterations == k - 1 and np.array_equal(salvaged.picture.rgb, clean[k - 2])
        assert any(f"iteration {k}:" in w for w in salvaged.warnings)


def test_codes_the_range_decoder_rejects_are_a_format_error_naming_the_iteration(tiny_codec):
    data = tiny_codec.encode(golden_source(), 8)
    parts = Parts.of(data)
    coded = [c.index for c in read(data).iterations if c.mode == 1]
    assert coded, "the flat picture's later iterations are range-coded"
    k = coded[0]
    chunk = parts.chunks[k]  # chunks[0] is the alpha chunk
    chunk[7:-4] = b"\xff" * (len(chunk) - 11)
    parts.fix_crcs()
    with pytest.raises(DamageError, match=f"^iteration {k}: its codes do not decode") as caught:
        tiny_codec.decode(parts.join())
    assert caught.value.intact == k - 1
    assert tiny_codec.decode(parts.join(), iterations=k - 1).iterations == k - 1


def _field(offset: int, size: int, value: int):
    def edit(buf: bytearray):
        buf[offset : offset + size] = value.to_bytes(size, "little")
    return edit


def _header(offset, size, value):
    return lambda parts: _field(offset, size, value)(parts.header)


def _chunk(i, offset, size, value):
    return lambda parts: _field(offset, size, value)(parts.chunks[i])


def _shorter_raw_chunk(parts):
    chunk = parts.chunks[1]
    del chunk[-5]
    chunk[3:7] = (len(chunk) - 11).to_bytes(4, "little")


# Every header and chunk field the spec defines, set to an invalid value (CRCs recomputed unless
# noted): the error each one gets (docs/format.md, "What a decoder refuses").
FIELD_CASES = {
    "version": (_header(8, 1, 4), "unsupported .rgc version 4"),
    "colour mode": (_header(9, 1, 7), "unknown colour mode 7"),
    "coder id": (_header(10, 1, 9), "entropy coder 9"),
    "iterations 0": (_header(11, 1, 0), "iteration count 0"),
    "iterations 17": (_header(11, 1, 17), "iteration count 17"),
    "width": (_header(12, 4, 0), "outside the limits"),
    "height": (_header(16, 4, 1 << 16), "outside the limits"),
    "padding": (_header(20, 1, 3), "padding does not match"),
    "tile": (_header(22, 2, 24), "tile size 24"),
    "code channels": (_header(24, 1, 0), "code channel count 0"),
    "code channels of another model": (_header(24, 1, 9), "does not match the model"),
    "model id": (_header(25, 8, 7), "other weights"),
    "chunk flags": (_header(33, 1, 10), "unknown chunk flags 0x0a"),
    "alpha flag": (_header(33, 1, 0), "alpha flag disagrees with colour mode RGBA"),
    "ICC flag": (_header(33, 1, 3), "ICC chunk: missing: the header lists an ICC profile"),
    "alpha mode": (_chunk(0, 1, 1, 1), "alpha chunk: .*mode 1 and index 0"),
    "alpha index": (_chunk(0, 2, 1, 1), "alpha chunk: .*mode 0 and index 1"),
    "alpha payload": (_chunk(0, 7, 1, 0), "alpha chunk: .*does not decompress"),
    "chunk type": (_chunk(1, 0, 1, ord("X")), "iteration 1: .*has unknown type 88"),
    "chunk mode": (_chunk(1, 1, 1, 2), "iteration 1: .*unknown mode 2"),
    "chunk index 0": (_chunk(1, 2, 1, 0), "iteration 1: .*claims iteration 0"),
    "chunk index too big": (_chunk(2, 2, 1, 9), "iteration 2: .*claims iteration 9"),
    "chunk length": (_chunk(1, 3, 4, 1 << 20), "iteration 1: .*more than its limit"),
    "raw chunk length": (_shorter_raw_chunk, "iteration 1: .*raw chunk at byte .* holds 1 bytes, not 2"),
}


@pytest.mark.parametrize("case", FIELD_CASES)
def test_every_field_is_checked(tiny_codec, case):
    rgba = Picture(smooth_image(16, 32), "RGBA", np.full((16, 32), 7, np.uint8))
    parts = Parts.of(tiny_codec.encode(rgba, 2))
    edit, message = FIELD_CASES[case]
    edit(parts)
    parts.fix_crcs()
    with pytest.raises(FormatError, match=message):
        tiny_codec.decode(parts.join())


@pytest.mark.parametrize("case, message", [
    ("header edited, its CRC recomputed", "alpha chunk: .*CRC mismatch"),
    ("alpha chunk in an RGB file", "iteration 1: alpha chunk at byte 46 in a file without alpha"),
    ("alpha chunk dropped", "alpha chunk: missing"),
    ("second alpha chunk", "iteration 2: second or misplaced alpha chunk"),
])
def test_chunks_belong_to_their_file_and_the_alpha_chunk_to_its_place(tiny_codec, case, message):
    rgba = Picture(smooth_image(16, 32), "RGBA", np.full((16, 32), 7, np.uint8))
    parts = Parts.of(tiny_codec.encode(rgba if "RGB file" not in case else rgb_picture(16, 32), 2))
    if case.startswith("header"):
        parts.header[22:24] = (32).to_bytes(2, "little")  # another valid tile
        parts.header[-4:] = struct.pack("<I", zlib.crc32(parts.header[:-4]))
    elif case == "alpha chunk in an RGB file":
        parts.chunks.insert(0, Parts.of(tiny_codec.encode(rgba, 1)).chunks[0])
        parts.fix_crcs()
    elif case == "alpha chunk dropped":
        del parts.chunks[0]
    else:
        parts.chunks.insert(2, parts.chunks[0])
    with pytest.raises(DamageError, match=message):
        tiny_codec.decode(parts.join())


def test_the_codes_are_the_bits_of_the_models_iterations_without_the_last_decoder_step(tiny_config):
    import torch

    from rnncodec.engines import as_engine
    from rnncodec.model import Model
    from rnncodec.network import Network
    from rnncodec.pixels import image_to_network

    torch.manual_seed(0)
    model = Network(tiny_config).eval()
    x = image_to_network(smooth_image(32, 48))
    engine = as_engine(model)
    calls = []
    decode_step = engine.decode_step
    engine.decode_step = lambda *args: calls.append(args[1]) or decode_step(*args)
    with torch.no_grad():
        expected = [bits.numpy() for bits, _ in model.iterate(torch.from_numpy(x), 4)]
    got = list(Model.of(engine).encode_bits(x, 4))
    assert len(got) == 4 and all(np.array_equal(a, b) for a, b in zip(expected, got))
    assert calls == [1, 2, 3]  # no decoder step after the last iteration


def test_a_tiny_file_claiming_a_huge_image_is_refused_before_allocating():
    """A 1-iteration file of a flat 32×32 image from the shipped default (65 bytes), edited (every CRC
    made to match) to claim 8192×8192: refused from its payload's length, in well under 10 MB."""
    import tracemalloc

    from rgc_fuzz import Parts

    codec = ModelPipeline.load()
    parts = Parts.of(codec.encode(Picture(np.full((32, 32, 3), 128, np.uint8), "RGB"), 1))
    parts.header[12:20] = struct.pack("<II", 8192, 8192)
    parts.fix_crcs()
    data = parts.join()
    assert len(data) < 80
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="iteration 1: its .* bytes are too few for 262144 blocks' codes"):
            codec.decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_a_payload_shorter_than_its_grid_is_refused():
    """A small file edited (every CRC made to match) to claim a taller image than its codes cover."""
    from rgc_fuzz import Parts

    codec = ModelPipeline.load()
    parts = Parts.of(codec.encode(Picture(smooth_image(24, 40), "RGB"), 2))
    parts.header[16:20] = struct.pack("<I", 536)
    parts.header[21] = -536 % 16
    parts.fix_crcs()
    with pytest.raises(FormatError, match="iteration 1: its codes do not decode|too few"):
        codec.decode(parts.join())


def test_chunks_of_a_file_with_the_same_header_are_refused_naming_the_iteration():
    """Two 48×40 photos through the shipped default: their headers differ only in the file id, so
    iterations 5–8 of one in the other fail their CRCs instead of decoding to a mixed picture."""
    from rgc_fuzz import Parts

    codec = ModelPipeline.load()
    a, b = (Parts.of(codec.encode(Picture(smooth_image(40, 48, seed), "RGB"), 8)) for seed in (1, 2))
    assert a.header[:34] == b.header[:34] and a.header[34:42] != b.header[34:42]
    a.chunks[4:] = b.chunks[4:]
    with pytest.raises(DamageError, match="iteration 5: the chunk at byte .* is corrupt"):
        codec.decode(a.join())


def test_the_tile_worker_runs_one_job_at_a_time_and_raises_a_jobs_error():
    ended = []

    def job(k):
        time.sleep(0.02)
        if k == 2:
            raise ValueError("job 2 failed")
        ended.append(k)

    with TileWorker() as worker:
        for k in range(2):
            worker.submit(job, k)
            assert ended == list(range(k))  # the previous job ended before this one was taken
    assert ended == [0, 1]
    with pytest.raises(ValueError, match="job 2 failed"):
        with TileWorker() as worker:
            worker.submit(job, 2)
    with pytest.raises(ValueError, match="job 2 failed"):
        with TileWorker() as worker:
            worker.submit(job, 2)
            worker.submit(job, 3)  # raises the previous job's error
    assert 3 not in ended
