"""The Pillow plugin: .rgc files open, crop and save through Pillow alone (after `import rnncodec`)."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import rnncodec  # noqa: F401  (registers the plugin)
from conftest import smooth_image


@pytest.fixture(scope="module")
def photo_rgc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pillow")
    Image.fromarray(smooth_image(40, 56, seed=8)).save(folder / "photo.png")
    Image.open(folder / "photo.png").save(folder / "photo.rgc", iterations=3)  # the shipped default model
    return folder / "photo.rgc"


def test_open_crop_and_save_through_pillow_alone(photo_rgc, tmp_path):
    with Image.open(photo_rgc) as im:
        assert (im.format, im.size, im.mode, im.info["iterations"]) == ("RGC", (56, 40), "RGB", 3)
        im.crop((8, 4, 40, 36)).save(tmp_path / "corner.png")
        whole = np.asarray(im)
    corner = np.asarray(Image.open(tmp_path / "corner.png"))
    assert corner.shape == (32, 32, 3) and np.array_equal(corner, whole[4:36, 8:40])
    assert np.array_equal(whole, np.asarray(rnncodec.decode(photo_rgc.read_bytes())))


def test_save_takes_iterations_and_rgc_is_a_registered_extension(photo_rgc, tmp_path):
    assert Image.registered_extensions()[".rgc"] == "RGC"
    rgba = Image.fromarray(np.dstack([smooth_image(20, 24), np.full((20, 24), 99, np.uint8)]), "RGBA")
    rgba.save(tmp_path / "small.rgc", iterations=2)
    assert rnncodec.info(tmp_path / "small.rgc").header.iterations == 2
    with Image.open(tmp_path / "small.rgc") as im:
        assert im.mode == "RGBA" and np.all(np.asarray(im)[..., 3] == 99)


def test_save_takes_the_encoders_tune(tmp_path):
    im = Image.fromarray(smooth_image(32, 48, seed=4))
    im.save(tmp_path / "psnr.rgc", iterations=4, tune="psnr")
    assert (tmp_path / "psnr.rgc").read_bytes() == rnncodec.encode(im, 4, tune="psnr")
    with pytest.raises(ValueError, match="tune must be one of psnr, balanced, ssim, got 'fast'"):
        im.save(tmp_path / "bad.rgc", iterations=4, tune="fast")


def test_opening_reads_the_header_only(photo_rgc):
    engine_loaded = "any(m in sys.modules for m in ('torch', 'onnxruntime'))"  # the network's engine
    script = ("import sys, rnncodec; from PIL import Image; im = Image.open(sys.argv[1]); "
              f"print(im.size, {engine_loaded}); im.load(); print({engine_loaded})")
    out = subprocess.run([sys.executable, "-c", script, str(photo_rgc)], capture_output=True, text=True, timeout=300)
    assert out.stdout.split("\n")[:2] == ["(56, 40) False", "True"], out.stderr


def test_a_truncated_file_opens_with_its_complete_iterations(photo_rgc, tmp_path):
    data = photo_rgc.read_bytes()
    cut = tmp_path / "cut.rgc"
    cut.write_bytes(data[: rnncodec.info(data).chunks[1].end + 3])
    with pytest.warns(rnncodec.RnncodecWarning, match="decoded 2 of 3"), Image.open(cut) as im:
        pixels = np.asarray(im)
    assert np.array_equal(pixels, np.asarray(rnncodec.decode(data, iterations=2)))


def test_a_damaged_file_is_refused_by_pillow(photo_rgc, tmp_path):
    data = bytearray(photo_rgc.read_bytes())
    data[-6] ^= 1
    bad = tmp_path / "bad.rgc"
    bad.write_bytes(bytes(data))
    with Image.open(bad) as im, pytest.raises(rnncodec.DamageError, match="iteration 3"):
        im.load()


def test_the_icc_profile_is_in_info_and_saved_back(tmp_path):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(smooth_image(16, 24, seed=2)).save(tmp_path / "p.png", icc_profile=profile)
    Image.open(tmp_path / "p.png").save(tmp_path / "p.rgc", iterations=1)
    with Image.open(tmp_path / "p.rgc") as im:
        assert im.info["icc_profile"] == profile
        im.save(tmp_path / "back.png")
    assert Image.open(tmp_path / "back.png").info["icc_profile"] == profile
    data = bytearray((tmp_path / "p.rgc").read_bytes())
    data[50] ^= 1  # inside the ICC chunk: opening still works, decoding reports the damage
    (tmp_path / "bad.rgc").write_bytes(bytes(data))
    with Image.open(tmp_path / "bad.rgc") as im, pytest.raises(rnncodec.DamageError, match="the chunk at byte 46 is corrupt"):
        assert "icc_profile" not in im.info
        im.load()


def test_save_refuses_a_quality_and_takes_a_target(photo_rgc, tmp_path):
    image = Image.open(photo_rgc.with_suffix(".png"))
    with pytest.raises(ValueError, match=r"an \.rgc file has no quality \(quality=80\): give iterations="):
        image.save(tmp_path / "q.rgc", quality=80)
    assert not (tmp_path / "q.rgc").exists()
    image.save(tmp_path / "small.rgc", size=600)
    assert 0 < (tmp_path / "small.rgc").stat().st_size <= 600


def test_save_takes_the_encoders_effort(tmp_path):
    im = Image.fromarray(smooth_image(32, 48, seed=6))
    im.save(tmp_path / "searched.rgc", iterations=3, effort=2)
    assert (tmp_path / "searched.rgc").read_bytes() == rnncodec.encode(im, 3, effort=2)
    with pytest.raises(ValueError, match="effort must be 0 or more"):
        im.save(tmp_path / "bad.rgc", iterations=3, effort=-2)
