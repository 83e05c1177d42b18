"""The command group, its commands, and the top-level error handling: one line on stderr, never a traceback."""

from __future__ import annotations

import sys

import click

from .. import __version__
from .codec_commands import decode, encode, info
from .coder_command import fit_coder
from .eval_command import evaluate
from .models_command import models
from .train_command import train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnncodec")
def cli():
    """Learned progressive image codec (GDN + convolutional LSTM).

    \b
    rnncodec encode photo.png -q 8      → photo.rgc (8 iterations, 1 bpp before entropy coding)
    rnncodec decode photo.rgc           → photo.png
    rnncodec decode photo.rgc -n 4 -o small.png   (first 4 iterations only)
    """


for command in (encode, decode, info, models, evaluate, fit_coder, train):
    cli.add_command(command)


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="rnncodec", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("rnncodec: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"rnncodec: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`): nothing more to say
        sys.exit(141)
    except KeyboardInterrupt:
        click.echo("rnncodec: interrupted", err=True)
        sys.exit(130)
    except MemoryError:
        click.echo("rnncodec: error: out of memory", err=True)
        sys.exit(1)
    except Exception as e:  # a bug: still one line, and say so
        click.echo(f"rnncodec: internal error: {type(e).__name__}: {e}", err=True)
        sys.exit(70)
