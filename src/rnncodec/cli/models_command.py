"""rnncodec models: the models this release carries (each decodes the files made with it)."""

from __future__ import annotations

import click

from .io import errors_about


@click.group(invoke_without_command=True)
@click.pass_context
def models(ctx):
    """List the shipped models: id (as `rnncodec info` shows it), weights file, description; * encodes."""
    if ctx.invoked_subcommand is not None:
        return
    from ..api import models as shipped_models

    with errors_about("models"):
        for model in shipped_models():
            present = "" if model.path.is_file() else "  (weights file missing)"
            click.echo(f"{'*' if model.default else ' '} {model.id.hex()}  {model.file}  {model.description}{present}")


@models.command("add")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.option("--description", required=True, help="What the weights are: architecture, training step, coder tables.")
@click.option("--no-default", is_flag=True, help="Register only; keep encoding with the current default.")
def add(weights, description, no_default):
    """Register WEIGHTS (beside the registry.json in models/) under the id of its bytes, as the default."""
    from ..registry import add as register

    with errors_about(weights):
        model = register(weights, description, make_default=not no_default)
    click.echo(f"registered {model.file} as model {model.id.hex()}{' (default)' if model.default else ''}")
