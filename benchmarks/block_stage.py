"""Would a sign-coded block transform code the later iterations better than the network? Measured.

    python benchmarks/block_stage.py WEIGHTS [--data TRAIN_DIR] [--after 3,4] [--step 1.25]
        [--crops 200]

After the network's first K iterations, each further iteration is coded by the block stage
(src/rnncodec/block_stage.py: per 16×16×3 block, 31 signs on that iteration's principal
components of training residuals and one bit that scales the block by STEP up or down), fitted
here on training residuals (`rnncodec fit-block-stage` makes the codec's block stage files).

Fitted on random 128² crops of the training split, reported on the validation split's central
256² crops (never Kodak): mean PSNR per iteration and bits per pixel as the entropy coder would
spend them (its tables fitted on the training crops' codes), for the network alone (its shipped
tables) and with the block stage after each K.
"""

import argparse

import numpy as np
import torch

from rnncodec.image_folders import add_image_folder
from rnncodec.block_stage import fit_block_stage
from rnncodec.data import CropSampler, is_validation, list_images, load_rgb, validation_crops
from rnncodec.entropy import fit_tables, ideal_bits
from rnncodec.weights import load_coder_tables, load_network


@torch.no_grad()
def network_run(model, x: torch.Tensor, iterations: int):
    """Reconstructions (numpy) and codes (0/1 uint8) of the network's iterations 1..iterations."""
    recons, codes = [], []
    for bits, recon in model.iterate(x, iterations):
        recons.append(recon.numpy())
        codes.append(((bits.numpy() + 1) / 2).astype(np.uint8))
    return recons, codes


def after_network(x: np.ndarray, recons: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The residual x − x̂_K and the network's last increment x̂_K − x̂_{K−1} after K iterations."""
    return x - recons[k - 1], recons[k - 1] - (recons[k - 2] if k > 1 else 0)


def stage_run(stage, x: np.ndarray, recons: list[np.ndarray]):
    """Residuals and codes (0/1 uint8) of the stage's iterations after the network's first K."""
    residual, last = after_network(x, recons, stage.after)
    scale = stage.start_scale(last)
    residuals, codes = [], []
    for t in range(stage.after + 1, stage.after + stage.iterations + 1):
        bits, increment, scale = stage.encode(residual, t, scale)
        residual = residual - increment
        residuals.append(residual)
        codes.append(((bits + 1) / 2).astype(np.uint8))
    return residuals, codes


def mean_psnr(error: np.ndarray) -> float:
    """Mean over images of the PSNR of a network-range error (peak 1), without 8-bit rounding."""
    return float(np.mean(-10 * np.log10(np.mean(error.astype(np.float64) ** 2, axis=(1, 2, 3)))))


def per_image(codes: list[np.ndarray]) -> list[np.ndarray]:
    """Iterations' (B, C, h, w) codes → one (T, C, h, w) array per image, as the coder takes them."""
    return [np.stack([c[i] for c in codes]) for i in range(len(codes[0]))]


def bits_per_pixel(codes: list[np.ndarray], tables, pixels: int) -> list[float]:
    """Coded bits per pixel of the first t iterations, t = 1..len(codes)."""
    images = per_image(codes)
    code_bits = images[0][0].size  # one iteration's bits of one image
    return [ideal_bits([c[:t] for c in images], tables) * t * code_bits / pixels for t in range(1, len(codes) + 1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    add_image_folder(parser, "--data", "train", "training images (fit on the training split, report on validation)")
    parser.add_argument("--after", default="3,4", help="network iterations K before the block stage, e.g. 3,4")
    parser.add_argument("--step", type=float, default=1.25, help="factor of the per-block scale bit")
    parser.add_argument("--crops", type=int, default=200, help="random 128² training crops to fit on")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_network(args.weights).eval().requires_grad_(False)
    iterations = model.cfg.max_iterations
    paths = list_images(args.data)
    val = validation_crops([load_rgb(p) for p in paths if is_validation(p)], 256)
    train = CropSampler([load_rgb(p) for p in paths if not is_validation(p)], 128, seed=0).batch(args.crops)
    train_recons, train_codes = network_run(model, train, iterations)
    val_recons, val_codes = network_run(model, val, iterations)
    train, val = train.numpy(), val.numpy()
    pixels = val.shape[-2] * val.shape[-1]
    network_bpp = bits_per_pixel(val_codes, load_coder_tables(args.weights, model.cfg.code_channels), pixels)
    network_psnr = [mean_psnr(val - r) for r in val_recons]
    afters = [int(k) for k in args.after.split(",")]
    print(f"{len(val)} validation crops of 256²; fitted on {len(train)} training crops of 128²; step {args.step}")
    print("| iteration | network PSNR | bpp |" + "".join(f" block stage after {k}: PSNR | bpp |" for k in afters))
    print("|---:|---:|---:|" + "---:|---:|" * len(afters))
    columns = []
    for k in afters:
        stage = fit_block_stage(*after_network(train, train_recons, k), k, iterations - k, args.step)
        tables = fit_tables(per_image(train_codes[:k] + stage_run(stage, train, train_recons)[1]))
        residuals, codes = stage_run(stage, val, val_recons)
        columns.append((network_psnr[:k] + [mean_psnr(r) for r in residuals],
                        bits_per_pixel(val_codes[:k] + codes, tables, pixels)))
    for t in range(iterations):
        row = f"| {t + 1} | {network_psnr[t]:.2f} | {network_bpp[t]:.3f} |"
        print(row + "".join(f" {p[t]:.2f} | {b[t]:.3f} |" for p, b in columns))


if __name__ == "__main__":
    main()
