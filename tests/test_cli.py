"""The command line: round trips, pipes, and one-line errors for every kind of bad input."""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from rnncodec.cli import main


def run(argv, capsys):
    """Run the CLI in-process; return (exit code, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code or 0
    return code, capsys.readouterr().err


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(smooth_image(40, 56)).save(path)
    return path


def test_encode_decode_round_trip(photo, tiny_weights, capsys):
    code, err = run(["encode", str(photo), "-q", "3", "--model", str(tiny_weights)], capsys)
    assert code == 0 and err == ""
    rgc = photo.with_suffix(".rgc")
    assert rgc.exists()
    out = photo.parent / "back.png"
    assert run(["decode", str(rgc), "-o", str(out), "--model", str(tiny_weights)], capsys)[0] == 0
    assert Image.open(out).size == (56, 40)
    code, _ = run(["info", str(rgc)], capsys)
    assert code == 0


def test_existing_output_is_kept_unless_forced(photo, tiny_weights, capsys):
    out = photo.parent / "x.rgc"
    out.write_bytes(b"precious")
    code, err = run(["encode", str(photo), "-o", str(out), "--model", str(tiny_weights)], capsys)
    assert code != 0 and "exists" in err and out.read_bytes() == b"precious"
    assert run(["encode", str(photo), "-o", str(out), "-f", "--model", str(tiny_weights)], capsys)[0] == 0
    assert out.read_bytes()[:4] == b"\x89RGC"


def test_input_is_never_overwritten(photo, tiny_weights, capsys):
    before = photo.read_bytes()
    code, err = run(["encode", str(photo), "-o", str(photo), "-f", "--model", str(tiny_weights)], capsys)
    assert code != 0 and "input" in err and photo.read_bytes() == before


def one_line_error(code, err):
    return code != 0 and err.count("\n") == 1 and err.startswith("rnncodec: error:") and "Traceback" not in err


@pytest.mark.parametrize("case", ["missing", "not_image", "not_rgc", "wrong_version", "corrupt_chunk",
                                  "truncated_header", "unwritable", "wrong_model", "unknown_model", "directory",
                                  "bad_extension"])
def test_bad_input_gives_one_line_error(case, photo, tiny_weights, tmp_path, capsys):
    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(photo), "-q", "2"] + model, capsys)[0] == 0
    rgc = photo.with_suffix(".rgc")
    data = rgc.read_bytes()
    bad = tmp_path / "bad.rgc"
    out = str(tmp_path / "out.png")
    if case == "missing":
        argv = ["decode", str(tmp_path / "nope.rgc"), "-o", out]
    elif case == "not_image":
        (tmp_path / "fake.png").write_bytes(b"this is not an image")
        argv = ["encode", str(tmp_path / "fake.png")]
    elif case == "not_rgc":
        argv = ["decode", str(photo), "-o", out]
    elif case == "wrong_version":
        bad.write_bytes(data[:8] + b"\x07" + data[9:])
        argv = ["decode", str(bad), "-o", out]
    elif case == "corrupt_chunk":
        bad.write_bytes(data[:-10] + bytes([data[-10] ^ 0x10]) + data[-9:])
        argv = ["decode", str(bad), "-o", out]
    elif case == "truncated_header":
        bad.write_bytes(data[:17])
        argv = ["decode", str(bad), "-o", out]
    elif case == "unwritable":
        argv = ["encode", str(photo), "-o", str(tmp_path / "no" / "such" / "dir.rgc")]
    elif case == "wrong_model":
        from rnncodec.network import Network
        from rnncodec.weights import save_weights
        from conftest import TINY

        other = tmp_path / "other.safetensors"
        save_weights(Network(TINY), other, step=1)
        model = ["--model", str(other)]
        argv = ["decode", str(rgc), "-o", out]
    elif case == "unknown_model":
        model = []  # the file names the tiny model, which is not shipped
        argv = ["decode", str(rgc), "-o", out]
    elif case == "directory":
        argv = ["encode", str(tmp_path)]
    elif case == "bad_extension":
        argv = ["decode", str(rgc), "-o", str(tmp_path / "out.xyz")]
    code, err = run(argv + model, capsys)
    assert one_line_error(code, err), err
    if case == "unknown_model":
        from rnncodec.registry import load

        assert f"photo.rgc: made by model {load().id_of(tiny_weights).hex()}, which this release does not carry" in err


def test_truncated_file_decodes_with_a_warning(photo, tiny_weights, tmp_path, capsys):
    model = ["--model", str(tiny_weights)]
    run(["encode", str(photo), "-q", "3"] + model, capsys)
    data = photo.with_suffix(".rgc").read_bytes()
    cut = tmp_path / "cut.rgc"
    cut.write_bytes(data[:-5])
    code, err = run(["decode", str(cut), "-o", str(tmp_path / "cut.png")] + model, capsys)
    assert code == 0 and "warning" in err and "truncated" in err


def test_stdin_stdout_pipe_through_real_processes(photo, tiny_weights):
    cmd = [sys.executable, "-m", "rnncodec"]
    model = ["--model", str(tiny_weights)]
    encode = subprocess.Popen(cmd + ["encode", "-", "-o", "-", "-q", "2"] + model, stdin=open(photo, "rb"), stdout=subprocess.PIPE)
    decode = subprocess.run(cmd + ["decode", "-"] + model, stdin=encode.stdout, capture_output=True, timeout=120)
    encode.stdout.close()
    assert encode.wait(timeout=120) == 0 and decode.returncode == 0, decode.stderr
    image = Image.open(io.BytesIO(decode.stdout))
    assert image.format == "PNG" and image.size == (56, 40)
    assert decode.stderr == b""  # quiet when stderr is not a terminal


def test_outputs_get_the_usual_file_permissions(photo, tiny_weights, capsys):
    old = os.umask(0o022)
    try:
        assert run(["encode", str(photo), "-q", "1", "--model", str(tiny_weights)], capsys)[0] == 0
    finally:
        os.umask(old)
    assert photo.with_suffix(".rgc").stat().st_mode & 0o777 == 0o644


def test_fit_coder_writes_weights_that_code_smaller(image_folder, tiny_weights, tmp_path, capsys):
    from rnncodec.weights import load_coder_tables, read_metadata

    fitted = tmp_path / "fitted.safetensors"
    code, _ = run(["fit-coder", str(tiny_weights), "--data", str(image_folder), "-o", str(fitted), "--images", "4"], capsys)
    assert code == 0
    assert read_metadata(fitted)["coder_fit"]["images"] == 4
    assert load_coder_tables(fitted, 8).prior.max() > 1
    code, err = run(["fit-coder", str(tiny_weights), "--data", str(image_folder), "-o", str(fitted)], capsys)
    assert code == 1 and "exists" in err
    photo = tmp_path / "other.png"
    Image.fromarray(smooth_image(96, 128, seed=9)).save(photo)
    sizes = {}
    for weights in (tiny_weights, fitted):
        out = tmp_path / f"{weights.stem}.rgc"
        assert run(["encode", str(photo), "-q", "6", "-o", str(out), "--model", str(weights)], capsys)[0] == 0
        assert run(["decode", str(out), "-o", str(tmp_path / f"{weights.stem}.png"), "--model", str(weights)], capsys)[0] == 0
        sizes[weights] = out.stat().st_size
    assert sizes[fitted] < sizes[tiny_weights]


def test_decode_uses_the_tile_the_file_was_encoded_with(tiny_weights, tmp_path, capsys):
    from rnncodec.codec import ModelPipeline
    from rnncodec.images import Picture

    small = ModelPipeline.load(tiny_weights, tile=16)
    data = small.encode(Picture(smooth_image(40, 40), "RGB"), 3)
    rgc, out = tmp_path / "tile16.rgc", tmp_path / "tile16.png"
    rgc.write_bytes(data)
    assert run(["decode", str(rgc), "-o", str(out), "--model", str(tiny_weights)], capsys) == (0, "")
    codes = small.read(data)[2]
    got = np.asarray(Image.open(out))
    assert np.array_equal(got, small.reconstruct(codes, 40, 40)[0])
    assert not np.array_equal(got, small.reconstruct(codes, 40, 40, tile=1024)[0])  # the tile matters here


def test_a_damaged_file_is_refused_unless_salvaged_and_its_intact_prefix_decodes(photo, tiny_weights, tmp_path, capsys):
    from rnncodec.bitstream import read

    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(photo), "-q", "4"] + model, capsys)[0] == 0
    data = photo.with_suffix(".rgc").read_bytes()
    third = read(data).iterations[2]
    bad = tmp_path / "bad.rgc"
    bad.write_bytes(data[: third.end - 5] + bytes([data[third.end - 5] ^ 1]) + data[third.end - 4 :])
    out = tmp_path / "out.png"
    code, err = run(["decode", str(bad), "-o", str(out)] + model, capsys)
    assert one_line_error(code, err) and "iteration 3:" in err and "-n 2 or --salvage" in err and not out.exists()
    code, err = run(["decode", str(bad), "-o", str(out), "-n", "2"] + model, capsys)
    assert code == 0 and "iteration 3:" in err and out.exists()
    reference = tmp_path / "reference.png"
    run(["decode", str(photo.with_suffix(".rgc")), "-o", str(reference), "-n", "2"] + model, capsys)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(reference)))
    code, err = run(["decode", str(bad), "-o", str(out), "-f", "--salvage"] + model, capsys)
    assert code == 0 and err.count("\n") == 1 and "warning" in err and "iteration 3:" in err
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(reference)))
    code, err = run(["info", str(bad)], capsys)
    assert one_line_error(code, err) and "iteration 3:" in err


def test_fit_coder_can_store_float16(image_folder, tiny_weights, tmp_path, capsys):
    import torch
    from safetensors import safe_open

    paths = {storage: tmp_path / f"{storage}.safetensors" for storage in ("float32", "float16")}
    for storage, path in paths.items():
        args = ["fit-coder", str(tiny_weights), "--data", str(image_folder), "-o", str(path), "--images", "2"]
        assert run(args + ["--storage", storage], capsys)[0] == 0
    with safe_open(str(paths["float16"]), framework="pt") as f:
        assert f.get_tensor("decoder.to_rgb.weight").dtype == torch.float16
    assert paths["float16"].stat().st_size < paths["float32"].stat().st_size
    photo, out = tmp_path / "photo.png", tmp_path / "photo.rgc"
    Image.fromarray(smooth_image(48, 64, seed=4)).save(photo)
    assert run(["encode", str(photo), "-q", "2", "-o", str(out), "--model", str(paths["float16"])], capsys)[0] == 0
    assert run(["decode", str(out), "-o", str(tmp_path / "back.png"), "--model", str(paths["float16"])], capsys)[0] == 0


def test_models_lists_the_shipped_models(capsys):
    from rnncodec.registry import load

    default = load().default
    main(["models"])
    assert f"* {default.id.hex()}  {default.file}" in capsys.readouterr().out


def test_models_add_registers_weights_as_the_default(tmp_path, tiny_weights, capsys):
    import shutil

    from rnncodec.registry import REGISTRY_NAME, load, models_folder

    shutil.copy(models_folder() / REGISTRY_NAME, tmp_path / REGISTRY_NAME)
    shutil.copy(tiny_weights, tmp_path / "tiny.safetensors")
    shipped = len(load(tmp_path).models)
    main(["models", "add", str(tmp_path / "tiny.safetensors"), "--description", "tiny"])
    assert "(default)" in capsys.readouterr().out
    assert load(tmp_path).default.file == "tiny.safetensors" and len(load(tmp_path).models) == shipped + 1


# --- many files, targets, photos, early and readable errors -------------------------------------------
def leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def three_images(tmp_path):
    names = []
    for i, (name, format) in enumerate([("a.png", "PNG"), ("b.jpg", "JPEG"), ("c.webp", "WEBP")]):
        Image.fromarray(smooth_image(24 + 8 * i, 32, seed=i)).save(tmp_path / name, format=format)
        names.append(str(tmp_path / name))
    return names


def test_many_inputs_each_get_their_output_and_a_bad_one_does_not_stop_the_others(three_images, tiny_weights, tmp_path, capsys):
    model = ["--model", str(tiny_weights)]
    (tmp_path / "text.png").write_text("not an image at all")
    (tmp_path / "empty.jpg").write_bytes(b"")
    inputs = [three_images[0], str(tmp_path / "text.png"), three_images[1], str(tmp_path / "empty.jpg"), three_images[2]]
    code, err = run(["encode", *inputs, "-q", "2", "-v"] + model, capsys)
    assert code == 1 and "Traceback" not in err and "BytesIO" not in err
    lines = err.splitlines()
    assert f"rnncodec: error: {tmp_path / 'text.png'}: not an image file" in lines
    assert f"rnncodec: error: {tmp_path / 'empty.jpg'}: empty file" in lines
    assert sum(line.startswith("rnncodec: error:") for line in lines) == 2
    assert re.fullmatch(r"encoded 3 files, 2 failed: \d+ bytes in, \d+ bytes out, \d+\.\d{4} bpp over all 3072 pixels", lines[-1])
    rgcs = [tmp_path / f"{name}.rgc" for name in "abc"]
    assert all(p.exists() for p in rgcs) and not (tmp_path / "text.rgc").exists() and not leftovers(tmp_path)
    code, err = run(["decode", *map(str, rgcs)] + model, capsys)
    assert code == 1 and err == f"rnncodec: error: {tmp_path / 'a.png'}: already exists (use -f to overwrite)\n"
    (tmp_path / "out").mkdir()
    code, err = run(["decode", *map(str, rgcs), "-o", f"{tmp_path / 'out'}/", "-v"] + model, capsys)
    assert code == 0 and err.splitlines()[-1].startswith("decoded 3 files: ")
    assert [Image.open(tmp_path / "out" / f"{name}.png").size for name in "abc"] == [(32, 24), (32, 32), (32, 40)]


def test_outputs_of_many_inputs_go_beside_them_or_into_a_folder(three_images, tiny_weights, tmp_path, capsys):
    model = ["--model", str(tiny_weights)]
    code, err = run(["encode", *three_images, "-o", str(tmp_path / "one.rgc")] + model, capsys)
    assert code == 2 and "with several inputs, -o takes a folder" in err
    code, err = run(["encode", three_images[0], "-", "-o", str(tmp_path) + "/"] + model, capsys)
    assert code == 2 and "- (stdin) must be the only input" in err
    (tmp_path / "out").mkdir()
    assert run(["encode", *three_images, "-q", "1", "-o", str(tmp_path / "out") + "/"] + model, capsys) == (0, "")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.rgc", "b.rgc", "c.rgc"]
    Image.open(three_images[0]).save(tmp_path / "a.bmp")
    code, err = run(["encode", three_images[0], str(tmp_path / "a.bmp"), "-q", "1", "-f"] + model, capsys)
    assert code == 1 and err == (f"rnncodec: error: {tmp_path / 'a.bmp'}: skipped: {three_images[0]} writes {tmp_path / 'a.rgc'} "
                                 "too (two inputs would write the same output; rename one, or give each its own -o)\n")


def test_an_output_that_cannot_be_written_is_refused_before_the_encode(photo, tiny_weights, tmp_path, capsys, monkeypatch):
    import tempfile

    import rnncodec.api

    def no_encode(*args, **kwargs):
        raise AssertionError("encoded although the output cannot be written")

    monkeypatch.setattr(rnncodec.api.Codec, "encode", no_encode)
    (tmp_path / "file").write_text("")
    code, err = run(["encode", str(photo), "-o", str(tmp_path / "file" / "x.rgc"), "--model", str(tiny_weights)], capsys)
    assert one_line_error(code, err) and "does not exist" in err

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    code, err = run(["encode", str(photo), "--model", str(tiny_weights)], capsys)
    assert one_line_error(code, err) and f"cannot write in folder {tmp_path} (Permission denied)" in err


def test_an_empty_rgc_file_says_so(tmp_path, capsys):
    (tmp_path / "empty.rgc").write_bytes(b"")
    code, err = run(["decode", str(tmp_path / "empty.rgc")], capsys)
    assert one_line_error(code, err) and err.endswith("empty.rgc: empty file\n") and not leftovers(tmp_path)


def test_targets_on_the_command_line(photo, tiny_weights, tmp_path, capsys):
    from rnncodec.api import info

    model = ["--model", str(tiny_weights)]
    full = tmp_path / "full.rgc"
    assert run(["encode", str(photo), "-q", "16", "-o", str(full)] + model, capsys)[0] == 0
    ends = [chunk.end for chunk in info(full).chunks]
    small = tmp_path / "small.rgc"
    code, err = run(["encode", str(photo), "--size", str(ends[5] + 2), "-o", str(small), "-v"] + model, capsys)
    assert code == 0 and small.stat().st_size == ends[5] and "6 iterations" in err
    code, err = run(["encode", str(photo), "--size", str(ends[0] - 1), "-o", str(tmp_path / "none.rgc")] + model, capsys)
    assert one_line_error(code, err) and "1 iteration takes" in err and not (tmp_path / "none.rgc").exists()
    code, err = run(["encode", str(photo), "-q", "3", "--psnr", "30"] + model, capsys)
    assert code == 2 and "-q and --psnr exclude each other" in err
    code, err = run(["encode", str(photo), "--bpp", "0.5", "-o", str(tmp_path / "half.rgc")] + model, capsys)
    assert code == 0 and info(tmp_path / "half.rgc").bpp <= 0.5
    code, err = run(["encode", str(photo), "--psnr", "90", "-o", str(tmp_path / "best.rgc")] + model, capsys)
    assert code == 0 and err.count("\n") == 1 and "no iteration reaches 90 dB" in err
    out = tmp_path / "prefix.png"
    code, err = run(["decode", str(full), "--size", str(ends[0]), "-o", str(out), "-v"] + model, capsys)
    assert code == 0 and "1 iteration," in err and out.exists()
    main(["info", str(full), "--original", str(photo)] + model)
    lines = capsys.readouterr().out.splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("iteration "))
    assert lines[table].endswith("PSNR (dB)") and all(re.search(r"\d+\.\d\d$", line) for line in lines[table + 1:])
    assert not leftovers(tmp_path)


def test_a_rotated_photo_with_a_profile_round_trips_as_it_displays(tiny_weights, tmp_path, capsys):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(smooth_image(24, 40)).save(tmp_path / "phone.jpg", exif=exif.tobytes(), icc_profile=profile)
    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(tmp_path / "phone.jpg"), "-q", "2"] + model, capsys) == (0, "")
    assert run(["decode", str(tmp_path / "phone.rgc")] + model, capsys) == (0, "")
    decoded = Image.open(tmp_path / "phone.png")
    assert decoded.size == (24, 40) and decoded.info["icc_profile"] == profile
    assert not leftovers(tmp_path)


def test_each_lossy_conversion_is_one_warning_line(tmp_path, tiny_weights, capsys):
    frames = [Image.fromarray(np.full((16, 16, 3), 70 * i, np.uint8)).convert("P") for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    code, err = run(["encode", str(tmp_path / "anim.gif"), "-q", "1", "--model", str(tiny_weights)], capsys)
    assert code == 0 and err.splitlines() == [
        f"rnncodec: warning: {tmp_path / 'anim.gif'}: input has 3 frames; coded frame 1 only",
        f"rnncodec: warning: {tmp_path / 'anim.gif'}: input is a palette image (P); converted to RGB",
    ]


def test_counts_have_the_right_number(photo, tiny_weights, tmp_path, capsys):
    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(photo), "-q", "1"] + model, capsys)[0] == 0
    code, err = run(["decode", str(photo.with_suffix(".rgc")), "-n", "3", "-o", str(tmp_path / "x.png"), "-v"] + model, capsys)
    assert code == 0 and "file holds 1 iteration; decoding those" in err and "1 iteration," in err


def test_bare_rnncodec_prints_its_help_and_succeeds():
    out = subprocess.run([sys.executable, "-m", "rnncodec"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("Usage: rnncodec") and out.stderr == ""


@pytest.mark.parametrize("command", ["decode", "info"])
def test_a_closed_pipe_ends_quietly_with_status_141(photo, tiny_weights, command, capsys):
    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(photo), "-q", "1"] + model, capsys)[0] == 0
    rgc = str(photo.with_suffix(".rgc"))
    args = ["decode", rgc, "-o", "-"] + model if command == "decode" else ["info", rgc]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        out = subprocess.run([sys.executable, "-m", "rnncodec", *args], stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert out.returncode == 141 and out.stderr == b""
    assert not leftovers(photo.parent)


@pytest.fixture(scope="module")
def large_decode(tmp_path_factory):
    """An .rgc file (the shipped model) whose decoded PNG is more than twice a pipe's 64 KiB buffer, and that PNG."""
    import rnncodec
    from rnncodec.images import encode_output

    folder = tmp_path_factory.mktemp("large")
    data = rnncodec.encode(smooth_image(384, 512, seed=3), iterations=1)
    (folder / "large.rgc").write_bytes(data)
    png = encode_output(rnncodec.decode(data), "PNG")
    assert len(png) > 2 * 65536
    return folder / "large.rgc", png


def test_stdout_gets_every_byte_of_an_output_larger_than_a_pipe(large_decode):
    rgc, png = large_decode
    out = subprocess.run([sys.executable, "-m", "rnncodec", "decode", str(rgc), "-o", "-"], capture_output=True, timeout=120)
    assert out.returncode == 0 and out.stderr == b""
    assert out.stdout == png


def test_a_reader_that_leaves_during_a_large_output_ends_rnncodec_with_141(large_decode):
    """`rnncodec decode x.rgc -o - | head -c 100`: the first write fills the pipe and returns short; the rest
    finds the reader gone. That is status 141, and -v reports nothing as written."""
    rgc, _ = large_decode
    process = subprocess.Popen([sys.executable, "-m", "rnncodec", "decode", str(rgc), "-o", "-", "-v"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = process.stdout.read(100)
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141 and stderr == b""
    assert head.startswith(b"\x89PNG")


# --- decode's output format and quality -----------------------------------------------------------------
def test_lossy_outputs_are_written_at_the_stated_quality(photo, tiny_weights, tmp_path, capsys):
    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(photo), "-q", "2"] + model, capsys)[0] == 0
    rgc = str(photo.with_suffix(".rgc"))
    assert run(["decode", rgc, "-o", str(tmp_path / "lossless.png")] + model, capsys) == (0, "")
    pixels = Image.open(tmp_path / "lossless.png")

    def pillow(format, **options):
        buffer = io.BytesIO()
        pixels.save(buffer, format, **options)
        return buffer.getvalue()

    code, err = run(["decode", rgc, "-o", str(tmp_path / "default.jpg"), "-v"] + model, capsys)
    assert code == 0 and err.rstrip().endswith("bpp, JPEG quality 95")
    assert (tmp_path / "default.jpg").read_bytes() == pillow("JPEG", quality=95) != pillow("JPEG")
    code, err = run(["decode", rgc, "-o", str(tmp_path / "low.webp"), "--quality", "30", "-v"] + model, capsys)
    assert code == 0 and err.rstrip().endswith("bpp, WebP quality 30")
    assert (tmp_path / "low.webp").read_bytes() == pillow("WEBP", quality=30)
    code, err = run(["decode", rgc, "-o", str(tmp_path / "again.png"), "-v"] + model, capsys)
    assert code == 0 and "quality" not in err
    assert "default 95" in subprocess.run([sys.executable, "-m", "rnncodec", "decode", "--help"], capture_output=True,
                                          text=True).stdout


def test_format_picks_the_output_format_for_stdout_and_for_names(photo, tiny_weights, tmp_path, capsys):
    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(photo), "-q", "1"] + model, capsys)[0] == 0
    rgc = str(photo.with_suffix(".rgc"))
    out = subprocess.run([sys.executable, "-m", "rnncodec", "decode", rgc, "-o", "-", "--format", "jpg", "--quality", "50"]
                         + model, capture_output=True, timeout=120)
    assert out.returncode == 0 and Image.open(io.BytesIO(out.stdout)).format == "JPEG"
    (tmp_path / "out").mkdir()
    assert run(["decode", rgc, "-o", f"{tmp_path / 'out'}/", "--format", "tiff"] + model, capsys) == (0, "")
    assert Image.open(tmp_path / "out" / "photo.tif").format == "TIFF"
    assert run(["decode", rgc, "-o", str(tmp_path / "noext"), "--format", "webp"] + model, capsys) == (0, "")
    assert Image.open(tmp_path / "noext").format == "WEBP"


def test_output_formats_come_from_extensions_as_pillow_names_them():
    """Each extension Pillow knows gives Pillow's format; .png and .jpg do so without importing every plugin."""
    script = ("import sys\nfrom rnncodec.cli.codec_commands import extension_format\n"
              "print(extension_format('.png'), extension_format('.jpg'), 'PIL.PdfImagePlugin' in sys.modules, "
              "extension_format('.webp'), extension_format('.nothing'))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["PNG", "JPEG", "False", "WEBP", "None"], out.stderr
    from rnncodec.cli.codec_commands import extension_format

    Image.init()
    assert all(extension_format(suffix) == fmt for suffix, fmt in Image.EXTENSION.items())


@pytest.mark.parametrize("args, status, message", [
    (["-o", "{tmp}/x.png", "--quality", "80"], 1, "x.png: --quality 80 applies to JPEG, WebP and AVIF outputs only, not to PNG"),
    (["-o", "{tmp}/x.jpg", "--format", "png"], 1, "x.jpg: --format png would write PNG into a JPEG name"),
    (["-o", "{tmp}/x.png", "--format", "xyz"], 2, "xyz is not an image format rnncodec can write here"),
    (["-o", "{tmp}/x.jpg", "--quality", "101"], 2, "101 is not in the range 1<=x<=100"),
])
def test_a_format_or_quality_that_does_not_fit_is_refused_before_decoding(args, status, message, photo, tiny_weights,
                                                                           tmp_path, capsys, monkeypatch):
    import rnncodec.api

    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(photo), "-q", "1"] + model, capsys)[0] == 0

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although the output format cannot be written")

    monkeypatch.setattr(rnncodec.api.Codec, "decode", no_decode)
    code, err = run(["decode", str(photo.with_suffix(".rgc"))] + [a.format(tmp=tmp_path) for a in args] + model, capsys)
    assert code == status and err.count("\n") == 1 and message in err, err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("x.")]


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_an_alpha_channel_to_jpeg_is_refused_before_decoding(mode, tiny_weights, tmp_path, capsys, monkeypatch):
    import rnncodec.api

    image = Image.fromarray(smooth_image(24, 32)).convert(mode)
    image.save(tmp_path / "alpha.png")
    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(tmp_path / "alpha.png"), "-q", "1"] + model, capsys)[0] == 0
    monkeypatch.setattr(rnncodec.api.Codec, "decode", lambda *a, **k: pytest.fail("decoded"))
    code, err = run(["decode", str(tmp_path / "alpha.rgc"), "-o", str(tmp_path / "alpha.jpg")] + model, capsys)
    assert one_line_error(code, err)
    assert f"{tmp_path / 'alpha.jpg'}: JPEG has no alpha channel, and {tmp_path / 'alpha.rgc'} is {mode}" in err
    assert not (tmp_path / "alpha.jpg").exists()


# --- without the train extra ----------------------------------------------------------------------------
WITHOUT_TORCH = "import sys; sys.modules['torch'] = None  # as in an install without the train extra\n"


@pytest.mark.parametrize("command", ["train --data {data} --out {tmp}/run --steps 1", "eval {data}",
                                     "fit-coder {weights} --data {data} -o {tmp}/fitted.safetensors",
                                     "fit-block-stage {weights} --data {data} -o {tmp}/stage.safetensors"])
def test_commands_that_need_pytorch_say_how_to_install_it(command, image_folder, tiny_weights, tmp_path):
    argv = command.format(data=image_folder, tmp=tmp_path, weights=tiny_weights).split()
    script = WITHOUT_TORCH + "from rnncodec.cli import main; main(sys.argv[1:])"
    out = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"rnncodec: error: rnncodec {argv[0]} needs torch, which is not installed: pip install 'rnncodec[train]'\n"


@pytest.mark.parametrize("missing", ["torch", "onnx"])
def test_export_without_the_train_extra_says_how_to_install_it(missing, tiny_weights):
    script = (f"import runpy, sys; sys.modules[{missing!r}] = None\n"
              "runpy.run_module('rnncodec.export', run_name='__main__', alter_sys=True)")
    out = subprocess.run([sys.executable, "-c", script, str(tiny_weights)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr == (f"rnncodec: error: python -m rnncodec.export needs {missing}, which is not installed: "
                          "pip install 'rnncodec[train]'\n")


# --- messages that say what was typed and what is allowed ------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["encode", "{photo}", "-q", "80"], "Invalid value for '-q' / '--iterations': 80 is not an iteration count: it counts "
     "iterations, 1–16 (0.125 bpp each before entropy coding); a quality in percent, as cwebp -q takes, is not supported: "
     "for a smaller or better file give a target, --size BYTES, --bpp X or --psnr DB"),
    (["encode", "{photo}", "--iterations", "0"], "0 is not an iteration count: it counts iterations, 1–16 (0.125 bpp each "
     "before entropy coding)\n"),
    (["encode", "{photo}", "-q", "high"], "'high' is not a whole number: it counts iterations, 1–16"),
    (["encode", "{photo}", "--quality", "80"], "encode has no --quality (80): -q counts iterations, 1–16; for a size or "
     "quality target give --size BYTES, --bpp X or --psnr DB"),
    (["decode", "{rgc}", "-n", "17"], "Invalid value for '-n' / '--iterations': 17 is not an iteration count: it counts "
     "iterations, 1–16 (0.125 bpp each before entropy coding)\n"),
    (["decode", "{rgc}", "-n", "2", "--size", "5000"], "-n and --size exclude each other: give one of -n, --size, --bpp"),
    (["decode", "{rgc}", "-n", "2", "--bpp", "0.5"], "-n and --bpp exclude each other"),
])
def test_a_wrong_argument_says_what_was_typed_and_what_is_allowed(args, message, photo, tmp_path, capsys):
    argv = [a.format(photo=photo, rgc=tmp_path / "x.rgc") for a in args]
    code, err = run(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("rnncodec: error: ") and message in err, err


def test_decode_help_says_what_its_size_and_bpp_do():
    out = subprocess.run([sys.executable, "-m", "rnncodec", "decode", "--help"], capture_output=True, text=True, timeout=60)
    text = " ".join(out.stdout.split())
    assert "--size BYTES Decode the complete iterations among the file's first BYTES bytes" in text
    assert "--bpp X The same, for the first X bits per pixel of the file" in text
    assert "largest file" not in text


def test_the_summary_gives_all_bits_over_all_pixels(tiny_weights, tmp_path, capsys):
    from rnncodec.api import info

    Image.fromarray(smooth_image(16, 16, seed=1)).save(tmp_path / "small.png")
    Image.fromarray(smooth_image(96, 128, seed=2)).save(tmp_path / "large.png")
    code, err = run(["encode", str(tmp_path / "small.png"), str(tmp_path / "large.png"), "-q", "2", "-v",
                     "--model", str(tiny_weights)], capsys)
    files = [info(tmp_path / "small.rgc"), info(tmp_path / "large.rgc")]
    pixels = sum(f.header.width * f.header.height for f in files)
    overall = sum(f.size * 8 for f in files) / pixels
    mean = sum(f.bpp for f in files) / 2
    assert code == 0 and f"{overall:.4f} bpp over all {pixels} pixels" in err.splitlines()[-1]
    assert f"{mean:.4f}" != f"{overall:.4f}"


# --- --tune, --tile, --threads and --quiet ---------------------------------------------------------------------
def test_tune_moves_a_layered_files_bits_and_any_tunes_file_decodes(stage_file, tmp_path, capsys):
    rgb = smooth_image(48, 80, seed=11)
    rgb[:, :32] = rgb[:, :32] // 8 + 100  # a quiet part
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    model = ["--model", str(stage_file)]
    for tune in ("psnr", "ssim"):
        rgc = tmp_path / f"{tune}.rgc"
        assert run(["encode", str(tmp_path / "photo.png"), "-q", "6", "--tune", tune, "-o", str(rgc)] + model, capsys) == (0, "")
        assert run(["decode", str(rgc), "-o", str(tmp_path / f"{tune}.png")] + model, capsys) == (0, "")
    assert (tmp_path / "psnr.rgc").read_bytes() != (tmp_path / "ssim.rgc").read_bytes()
    code, err = run(["encode", str(tmp_path / "photo.png"), "--tune", "fast", "-o", str(tmp_path / "bad.rgc")] + model, capsys)
    assert code == 2 and "'fast' is not one of 'psnr', 'balanced', 'ssim'" in err and not (tmp_path / "bad.rgc").exists()



def test_tile_is_recorded_and_decoding_uses_it(photo, tiny_weights, tmp_path, capsys):
    from rnncodec.api import info

    model = ["--model", str(tiny_weights)]
    for tile in (32, 1024):
        rgc = tmp_path / f"tile{tile}.rgc"
        assert run(["encode", str(photo), "-q", "2", "--tile", str(tile), "-o", str(rgc)] + model, capsys) == (0, "")
        assert info(rgc.read_bytes()).header.tile == tile
        assert run(["decode", str(rgc), "-o", str(tmp_path / f"tile{tile}.png")] + model, capsys) == (0, "")
    assert (tmp_path / "tile32.rgc").read_bytes() != (tmp_path / "tile1024.rgc").read_bytes()
    for bad in ("100", "0", "8192", "big"):
        code, err = run(["encode", str(photo), "--tile", bad, "-o", str(tmp_path / "bad.rgc")] + model, capsys)
        assert code == 2 and "is not a tile side: a multiple of 16 from 16 to 4096" in err
        assert not (tmp_path / "bad.rgc").exists()


def test_threads_sets_the_threads_of_every_network_call(photo, tiny_weights, tmp_path, capsys, monkeypatch):
    import rnncodec.engines.onnx

    monkeypatch.setenv("RNNCODEC_THREADS", "1")  # restored after the test, whatever --threads sets
    seen = []
    options = rnncodec.engines.onnx.session_options
    monkeypatch.setattr(rnncodec.engines.onnx, "session_options", lambda ort, threads: seen.append(threads) or options(ort, threads))
    model = ["--model", str(tiny_weights)]
    assert run(["encode", str(photo), "-q", "1", "--threads", "3"] + model, capsys) == (0, "")
    assert seen and set(seen) == {3}
    seen.clear()
    assert run(["decode", str(photo.with_suffix(".rgc")), "-o", str(tmp_path / "x.png"), "--threads", "2"] + model,
               capsys) == (0, "")
    assert seen and set(seen) == {2} and os.environ["RNNCODEC_THREADS"] == "2"
    code, err = run(["decode", str(photo.with_suffix(".rgc")), "--threads", "0"], capsys)
    assert code == 2 and "'--threads': 0 is not in the range x>=1" in err


def test_quiet_silences_warnings_and_the_progress_bar_but_not_errors(tiny_weights, tmp_path, capsys, monkeypatch):
    frames = [Image.fromarray(np.full((16, 16, 3), 70 * i, np.uint8)) for i in range(2)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    model = ["--model", str(tiny_weights), "-q", "1", "-f"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # where the progress bar shows
    code, err = run(["encode", str(tmp_path / "anim.gif")] + model, capsys)
    assert code == 0 and "warning" in err and "encoding" in err
    code, err = run(["encode", str(tmp_path / "anim.gif"), "--quiet"] + model, capsys)
    assert code == 0 and err == ""
    code, err = run(["encode", str(tmp_path / "anim.gif"), str(tmp_path / "none.png"), "--quiet", "-o", f"{tmp_path}/"]
                    + model, capsys)
    assert code == 1 and err == f"rnncodec: error: {tmp_path / 'none.png'}: no such file\n"

def test_effort_encodes_files_that_decode_as_any(stage_file, tmp_path, capsys):
    Image.fromarray(smooth_image(48, 64, seed=12)).save(tmp_path / "photo.png")
    model = ["--model", str(stage_file)]
    rgc = tmp_path / "searched.rgc"
    assert run(["encode", str(tmp_path / "photo.png"), "-q", "4", "--effort", "2", "-o", str(rgc)] + model, capsys) == (0, "")
    assert run(["decode", str(rgc), "-o", str(tmp_path / "searched.png")] + model, capsys) == (0, "")
    assert Image.open(tmp_path / "searched.png").size == (64, 48)
    code, err = run(["encode", str(tmp_path / "photo.png"), "--effort", "-1", "-o", str(tmp_path / "bad.rgc")] + model, capsys)
    assert code == 2 and "--effort" in err and not (tmp_path / "bad.rgc").exists()
