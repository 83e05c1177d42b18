"""The command group, its commands, and the top-level error handling: one line on stderr, never a traceback."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..wording import needs_train_extra
from .codec_commands import decode, encode, info
from .fit_commands import fit_block_stage, fit_coder, fit_postfilter
from .eval_command import evaluate
from .io import error
from .models_command import models
from .train_command import train
from .view_command import view

BROKEN_PIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader went away


class PipeClosed(Exception):
    """The reader of stdout went away (`rnncodec decode x.rgc -o - | head -c 10`)."""


class Commands(click.Group):
    """The command group; a broken pipe leaves a command as PipeClosed, which click does not turn into status 1,
    and a command that needs the train extra where it is not installed says how to install it."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise PipeClosed from None
        except ModuleNotFoundError as e:
            message = needs_train_extra(f"rnncodec {ctx.invoked_subcommand}", e)
            if message is None:
                raise
            raise click.ClickException(message) from None


@click.group(cls=Commands, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnncodec")
@click.pass_context
def cli(ctx):
    """Learned progressive image codec (GDN + convolutional LSTM).

    \b
    rnncodec encode photo.png -q 8        → photo.rgc (8 iterations, 1 bpp before entropy coding)
    rnncodec encode *.jpg --size 20000    → an .rgc beside each, each at most 20000 bytes
    rnncodec decode photo.rgc -o out.png  (without -o: photo.png, kept if it exists unless -f)
    rnncodec decode photo.rgc -n 4 -o small.png   (first 4 iterations only)
    rnncodec info photo.rgc --original photo.png  (bytes, bpp and PSNR of each iteration)
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


for command in (encode, decode, info, models, evaluate, fit_coder, fit_block_stage, fit_postfilter, train, view):
    cli.add_command(command)


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="rnncodec", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("rnncodec: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        error(e.format_message())
        sys.exit(e.exit_code)
    except (PipeClosed, BrokenPipeError):
        quiet_stdout()  # nothing more to say, and nothing for Python to complain about at exit
        sys.exit(BROKEN_PIPE_STATUS)
    except KeyboardInterrupt:
        click.echo("rnncodec: interrupted", err=True)
        sys.exit(130)
    except MemoryError:
        error("out of memory")
        sys.exit(1)
    except Exception as e:  # a bug: still one line, and say so
        click.echo(f"rnncodec: internal error: {type(e).__name__}: {e}", err=True)
        sys.exit(70)


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass
