"""Every code block of the README runs as written, in a fresh folder holding a photo.

Python blocks run in full. Shell blocks run line by line with this checkout's `rnncodec`, except
the lines that install packages or train and ship a model (minutes to hours, and $RNNCODEC_DATA):
those are listed in SKIPPED with the reason, and the `rnncodec` options they use must exist.
"""

import os
import re
import shlex
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
from PIL import Image

import rnncodec

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, re.S)
PYTHON = [code for language, code in BLOCKS if language == "python"]
SHELL = [code for language, code in BLOCKS if language == "sh"]
SKIPPED = {  # a line matching the pattern is not run, for the reason given
    r"\bpip install\b": "installs packages; the tests run in an installed checkout",
    r"^rnncodec train\b": "trains a model: an hour, on $RNNCODEC_DATA",
    r"^rnncodec (fit-coder|models add)\b": "ships a model: minutes, on $RNNCODEC_DATA, and changes models/",
    r"^python -m rnncodec\.export\b|tests/golden/make\.py": "ships a model: writes into models/ and tests/golden/",
    r"\bnpm ci\b": "installs packages; the tests run in an installed checkout",
    r"^rnncodec view\b": "serves the web decoder until interrupted (tests/test_web.py serves it)",
    r"^python benchmarks/": "a benchmark: a minute or more",
}
SUNSET = ROOT / "examples" / "sunset.png"


def skipped(line: str) -> bool:
    return any(re.search(pattern, line) for pattern in SKIPPED)


def shell_lines(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_block_is_python_or_shell_and_most_lines_run():
    assert {language for language, _ in BLOCKS} == {"python", "sh"}, "a block without a language is not tested"
    assert len(PYTHON) >= 2 and "## Python" in README
    lines = [line for block in SHELL for line in shell_lines(block)]
    assert sum(not skipped(line) for line in lines) >= 9


def photo_folder(folder: Path, size: tuple[int, int] | None) -> Path:
    """A folder with photo.png and photo.jpg (examples/sunset.png, resized to ``size`` if given) and
    examples/sunset.png, as a user's folder and the README's first command have them."""
    folder.mkdir(exist_ok=True)
    photo = Image.open(SUNSET).convert("RGB")
    if size is not None:
        photo = photo.resize(size, Image.Resampling.LANCZOS)
    photo.save(folder / "photo.png")
    photo.save(folder / "photo.jpg", quality=95)
    (folder / "examples").mkdir()
    (folder / "examples" / "sunset.png").write_bytes(SUNSET.read_bytes())
    return folder


@pytest.mark.parametrize("size", [None, (768, 512)], ids=["sunset-400x225", "photo-768x512"])
@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_readme_python_block_runs(index, size, tmp_path, monkeypatch):
    monkeypatch.chdir(photo_folder(tmp_path / "work", size))
    code = PYTHON[index]
    with pytest.warns(UserWarning, match="truncated") if "truncated" in code else nullcontext():
        exec(compile(code, f"README.md python block {index + 1}", "exec"), {})


def checkout_environment(tmp_path: Path) -> dict[str, str]:
    """The environment of a shell where `rnncodec` is this checkout's."""
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    shim = bin_folder / "rnncodec"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rnncodec "$@"\n')
    shim.chmod(0o755)
    source = str(Path(rnncodec.__file__).resolve().parent.parent)
    return {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}


@pytest.mark.slow
def test_readme_shell_blocks_run_as_written_in_a_fresh_folder(tmp_path):
    """Each shell line not in SKIPPED, in order, with the shipped model, in a folder holding photo.png,
    photo.jpg and examples/sunset.png."""
    work = photo_folder(tmp_path / "work", None)
    env = checkout_environment(tmp_path)
    ran = []
    for block in SHELL:
        for line in shell_lines(block):
            if skipped(line):
                continue
            out = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=work, env=env, capture_output=True,
                                 text=True, timeout=600)
            assert out.returncode == 0, f"{line}\n{out.stderr}"
            assert "Traceback" not in out.stderr, line
            ran.append(line)
    made = {p.name for p in work.iterdir()}
    assert {"photo.rgc", "decoded.png", "decoded.jpg", "preview.webp", "small.rgc", "good.rgc", "small.png", "good.png",
            "photo-q4.png"} <= made
    assert Image.open(work / "photo-q4.png").size == Image.open(work / "photo.png").size
    assert any("rnncodec info" in line for line in ran)


def test_skipped_lines_use_commands_and_options_that_exist():
    """What is not run is at least checked: each `rnncodec` command of a skipped line, and its options."""
    from rnncodec.cli.main import cli

    checked = 0
    for block in SHELL:
        for line in shell_lines(block):
            if not skipped(line):
                continue
            for command in re.split(r"&&|\|", line):
                words = shlex.split(command.strip())
                if not words or words[0] != "rnncodec":
                    continue
                group, args = cli, words[1:]
                while hasattr(group, "commands") and args and args[0] in group.commands:
                    group, args = group.commands[args[0]], args[1:]
                assert group is not cli, f"{line}: no such command"
                known = {opt for param in group.params for opt in param.opts + param.secondary_opts}
                unknown = [arg for arg in args if arg.startswith("-") and arg.split("=")[0] not in known]
                assert not unknown, f"{line}: {unknown} are not options of {group.name}"
                checked += 1
    assert checked >= 3


def test_the_size_limits_the_readme_gives_are_the_codecs():
    from rnncodec.bitstream import MAX_PIXELS, MAX_SIDE

    assert f"up to {MAX_SIDE} pixels a side and {MAX_PIXELS:,} pixels in all" in " ".join(README.split())
