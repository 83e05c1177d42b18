"""Codec and .rgc container: exactness, progressive prefixes, truncation and corruption."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from rnncodec.bitstream import HEADER_SIZE, MAGIC, FormatError, parse_header
from rnncodec.codec import Codec
from rnncodec.images import Picture, read_picture


def rgb_picture(h, w, seed=0):
    return Picture(smooth_image(h, w, seed), "RGB")


@pytest.mark.parametrize("h,w,iterations", [(16, 16, 1), (37, 50, 3), (64, 33, 5), (5, 130, 2)])
def test_decode_returns_the_encoders_codes_exactly(tiny_codec, h, w, iterations):
    picture = rgb_picture(h, w)
    data = tiny_codec.encode(picture, iterations)
    header, _, codes, ends, warnings = tiny_codec.read(data)
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
    small = Codec.load(tiny_weights, tile=32)
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
    (lambda d: d[:8] + bytes([9]) + d[9:], "version"),
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
    other = Codec(tiny_codec.model, b"\x01" * 8)
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
    with pytest.warns(UserWarning, match="8-bit"):
        picture = read_picture(buf.getvalue())
    assert picture.mode == "L" and picture.rgb.dtype == np.uint8
    assert picture.rgb[..., 0].max() == round(int(a.max()) * 255 / 65535)
