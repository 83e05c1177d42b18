"""Inputs and outputs for the commands: '-' for stdin/stdout, atomic writes, no clobbering."""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from ..errors import DamageError, RnncodecError, WeightsError
from ..files import atomic_write

STDIO = "-"

input_argument = click.argument("input", metavar="IN", type=str)
force_option = click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
output_option = click.option("-o", "--output", "output", metavar="OUT", type=str, help="Output file, or - for stdout.")
model_option = click.option("--model", type=click.Path(dir_okay=False),
                            help="Weights file (default: the shipped model; decoding picks the one the file names).")


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
def warnings_to_stderr(name: str | None = None):
    """Show library warnings as one 'rnncodec: warning:' line each, naming the file if given."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        warn(f"{name}: {w.message}" if name else str(w.message))


@contextmanager
def errors_about(name: str):
    """Turn the library's errors into one-line messages naming the file (weights errors name their own)."""
    try:
        yield
    except WeightsError as e:
        raise click.ClickException(str(e)) from None
    except DamageError as e:
        raise click.ClickException(f"{name}: {e}{intact_hint(e.intact)}") from None
    except RnncodecError as e:
        raise click.ClickException(f"{name}: {e}") from None


def intact_hint(intact: int) -> str:
    if not intact:
        return ""
    first = "iteration 1 is" if intact == 1 else f"iterations 1–{intact} are"
    return f"; {first} intact: decode with -n {intact} or --salvage"


class ProgressBar:
    """A tqdm bar on stderr when it is a terminal, silent otherwise; called with (done, total)."""

    def __init__(self, description: str):
        self.description = description
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.description, unit="step", file=sys.stderr,
                            disable=not sys.stderr.isatty(), leave=False)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
