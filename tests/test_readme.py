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
