"""rnncodec fit-coder: fit the entropy coder's tables for a weights file."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("fit-coder")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of training images.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Weights file to write (WEIGHTS with the tables).")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("--images", default=80, show_default=True, type=click.IntRange(1), help="Training images to fit on.")
@click.option("--storage", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="How the output stores the parameters (float16: half the file; see models/README.md).")
@click.option("--threads", type=click.IntRange(1), help="CPU threads for PyTorch.")
def fit_coder(weights, data, output, force, images, storage, threads):
    """Fit the entropy coder's partner channels and prior counts on training images; write them into the weights."""
    import torch

    from ..coder_fit import fit_coder as run_fit
    from ..errors import WeightsError

    if Path(output).exists() and not force:
        raise click.ClickException(f"{output} exists (use -f to overwrite)")
    if threads:
        torch.set_num_threads(threads)
    try:
        facts = run_fit(weights, data, output, images, storage)
    except (WeightsError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    if "validation_bits_per_code_bit" in facts:
        click.echo(f"validation split ({facts['validation_images']} images): "
                   f"{facts['validation_bits_per_code_bit']:.4f} bits per code bit with the tables, "
                   f"{facts['validation_bits_per_code_bit_without_tables']:.4f} without")
    click.echo(f"wrote {output}")
