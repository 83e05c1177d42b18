"""The README's Python examples run, as written, in a folder holding a photo.png."""

import re
from contextlib import nullcontext
from pathlib import Path

import pytest
from PIL import Image

from conftest import smooth_image

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_readme_has_python_examples():
    assert len(EXAMPLES) >= 2 and "## Python" in README


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_python_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(smooth_image(48, 64, seed=10)).save("photo.png")
    with pytest.warns(UserWarning, match="truncated") if "truncated" in EXAMPLES[index] else nullcontext():
        exec(compile(EXAMPLES[index], f"README.md python example {index + 1}", "exec"), {})


USE_BLOCK = re.search(r"## Use\n\n```sh\n(.*?)```", README, re.S).group(1)


@pytest.mark.slow
def test_the_use_block_runs_as_written_in_a_fresh_folder(tmp_path):
    """Every line of the README's "Use" block, in order, with the shipped model, in a folder holding
    a photo.png and a photo.jpg; `rnncodec` is this checkout's."""
    import os
    import subprocess
    import sys

    import rnncodec

    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    shim = bin_folder / "rnncodec"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rnncodec "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    Image.fromarray(smooth_image(64, 96, seed=12)).save(work / "photo.png")
    Image.fromarray(smooth_image(64, 96, seed=13)).save(work / "photo.jpg", quality=95)
    source = str(Path(rnncodec.__file__).resolve().parent.parent)
    env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", USE_BLOCK], cwd=work, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    made = {p.name for p in work.iterdir()}
    assert {"photo.rgc", "decoded.png", "preview.webp", "small.rgc", "good.rgc", "small.png", "good.png", "photo-q4.png"} <= made
    assert "PSNR (dB)" in out.stdout and Image.open(work / "photo-q4.png").size == (96, 64)
