"""Inputs and outputs for the commands: '-' for stdin/stdout, atomic writes, no clobbering."""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from ..files import atomic_write

STDIO = "-"

input_argument = click.argument("input", metavar="IN", type=str)
force_option = click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
output_option = click.option("-o", "--output", "output", metavar="OUT", type=str, help="Output file, or - for stdout.")
model_option = click.option("--model", type=click.Path(dir_okay=False), help="Weights file (default: the shipped weights).")


def read_input(name: str) -> bytes:
    if name == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except FileNotFoundError:
        raise click.ClickException(f"{name}: no such file") from None
    except IsADirectoryError:
        raise click.ClickException(f"{name}: is a directory") from None
    except OSError as e:
        raise click.ClickException(f"{name}: cannot read ({e.strerror or e})") from None


def default_output(input_name: str, suffix: str) -> str:
    """IN with its extension replaced by suffix; stdout when IN is stdin."""
    return STDIO if input_name == STDIO else str(Path(input_name).with_suffix(suffix))


def check_output(name: str, input_name: str, force: bool) -> None:
    """Refuse, before any work, an output that would clobber the input or an existing file."""
    if name == STDIO:
        if sys.stdout.isatty():
            raise click.ClickException("refusing to write binary data to a terminal (use -o FILE or a pipe)")
        return
    out = Path(name)
    if input_name != STDIO and out.exists() and os.path.samefile(out, input_name):
        raise click.ClickException(f"{name}: refusing to overwrite the input")
    if out.is_dir():
        raise click.ClickException(f"{name}: is a directory")
    if out.exists() and not force:
        raise click.ClickException(f"{name}: already exists (use -f to overwrite)")
    if not out.parent.exists():
        raise click.ClickException(f"{name}: folder {out.parent} does not exist")


def write_output(name: str, data: bytes) -> None:
    if name == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    try:
        atomic_write(Path(name), write)
    except OSError as e:
        raise click.ClickException(f"{name}: cannot write ({e.strerror or e})") from None


def warn(message: str) -> None:
    click.echo(f"rnncodec: warning: {message}", err=True)


@contextmanager
def warnings_to_stderr():
    """Show library warnings as one 'rnncodec: warning:' line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        warn(str(w.message))


def progress_bar(total: int, description: str):
    """A tqdm bar on stderr when it is a terminal; silent otherwise."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="step", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)
