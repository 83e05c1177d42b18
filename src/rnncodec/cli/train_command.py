"""rnncodec train."""

from __future__ import annotations

import click

from ..limits import BLOCK, MAX_ITERATIONS

@click.command()
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of training images.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder: checkpoint.pt, weights.safetensors, log.jsonl.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt, else warm-start from the shipped weights.")
@click.option("--init", type=click.Path(exists=True, dir_okay=False), help="Warm-start from this network weights file.")
@click.option("--steps", type=click.IntRange(1), help="Stop when the global step reaches this.")
@click.option("--minutes", type=click.FloatRange(0, min_open=True), help="Stop after this many minutes.")
@click.option("--batch-size", type=click.IntRange(1))
@click.option("--crop", type=click.IntRange(BLOCK))
@click.option("--iterations", type=click.IntRange(1, MAX_ITERATIONS), help="Iterations unrolled per training step.")
@click.option("--lr", type=click.FloatRange(0, min_open=True))
@click.option("--schedule-steps", type=click.IntRange(1), help="Cosine learning-rate horizon (global steps).")
@click.option("--schedule-start", type=click.IntRange(0),
              help="Global step where warm-up and cosine begin, e.g. a warm start's step to restart them.")
@click.option("--loss", type=click.Choice(["l1", "mse", "psnr"]),
              help="Per iteration: minus each crop's PSNR (the mean-PSNR objective, default), or L1 or MSE of the residual.")
@click.option("--val-every", type=click.IntRange(1))
@click.option("--checkpoint-every", type=click.IntRange(1))
@click.option("--stochastic-bits/--sign-bits", default=None,
              help="Binarize stochastically in training, or by the sign as at inference (default).")
@click.option("--detach-previous/--joint-iterations", default=None,
              help="Train each iteration on its own residual only, or jointly through all later ones (default).")
@click.option("--train-only", type=click.Choice(["all", "encoder"]),
              help="What learns: everything (default), or the encoder alone, the decoder kept as it is so files decode the same.")
@click.option("--seed", type=int)
@click.option("--no-learned-gain", is_flag=True, help="New models only: fix the residual gain at 1.")
@click.option("--analysis-channels", type=click.IntRange(1), help="Layer width; with --init or --resume from weights, widens them.")
@click.option("--encoder-hidden", callback=lambda c, p, v: widths_option(v), help="Encoder ConvLSTM widths, e.g. 64,128,256.")
@click.option("--synthesis-channels", type=click.IntRange(1), help="Decoder width at the codes' resolution.")
@click.option("--decoder-hidden", callback=lambda c, p, v: widths_option(v), help="Decoder ConvLSTM widths, e.g. 256,128,64,32; from weights, a thinner first one narrows them.")
@click.option("--tail-branches", callback=lambda c, p, v: widths_option(v),
              help="Hidden widths of feed-forward conv branches beside the 1/4 and 1/2 decoder cells, e.g. 128,64; from weights, thinner ones narrow them.")
@click.option("--full-resolution-channels", type=click.IntRange(1), help="Channels reaching full resolution (needs a 1/2 branch).")
@click.option("--iteration-conditioning", is_flag=True, default=None, help="Per-iteration output bias and scale/shift of the decoder's tail.")
@click.option("--full-resolution-branch", type=click.IntRange(1), help="Hidden width of a residual conv branch at full resolution.")
@click.option("--device", help="cpu, cuda, cuda:1 … (default: cuda when present).")
@click.option("--threads", type=click.IntRange(1), help="CPU threads for PyTorch.")
def train(data, out, resume, init, steps, minutes, device, threads, no_learned_gain, **options):
    """Train the model on a folder of images (resumable; DDP under torchrun)."""
    import torch

    from ..network import TAIL, WIDTHS, ModelConfig
    from ..train import train as run_training
    from ..errors import WeightsError

    if steps is None and minutes is None:
        raise click.ClickException("give --steps or --minutes")
    if threads:
        torch.set_num_threads(threads)
    widths = {k: v for k in WIDTHS + TAIL if (v := options.pop(k)) is not None}  # ModelConfig fields, not TrainConfig
    overrides = {k: v for k, v in options.items() if v is not None}
    try:
        model_cfg = ModelConfig(learned_gain=not no_learned_gain)
        result = run_training(data, out, overrides, model_cfg, resume=resume, init=init, steps=steps, minutes=minutes,
                              device=device, widths=widths)
    except (WeightsError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"stopped at step {result['step']} after {result['train_seconds'] / 60:.1f} training minutes", err=True)


def widths_option(value: str | None) -> tuple[int, ...] | None:
    """'64,128,256' → (64, 128, 256)."""
    if value is None:
        return None
    try:
        widths = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated channel counts, got {value!r}") from None
    return widths
