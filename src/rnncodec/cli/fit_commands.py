"""rnncodec fit-coder, fit-block-stage and fit-postfilter: fit, on training images, what a weights file holds besides the network."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from ..limits import BLOCK

data_option = click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of training images.")
force_option = click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
threads_option = click.option("--threads", type=click.IntRange(1), help="CPU threads for PyTorch.")


def run_fit(output: str, force: bool, threads: int | None, fit: Callable[[], dict], compared: str = "") -> None:
    """Run a fit that writes ``output`` (refused if it exists, unless ``force``) on ``threads`` PyTorch
    threads; say its tables' bits per code bit on the validation split (``compared``: then also those
    of the uniform tables) and what it wrote. A refusal is one line."""
    import torch

    from ..errors import WeightsError

    if Path(output).exists() and not force:
        raise click.ClickException(f"{output} exists (use -f to overwrite)")
    if threads:
        torch.set_num_threads(threads)
    try:
        facts = fit()
    except (WeightsError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    if "validation_bits_per_code_bit" in facts:
        bits = f"{facts['validation_bits_per_code_bit']:.4f} bits per code bit"
        if compared:
            bits += f" with the tables, {facts[compared]:.4f} without"
        click.echo(f"validation split ({facts['validation_images']} images): {bits}")
    click.echo(f"wrote {output}")


@click.command("fit-coder")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@data_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Weights file to write (WEIGHTS with the tables).")
@force_option
@click.option("--images", default=80, show_default=True, type=click.IntRange(1), help="Training images to fit on.")
@click.option("--storage", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="How the output stores the parameters (float16: half the file; see models/README.md).")
@threads_option
def fit_coder(weights, data, output, force, images, storage, threads):
    """Fit the entropy coder's partner channels and prior counts on training images; write them into the weights."""
    from ..fitting import fit_coder as fit

    run_fit(output, force, threads, lambda: fit(weights, data, output, images, storage),
            compared="validation_bits_per_code_bit_without_tables")


@click.command("fit-block-stage")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@data_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Block stage file to write, beside WEIGHTS (it names them).")
@force_option
@click.option("--after", default=3, show_default=True, type=click.IntRange(1), help="Network iterations before the stage.")
@click.option("--crops", default=400, show_default=True, type=click.IntRange(1), help="Random training crops to fit the stage on.")
@click.option("--crop", default=128, show_default=True, type=click.IntRange(BLOCK), help=f"Side of the crops (a multiple of {BLOCK}).")
@click.option("--images", default=80, show_default=True, type=click.IntRange(1), help="Training images to fit the coder tables on.")
@click.option("--levels", type=click.IntRange(1), help="Stage levels to fit (default: the network's iterations after AFTER; "
              "a layered file's blocks use up to 39, cycling through fewer).")
@click.option("--storage", default="float32", show_default=True, type=click.Choice(["float32", "float16"]),
              help="How the file stores the stage's basis and magnitudes (float16: half the size; the stage "
              "is rounded before the coder tables are fitted).")
@click.option("--dead-zone", default=0.0, show_default=True, type=click.FloatRange(0, 4, max_open=True),
              help="τ > 0: a ternary stage, which sends a component as zero where its coefficient is below τ times "
              "the magnitude it would send (entropy coder 4); 0: every component's sign is sent.")
@click.option("--rate-weight", default=0.0, show_default=True, type=click.FloatRange(0, 4, max_open=True),
              help="κ, for a ternary stage: also send as zero a component that removes less than κ times the block's "
              "mean per component.")
@click.option("--seed", default=0, show_default=True, type=int)
@threads_option
def fit_block_stage(weights, data, output, force, after, crops, crop, images, levels, storage, dead_zone, rate_weight, seed,
                    threads):
    """Code the iterations after the network's first AFTER with a block stage fitted on training
    images (rnncodec.block_stage); write it with the entropy coder's tables as a block stage file."""
    from ..fitting import fit_stage_file

    if crop % BLOCK:
        raise click.ClickException(f"--crop {crop} is not a multiple of {BLOCK}")
    if rate_weight and not dead_zone:
        raise click.ClickException("--rate-weight needs a ternary stage (--dead-zone above 0)")
    run_fit(output, force, threads, lambda: fit_stage_file(weights, data, output, after, crops, crop, images, seed, levels, storage,
                                                           dead_zone, rate_weight))


@click.command("fit-postfilter")
@click.argument("stage_file", type=click.Path(exists=True, dir_okay=False))
@data_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Block stage file to write, beside STAGE_FILE: it with the post-filter (and NAME.postfilter.onnx beside it).")
@force_option
@click.option("--crops", default=600, show_default=True, type=click.IntRange(2), help="Random 128² training crops to fit on (two per image).")
@click.option("--steps", default=6000, show_default=True, type=click.IntRange(1), help="Training steps (batches of 32 patches of 64²).")
@click.option("--channels", default=16, show_default=True, type=click.IntRange(1), help="Width of the filter's hidden layers.")
@click.option("--layers", default=4, show_default=True, type=click.IntRange(2), help="Convolutions, all 3×3.")
@click.option("--seed", default=0, show_default=True, type=int)
@threads_option
def fit_postfilter(stage_file, data, output, force, crops, steps, channels, layers, seed, threads):
    """Fit a post-filter for a block stage file's model on its own decoded training crops
    (rnncodec.postfilter); write the stage file with it, and say what it adds on the validation split."""
    from ..postfilter_training import fit_postfilter_file

    def fit():
        facts = fit_postfilter_file(stage_file, data, output, crops, steps, channels, layers, seed, log=click.echo)
        gains = " ".join(f"{g:+.3f}" for g in facts["postfilter_validation_psnr_gain"])
        click.echo(f"validation split ({facts['validation_images']} centre crops): PSNR gain per iteration count {gains} dB")
        return facts

    run_fit(output, force, threads, fit)
