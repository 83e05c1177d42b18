"""Photos as they display: EXIF orientation applied, the ICC profile carried in its own chunk and
written back, and one warning for each conversion that loses something."""

import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps, features

import rnncodec
from conftest import smooth_image
from rgc_fuzz import V1_GOLDEN, Parts
from rnncodec import RnncodecWarning
from rnncodec.api import to_picture
from rnncodec.bitstream import HEADER_SIZE, MAX_ICC, DamageError, FormatError, read
from rnncodec.images import ICC_FORMATS, encode_output

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def codec(tiny_weights):
    return rnncodec.Codec(tiny_weights)


def saved(image: Image.Image, format: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=format, **options)
    return buf.getvalue()


def conversion_warnings(data: bytes) -> list[str]:
    with pytest.warns(RnncodecWarning) as caught:
        to_picture(data)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_before_coding(orientation):
    stored = Image.fromarray(smooth_image(24, 40, seed=orientation))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = saved(stored, "PNG", exif=exif.tobytes())
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    picture = to_picture(data)
    assert np.array_equal(picture.rgb, np.asarray(shown))
    assert picture.rgb.shape[:2] == ((40, 24) if orientation >= 5 else (24, 40))


def test_a_rotated_photo_decodes_in_display_orientation(codec):
    exif = Image.Exif()
    exif[0x0112] = 6  # a phone held upright: stored 40×24, shown 24×40
    data = saved(Image.fromarray(smooth_image(24, 40)), "JPEG", exif=exif.tobytes())
    assert codec.decode(codec.encode(data, 1)).size == (24, 40)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_the_icc_profile_survives_a_round_trip(codec, mode):
    image = Image.fromarray(smooth_image(16, 24)).convert(mode)
    data = codec.encode(saved(image, "PNG", icc_profile=SRGB), 2)
    assert read(data).icc == SRGB and rnncodec.info(data).icc_bytes > 11
    decoded = codec.decode(data)
    assert decoded.info["icc_profile"] == SRGB
    for format in ICC_FORMATS:
        if format == "JPEG" and mode == "RGBA" or format == "AVIF" and not features.check("avif"):
            continue
        written = encode_output(decoded, format)
        assert Image.open(io.BytesIO(written)).info["icc_profile"] == SRGB, format


def test_a_file_without_a_profile_has_no_icc_chunk_and_decodes_as_before(codec):
    data = codec.encode(smooth_image(16, 24), 2)
    assert read(data).icc is None and rnncodec.info(data).icc_bytes is None
    assert "icc_profile" not in codec.decode(data).info
    with_profile = codec.encode(saved(Image.fromarray(smooth_image(16, 24)), "PNG", icc_profile=SRGB), 2)
    assert len(with_profile) > len(data)
    assert np.array_equal(np.asarray(codec.decode(with_profile)), np.asarray(codec.decode(data)))


def test_a_format_without_profiles_is_written_without_one_and_a_warning(codec):
    decoded = codec.decode(codec.encode(saved(Image.fromarray(smooth_image(16, 24)), "PNG", icc_profile=SRGB), 1))
    with pytest.warns(RnncodecWarning, match="BMP cannot hold the image's ICC profile"):
        encode_output(decoded, "BMP")


def sixteen_bit_png(channels: int) -> bytes:
    """A PNG of 16 bits per sample, written by hand (Pillow writes 16-bit gray only)."""
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    samples = (np.arange(8 * 6 * channels, dtype=">u2") * 997).reshape(6, 8 * channels)
    raw = b"".join(b"\0" + row.tobytes() for row in samples)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 6, 16, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def cmyk_with_profile():
    return saved(Image.fromarray(smooth_image(8, 8)).convert("CMYK"), "JPEG", icc_profile=SRGB)  # a profile of RGB, for the test


@pytest.mark.parametrize("make, message", [
    (lambda: sixteen_bit_png(1), r"^input is 16-bit grayscale \(Pillow mode I;16\); reduced to 8 bits per sample$"),
    (lambda: sixteen_bit_png(2), "^input is 16-bit (LA|RGBA); reduced to 8 bits per sample$"),  # Pillow reads RGBA
    (lambda: sixteen_bit_png(3), "^input is 16-bit RGB; reduced to 8 bits per sample$"),
    (lambda: sixteen_bit_png(4), "^input is 16-bit RGBA; reduced to 8 bits per sample$"),
    (lambda: saved(Image.fromarray((np.arange(64).reshape(8, 8) * 1000).astype(np.int32)), "TIFF"),
     r"^input is 32-bit integer grayscale \(Pillow mode I\); reduced to 8 bits per sample$"),
    (lambda: saved(Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)), "TIFF"),
     r"^input is 32-bit floating-point grayscale \(Pillow mode F\); reduced to 8 bits per sample$"),
    (lambda: saved(Image.fromarray(smooth_image(8, 8)).convert("CMYK"), "JPEG"), "input is CMYK; converted to RGB$"),
    (cmyk_with_profile, "input is CMYK; converted to RGB without its ICC profile"),
    (lambda: saved(Image.fromarray(smooth_image(8, 8)).convert("P"), "PNG"), r"palette image \(P\); converted to RGB"),
    (lambda: saved(Image.fromarray(smooth_image(8, 8)).convert("P"), "PNG", transparency=0), "converted to RGBA"),
])
def test_each_lossy_conversion_warns_once(make, message):
    messages = conversion_warnings(make())
    assert len(messages) == 1 and re.search(message, messages[0]), messages


def test_a_lossless_input_gives_no_warning(recwarn):
    for image in (Image.fromarray(smooth_image(8, 8)), Image.new("1", (8, 8)), Image.new("LA", (8, 8))):
        to_picture(saved(image, "PNG"))
    assert not [w for w in recwarn if issubclass(w.category, RnncodecWarning)]


def test_frames_dropped_from_an_animation_warn_once():
    frames = [Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)) for i in range(3)]
    data = saved(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert conversion_warnings(data) == ["input has 3 frames; coded frame 1 only"]


def test_a_profile_too_large_for_a_file_is_dropped_with_a_warning():
    image = Image.fromarray(smooth_image(8, 8))
    image.info["icc_profile"] = bytes(MAX_ICC + 1)
    with pytest.warns(RnncodecWarning, match="ICC profile .* larger than"):
        assert to_picture(image).icc is None


# --- the ICC chunk's rules (docs/format.md) -----------------------------------------------------------
@pytest.fixture(scope="module")
def with_profile(codec):
    rgba = Image.fromarray(np.dstack([smooth_image(16, 24), np.full((16, 24), 9, np.uint8)]), "RGBA")
    return codec.encode(saved(rgba, "PNG", icc_profile=SRGB), 2)


def test_the_icc_chunk_comes_first_and_is_framed_like_the_others(with_profile):
    contents = read(with_profile)
    assert contents.icc_chunk.start == HEADER_SIZE and contents.alpha_chunk.start == contents.icc_chunk.end
    head = with_profile[HEADER_SIZE : HEADER_SIZE + 7]
    assert head[:3] == b"C\x00\x00" and int.from_bytes(head[3:], "little") == len(contents.icc_chunk.payload)
    assert zlib.decompress(contents.icc_chunk.payload) == SRGB


def _edited(data: bytes, edit) -> bytes:
    parts = Parts.of(data)
    edit(parts)
    parts.fix_crcs()
    return parts.join()


def _set(chunk: int, offset: int, value: int):
    def edit(parts):
        parts.chunks[chunk][offset] = value
    return edit


def _payload(payload: bytes):
    def edit(parts):
        parts.chunks[0][:] = parts.chunks[0][:3] + len(payload).to_bytes(4, "little") + payload + bytes(4)
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set(0, 1, 1), "ICC chunk: ICC chunk at byte 46 has mode 1 and index 0"),
    (_set(0, 2, 1), "ICC chunk: ICC chunk at byte 46 has mode 0 and index 1"),
    (_payload(b"not zlib"), "ICC chunk: ICC chunk does not decompress"),
    (_payload(zlib.compress(b"")), "ICC chunk: ICC chunk does not hold a profile of 1..1048576 bytes"),
    (_payload(zlib.compress(bytes(MAX_ICC + 1))), "does not hold a profile of 1..1048576 bytes"),
    (lambda parts: parts.chunks.insert(1, parts.chunks[0]), "alpha chunk: second or misplaced ICC chunk"),
    (lambda parts: parts.chunks.insert(3, parts.chunks[0]), "iteration 2: second or misplaced ICC chunk"),
    (lambda parts: parts.chunks.__setitem__(slice(0, 2), parts.chunks[1::-1]), "ICC chunk: missing: the header lists an ICC profile"),
    (lambda parts: parts.chunks.pop(0), "ICC chunk: missing: the header lists an ICC profile"),
])
def test_a_bad_icc_chunk_is_damage_named_as_such(codec, with_profile, edit, message):
    with pytest.raises(DamageError, match=message):
        codec.decode(_edited(with_profile, edit))


def test_a_version_1_file_has_no_icc_chunk(codec, with_profile):
    parts = Parts.of(with_profile)
    icc = parts.chunks[0]
    v1 = Parts.of(V1_GOLDEN.read_bytes())
    v1.chunks.insert(0, icc[:2] + icc[3:])  # the version-1 framing: no index byte
    v1.fix_crcs()
    with pytest.raises(FormatError, match="unknown type 67"):
        read(v1.join()).select()


# --- EXIF and XMP: kept on request (format version 3's metadata chunk) --------------------------
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def photo_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[ExifTags.Base.Orientation] = 6  # turned: the codec codes the upright picture
    return saved(Image.fromarray(smooth_image(24, 40)), "JPEG", exif=exif.tobytes(), xmp=XMP, icc_profile=SRGB)


def test_exif_and_xmp_are_kept_on_request_and_come_back_in_the_outputs(codec):
    data = codec.encode(photo_with_metadata(), 2, metadata="all")
    assert rnncodec.info(data).metadata == ("exif", "xmp")
    decoded = codec.decode(data)
    assert decoded.size == (24, 40) and decoded.info["xmp"] == XMP
    for fmt in ("JPEG", "PNG", "WEBP"):
        back = Image.open(io.BytesIO(encode_output(decoded, fmt)))
        exif = back.getexif()
        assert exif[0x010F] == "Camera maker" and ExifTags.Base.Orientation not in exif, fmt
        assert back.info["xmp"] == XMP and back.info["icc_profile"] == SRGB, fmt


@pytest.mark.parametrize("choice, kept", [("icc", ("icc",)), ("none", ()), ("exif,xmp", ("exif", "xmp")), ("xmp", ("xmp",))])
def test_metadata_keeps_what_it_names(codec, choice, kept):
    contents = read(codec.encode(photo_with_metadata(), 1, metadata=choice))
    assert (contents.icc is not None) == ("icc" in kept)
    assert tuple(contents.metadata or ()) == tuple(k for k in ("exif", "xmp") if k in kept)


def test_a_bad_metadata_choice_is_refused_naming_it(codec):
    with pytest.raises(ValueError, match="metadata must be all, none or a comma-separated list of icc, exif, xmp; got 'gps'"):
        codec.encode(photo_with_metadata(), 1, metadata="gps")


@pytest.mark.parametrize("edit, message", [
    (lambda parts: parts.chunks.pop(1), "metadata chunk: missing: the header lists metadata"),
    (lambda parts: parts.chunks.insert(3, parts.chunks[1]), "iteration 2: second or misplaced metadata chunk"),
    (lambda parts: parts.chunks[1].__setitem__(slice(7, -4), zlib.compress(b"Q\\1\\0\\0\\0x")), "metadata chunk has a bad entry"),
])
def test_a_bad_metadata_chunk_is_damage_named_as_such(codec, edit, message):
    data = codec.encode(photo_with_metadata(), 2, metadata="all")
    parts = Parts.of(data)
    edit(parts)
    if "bad entry" in message:
        payload = parts.chunks[1][7:-4]
        parts.chunks[1][3:7] = len(payload).to_bytes(4, "little")
    parts.fix_crcs()
    with pytest.raises(DamageError, match=message):
        codec.decode(parts.join())


def test_metadata_an_unlisted_chunk_is_damage(codec):
    parts = Parts.of(codec.encode(photo_with_metadata(), 2, metadata="all"))
    parts.header[33] &= ~4  # the header no longer lists it
    parts.fix_crcs()
    with pytest.raises(DamageError, match="is metadata the header does not list"):
        codec.decode(parts.join())


def test_the_pillow_plugin_shows_and_saves_the_metadata(codec, tmp_path, tiny_weights):
    (tmp_path / "a.rgc").write_bytes(codec.encode(photo_with_metadata(), 2, metadata="all"))
    with Image.open(tmp_path / "a.rgc") as im:  # the header and leading chunks only: no decoding
        assert im.info["xmp"] == XMP and im.info["icc_profile"] == SRGB
        assert im.getexif()[0x010F] == "Camera maker"
    with Image.open(io.BytesIO(photo_with_metadata())) as im:
        im.save(tmp_path / "b.rgc", iterations=1, metadata="exif", model=tiny_weights)
    assert tuple(read((tmp_path / "b.rgc").read_bytes()).metadata) == ("exif",)
