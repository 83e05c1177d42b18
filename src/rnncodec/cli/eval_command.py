"""rnncodec eval: real files, real bytes, PSNR and MS-SSIM per iteration count."""

from __future__ import annotations

import json

import click

from ..limits import MAX_ITERATIONS

from .io import effort_option, model_option, tune_option

ALL = f"1-{MAX_ITERATIONS}"


def parse_list(value: str) -> list[int]:
    try:
        ks = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise click.BadParameter("expected a comma-separated list of iteration counts, e.g. 1,2,4,8") from None
    if not ks or ks[0] < 1 or ks[-1] > MAX_ITERATIONS:
        raise click.BadParameter(f"iteration counts must be in 1..{MAX_ITERATIONS}")
    return ks


@click.command("eval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("-q", "--iterations", "iterations", default=ALL, show_default=True,
              help=f"Comma-separated iteration counts, or {ALL} for all.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the results as JSON here.")
@tune_option
@effort_option
@model_option
def evaluate(folder, iterations, json_out, tune, effort, model):
    """Encode and decode every image of FOLDER through real .rgc files; print bpp, PSNR, MS-SSIM per iteration count."""
    from ..evaluate import evaluate_folder, format_table
    from ..errors import WeightsError

    ks = list(range(1, MAX_ITERATIONS + 1)) if iterations == ALL else parse_list(iterations)
    try:
        result = evaluate_folder(folder, ks, model, tune=tune, effort=effort)
    except (WeightsError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(format_table(result))
    if json_out:
        from pathlib import Path

        from ..files import atomic_write

        atomic_write(Path(json_out), lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1) + "\n"))
