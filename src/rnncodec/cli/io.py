"""Inputs and outputs for the commands: '-' for stdin/stdout, atomic writes, no clobbering, and the
one-line messages on stderr."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from ..errors import DamageError, RnncodecError, WeightsError
from ..files import atomic_write
from ..limits import DEFAULT_EFFORT, DEFAULT_TUNE, TUNES

STDIO = "-"

inputs_argument = click.argument("inputs", metavar="IN...", nargs=-1, required=True, type=str)
input_argument = click.argument("input", metavar="IN", type=str)
force_option = click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
output_option = click.option("-o", "--output", "output", metavar="OUT", type=str,
                             help="Output file, - for stdout, or a folder DIR/ (the only choice with several inputs).")
model_option = click.option("--model", type=click.Path(dir_okay=False),
                            help="Weights file (default: the shipped model; decoding picks the one the file names).")
tune_option = click.option("--tune", type=click.Choice(list(TUNES)), default=DEFAULT_TUNE, show_default=True,
                           help="What the encoder spends each iteration's bits on: squared error weighed a little "
                                "towards smooth areas, where errors show most (balanced); squared error alone (psnr, "
                                "the highest PSNR); or more towards smooth areas (ssim, the highest MS-SSIM). Any "
                                "tune's files decode alike.")
effort_option = click.option("--effort", type=click.IntRange(min=0), default=DEFAULT_EFFORT, show_default=True, metavar="N",
                             help="Search each network iteration's bits through the decoder: one pass forward and "
                                  "back, then N sets of bit flips tried, each 16x16 block keeping the closest: a closer "
                                  "picture for about the same bits, any decoder reads the file; each set one decoder "
                                  "pass more (0: the encoder's bits, the fastest).")
verbose_option = click.option("-v", "--verbose", is_flag=True, help="A line per file and a summary on stderr.")
quiet_option = click.option("--quiet", is_flag=True,
                            help="No warnings and no progress bar (which shows on stderr when it is a terminal); "
                                 "errors still.")


def set_threads(ctx, param, value: int | None) -> None:
    """--threads N: the same setting as $RNNCODEC_THREADS, for the engines this process loads."""
    if value is not None:
        from ..engines.threads import THREADS_VARIABLE

        os.environ[THREADS_VARIABLE] = str(value)


threads_option = click.option("--threads", type=click.IntRange(min=1), metavar="N", expose_value=False,
                              callback=set_threads,
                              help="Threads per network call (default: every core this process may use, or "
                                   "$RNNCODEC_THREADS, which this sets); the output is the same on any count.")


def label(name: str) -> str:
    """How messages name a file: 'stdin' or 'stdout' for -."""
    return "stdin" if name == STDIO else name


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
    """Refuse, before any work, an output that would clobber the input or an existing file, or that
    cannot be written."""
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
    folder = out.parent
    if not folder.is_dir():
        raise click.ClickException(f"{name}: folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):  # what the atomic write will need; gone when closed
            pass
    except OSError as e:
        raise click.ClickException(f"{name}: cannot write in folder {folder} ({e.strerror or e})") from None


def write_output(name: str, data: bytes) -> None:
    if name == STDIO:
        write_all(sys.stdout.buffer, data)
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


def write_all(stream, data: bytes) -> None:
    """Write every byte of data to stream and flush it, or raise (BrokenPipeError when the reader is gone).

    A buffered stream's write can return a short count without raising: after part of a large write
    went into a pipe, an error on the rest (the reader gone) is kept for later, so the data must be
    written until none is left, and the error comes on the next write or the flush."""
    view = memoryview(data)
    while view:
        try:
            written = stream.write(view)
        except BlockingIOError as e:  # a non-blocking stdout, full for now
            written = e.characters_written
            wait_until_writable(stream)
        if not written:  # a non-blocking stream that took nothing
            wait_until_writable(stream)
        view = view[written or 0:]
    stream.flush()


def wait_until_writable(stream) -> None:
    import select

    select.select([], [stream.fileno()], [])


def say(line: str) -> None:
    """One line on stderr, clear of a progress bar there."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=sys.stderr):
            click.echo(line, err=True)
    else:
        click.echo(line, err=True)


def warn(message: str) -> None:
    say(f"rnncodec: warning: {message}")


def error(message: str) -> None:
    say(f"rnncodec: error: {message}")


@contextmanager
def warnings_to_stderr(name: str | None = None, quiet: bool = False):
    """Show library warnings as one 'rnncodec: warning:' line each (each message once), naming the file if given;
    none if ``quiet``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for message in dict.fromkeys(str(w.message) for w in caught):
                if not quiet:
                    warn(f"{name}: {message}" if name else message)


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


def exclusive(**options) -> None:
    """Refuse more than one of the options given (names as the user types them, values None when absent)."""
    given = [name for name, value in options.items() if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} exclude each other: give one of {', '.join(options)}")
