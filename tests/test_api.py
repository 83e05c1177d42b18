"""The Python API: any kind of image in, Pillow images out, prefixes with a warning, one error base class."""

import io
import warnings

import numpy as np
import pytest
from PIL import Image

import rnncodec
from conftest import smooth_image
from rnncodec import RnncodecError, RnncodecWarning


@pytest.fixture(scope="module")
def codec(tiny_weights):
    return rnncodec.Codec(tiny_weights)


def image_inputs(tmp_path):
    rgb = smooth_image(24, 40, seed=3)
    path = tmp_path / "in.png"
    Image.fromarray(rgb).save(path)
    return rgb, {"array": rgb, "pil": Image.fromarray(rgb), "path": path, "str": str(path), "bytes": path.read_bytes()}


def test_every_kind_of_image_input_encodes_to_the_same_file(codec, tmp_path):
    rgb, inputs = image_inputs(tmp_path)
    files = {kind: codec.encode(image, iterations=2) for kind, image in inputs.items()}
    assert len(set(files.values())) == 1
    decoded = codec.decode(files["array"])
    assert isinstance(decoded, Image.Image) and (decoded.mode, decoded.size) == ("RGB", (40, 24))


@pytest.mark.parametrize("channels, mode", [(None, "L"), (1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")])
def test_numpy_arrays_keep_their_colour_mode(codec, channels, mode):
    array = smooth_image(16, 20, seed=1, channels=channels or 1)
    array = array[..., 0] if channels is None else array
    decoded = codec.decode(codec.encode(array, iterations=1))
    assert decoded.mode == mode and decoded.size == (20, 16)
    if mode in ("LA", "RGBA"):
        assert np.array_equal(np.asarray(decoded)[..., -1], array[..., -1])  # alpha is lossless


def test_module_functions_with_a_model_match_the_codec(codec, tiny_weights):
    rgb = smooth_image(32, 32, seed=4)
    data = rnncodec.encode(rgb, iterations=3, model=tiny_weights)
    assert data == codec.encode(rgb, iterations=3)
    assert np.array_equal(np.asarray(rnncodec.decode(data, model=tiny_weights)), np.asarray(codec.decode(data)))


def test_a_prefix_decodes_with_a_warning_and_every_iteration_is_available(codec):
    data = codec.encode(smooth_image(32, 48, seed=5), iterations=4)
    about = rnncodec.info(data)
    steps = codec.decode_iterations(data)
    assert len(steps) == 4
    with pytest.warns(RnncodecWarning, match="truncated file: decoded 2 of 4 iterations"):
        prefix = codec.decode(data[: about.chunks[1].end])
    assert np.array_equal(np.asarray(prefix), np.asarray(steps[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(np.asarray(codec.decode(data, iterations=3)), np.asarray(steps[2]))


def test_info_describes_a_file_without_weights(codec):
    data = codec.encode(smooth_image(20, 30, seed=6), iterations=3)
    about = rnncodec.info(data)
    assert (about.header.width, about.header.height, about.header.mode, about.header.iterations) == (30, 20, "RGB", 3)
    assert about.size == len(data) and about.chunks[-1].end == len(data)
    assert [c.index for c in about.chunks] == [1, 2, 3]
    assert about.chunks[-1].bpp == pytest.approx(about.bpp) and about.chunks[0].bpp < about.chunks[1].bpp
    assert about.model is None and about.damage is None and not about.truncated  # tiny weights are not shipped
    cut = rnncodec.info(data[: about.chunks[0].end])
    assert cut.truncated and len(cut.chunks) == 1


def test_a_file_from_weights_not_shipped_names_its_model_id(codec):
    data = codec.encode(smooth_image(16, 16), iterations=1)
    with pytest.raises(rnncodec.UnknownModelError, match=rnncodec.info(data).header.model_id.hex()):
        rnncodec.decode(data)


@pytest.mark.parametrize("call", [
    lambda c: c.decode(b"not an rgc file"),
    lambda c: c.encode(b"not an image"),
    lambda c: c.encode(np.zeros((4, 4, 3), np.float32)),
    lambda c: rnncodec.Codec("/no/such/weights.safetensors").encode(np.zeros((4, 4), np.uint8)),
    lambda c: rnncodec.info(b"\x89RGC\r\n\x1a\n" + bytes(40)),
])
def test_every_refusal_is_an_rnncodec_error(codec, call):
    with pytest.raises(RnncodecError):
        call(codec)


def test_a_damaged_file_is_refused_unless_salvaged(codec):
    data = bytearray(codec.encode(smooth_image(32, 32, seed=7), iterations=3))
    data[rnncodec.info(bytes(data)).chunks[2].end - 5] ^= 1
    with pytest.raises(rnncodec.DamageError) as caught:
        codec.decode(bytes(data))
    assert caught.value.intact == 2
    with pytest.warns(RnncodecWarning, match="iteration 3"):
        assert codec.decode(bytes(data), salvage=True).size == (32, 32)


@pytest.mark.parametrize("call, error, message", [
    (lambda c, d: c.decode(d, iterations=0), ValueError, "iterations must be an int from 1 to 16, got 0"),
    (lambda c, d: c.encode(smooth_image(16, 16), iterations=17), ValueError, "iterations must be an int from 1 to 16, got 17"),
    (lambda c, d: c.encode(smooth_image(16, 16), iterations="4"), TypeError,
     r"iterations must be an int from 1 to 16, got '4' \(a str\)"),
    (lambda c, d: c.decode(d, iterations=2.0), TypeError, r"iterations must be an int from 1 to 16, got 2.0 \(a float\)"),
    (lambda c, d: c.decode_iterations(d, iterations=True), TypeError, "iterations must be an int"),
    (lambda c, d: c.encode(smooth_image(16, 16), size="2000"), TypeError, r"size must be a positive int \(bytes\), got '2000'"),
    (lambda c, d: c.encode(smooth_image(16, 16), size=0), ValueError, r"size must be a positive int \(bytes\), got 0"),
    (lambda c, d: c.decode(d, bpp=-1.0), ValueError, "bpp must be a positive number, got -1.0"),
    (lambda c, d: c.encode(smooth_image(16, 16), psnr=None, bpp="0.5"), TypeError, "bpp must be a positive number, got '0.5'"),
    (lambda c, d: c.encode(smooth_image(16, 16), iterations=2, size=1000), ValueError, "give at most one of"),
    (lambda c, d: rnncodec.Codec(tune="fast"), ValueError, "tune must be one of psnr, balanced, ssim, got 'fast'"),
    (lambda c, d: rnncodec.encode(smooth_image(16, 16), 1, tune=None), TypeError, r"tune must be one of .*, got None \(a NoneType\)"),
    (lambda c, d: c.encode(12), TypeError, "cannot encode a int"),
    (lambda c, d: c.decode(io.BytesIO(b"")), TypeError, "cannot decode a BytesIO"),
])
def test_wrong_arguments_are_type_and_value_errors_not_refusals(codec, call, error, message):
    data = codec.encode(smooth_image(16, 16), iterations=1)
    with pytest.raises(error, match=message) as caught:
        call(codec, data)
    assert not isinstance(caught.value, RnncodecError)


def test_a_path_that_cannot_be_read_is_a_refusal_and_an_os_error(codec, tmp_path):
    for call in (lambda: codec.encode(tmp_path / "photo.png"), lambda: codec.decode(str(tmp_path / "photo.rgc")),
                 lambda: rnncodec.info(tmp_path / "photo.rgc")):
        with pytest.raises(rnncodec.MissingFileError, match="photo.(png|rgc): no such file$") as caught:
            call()
        assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, RnncodecError)
        assert caught.value.filename.startswith(str(tmp_path))
    with pytest.raises(rnncodec.UnreadableFileError, match="is a directory") as caught:
        codec.encode(tmp_path)
    assert isinstance(caught.value, OSError) and isinstance(caught.value, RnncodecError)
    assert not isinstance(caught.value, FileNotFoundError)


def test_a_file_is_parsed_once_and_encode_and_decode_say_what_they_made(codec, monkeypatch):
    from rnncodec import bitstream

    parsed = []
    read = bitstream.read
    monkeypatch.setattr(bitstream, "read", lambda data: parsed.append(len(data)) or read(data))
    image = smooth_image(32, 48, seed=4)
    plain = codec.encode_file(image, 5)
    assert parsed == [] and plain.iterations == 5 and plain.bpp == len(plain.data) * 8 / (32 * 48)
    target = codec.encode_file(image, psnr=1.0)  # reached at once: the first iteration
    assert parsed == [len(codec.encode(image, codec._encoder().max_iterations))] and target.iterations == 1
    parsed.clear()
    decoded = codec.decode_file(plain.data, size=len(plain.data) - 1)  # the last iteration cut off
    assert parsed == [len(plain.data), len(plain.data) - 1]  # the file, then the prefix a client holds
    assert decoded.iterations == 4 and decoded.image.info["iterations"] == 4
    assert decoded.bpp == read(plain.data).chunk_ends[3] * 8 / (32 * 48)
