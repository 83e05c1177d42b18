"""rnncodec fit-block-stage: fit a block stage, and its coder tables, for a network weights file."""

from __future__ import annotations

from pathlib import Path

import click

from ..limits import BLOCK


@click.command("fit-block-stage")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of training images.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Block stage file to write, beside WEIGHTS (it names them).")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("--after", default=3, show_default=True, type=click.IntRange(1), help="Network iterations before the stage.")
@click.option("--crops", default=400, show_default=True, type=click.IntRange(1), help="Random training crops to fit the stage on.")
@click.option("--crop", default=128, show_default=True, type=click.IntRange(BLOCK), help=f"Side of the crops (a multiple of {BLOCK}).")
@click.option("--images", default=80, show_default=True, type=click.IntRange(1), help="Training images to fit the coder tables on.")
@click.option("--levels", type=click.IntRange(1), help="Stage levels to fit (default: the network's iterations after AFTER; "
              "a layered file's blocks use up to 39, cycling through fewer).")
@click.option("--storage", default="float32", show_default=True, type=click.Choice(["float32", "float16"]),
              help="How the file stores the stage's basis and magnitudes (float16: half the size; the stage "
              "is rounded before the coder tables are fitted).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", type=click.IntRange(1), help="CPU threads for PyTorch.")
def fit_block_stage(weights, data, output, force, after, crops, crop, images, levels, storage, seed, threads):
    """Code the iterations after the network's first AFTER with a block stage fitted on training
    images (rnncodec.block_stage); write it with the entropy coder's tables as a block stage file."""
    import torch

    from ..errors import WeightsError
    from ..stage_fit import fit_stage_file

    if Path(output).exists() and not force:
        raise click.ClickException(f"{output} exists (use -f to overwrite)")
    if crop % BLOCK:
        raise click.ClickException(f"--crop {crop} is not a multiple of {BLOCK}")
    if threads:
        torch.set_num_threads(threads)
    try:
        facts = fit_stage_file(weights, data, output, after, crops, crop, images, seed, levels, storage)
    except (WeightsError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    if "validation_bits_per_code_bit" in facts:
        click.echo(f"validation split ({facts['validation_images']} images): "
                   f"{facts['validation_bits_per_code_bit']:.4f} bits per code bit")
    click.echo(f"wrote {output}")
