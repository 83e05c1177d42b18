"""Would a block stage that may send a component as zero code better than one that always sends its sign?

    python experiments/stage_dead_zone.py [--data TRAIN_DIR] [--crops 400] [--thresholds 0.5 0.6 0.7]
                                          [--components 15 31 63] [--rate-weights 0 0.6 1.0]

Today's stage sends, per refinement of a 16×16 block, the sign of all 31 components and a scale bit:
a component whose coefficient is small gets ±α·s anyway, which can add error, and costs a bit.
A *dead-zone* stage sends each component as −1, 0 or +1 (0 when |c| < τ·a·s, or, with a rate weight
κ, when what it removes is below κ times the block's mean per component), a zero costing little
where zeros are likely, and its scale bit. Both stages are fitted the same way (`fit_block_stage`'s
loop: each level's principal components of the residual it meets; for the dead zone, a is the
centroid of the magnitudes it sends) on the same seeded training crops after the default network's
K iterations. On the validation split's central crops (never Kodak) each block's refinements are
then given out by rate and distortion (upper concave hull of gain against bits, in order of slope,
as the encoder's layers do, here with each refinement's own bits). Rates are ideal code lengths:
every sign and scale bit 1 bit in both stages (today's coder gets 0.96), each zero flag −log2 p of
a static model fitted on the training crops, in the context of its level, component, how many of
the block's earlier components in the refinement were sent and how many its previous refinement sent. Maps and the network's iterations
cost the same in both and are left out of the rate; PSNR is the stage's picture (no post-filter).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from rnncodec.block_stage import REFINEMENTS, _code_ternary, _log_rms, fit_block_stage, hull_slopes, to_blocks
from rnncodec.data import CropSampler, load_rgb
from rnncodec.fitting import central_crop, network_residuals, training_split
from rnncodec.image_folders import add_image_folder
from rnncodec.metrics import bd_psnr, bd_rate
from rnncodec.pixels import to_network
from rnncodec.weights import default_network_path, load_network

STEP = 1.25
SENT_BUCKETS = np.array([0, 1, 2, 3, 5, 8, 13, 21])  # context: how many earlier components were sent (lower edges)


def sign_stage_refinements(stage, rows, scale):
    """Today's stage: per refinement, (bits, gain) of every block, (L, N) each."""
    bits, gains = [], []
    error = np.einsum("nk,nk->n", rows, rows)
    for i in range(REFINEMENTS):
        level = i % stage.iterations
        basis, alpha = stage.basis[level].astype(np.float64), stage.alpha[level].astype(np.float64)
        c = rows @ basis
        up = np.abs(c) @ alpha / (alpha @ alpha) > scale
        scale = np.where(up, scale * STEP, scale / STEP)
        rows = rows - (np.where(c >= 0, 1.0, -1.0) * alpha * scale[:, None]) @ basis.T
        after = np.einsum("nk,nk->n", rows, rows)
        gains.append(error - after)
        bits.append(np.full(len(rows), float(basis.shape[1] + 1)))
        error = after
    return np.array(bits), np.array(gains)


PREVIOUS_BUCKETS = np.array([0, 1, 4, 8, 12, 16, 20, 24])  # context: how many the block's previous refinement sent


def sent_context(q, previous):
    """(N, K) symbols → the context index of each component's zero flag: its component, the bucket of
    how many earlier components of the block were sent, and of how many its previous refinement sent."""
    sent_before = np.cumsum(q != 0, axis=1) - (q != 0)
    bucket = np.searchsorted(SENT_BUCKETS, sent_before, side="right") - 1
    before = np.searchsorted(PREVIOUS_BUCKETS, previous, side="right") - 1
    return (np.arange(q.shape[1])[None] * len(SENT_BUCKETS) + bucket) * len(PREVIOUS_BUCKETS) + before[:, None]


def dead_zone_refinements(bases, alphas, rows, scale, tau, flag_bits=None, kappa=0.0):
    """Per refinement, (bits, gain) of every block and the zero flags' contexts and values (to fit the
    static flag model): bits use ``flag_bits`` (level, context) → (cost of 0, cost of 1), or 1 bit each."""
    levels, _, components = bases.shape
    bits, gains, flags = [], [], []
    error = np.einsum("nk,nk->n", rows, rows)
    previous = np.full(len(rows), components)
    for i in range(REFINEMENTS):
        level = i % levels
        c = rows @ bases[level]
        q, _, scale = _code_ternary(c, alphas[level], scale, STEP, tau, kappa)
        rows = rows - (q * alphas[level] * scale[:, None]) @ bases[level].T
        after = np.einsum("nk,nk->n", rows, rows)
        context, sent = sent_context(q, previous), q != 0
        previous = sent.sum(axis=1)
        flags.append((level, context, sent))
        if flag_bits is None:
            cost = np.ones_like(q)
        else:
            cost = np.where(sent, flag_bits[level, context, 1], flag_bits[level, context, 0])
        bits.append(1 + np.sum(cost + sent, axis=1))  # scale bit, flags, signs of the sent
        gains.append(error - after)
        error = after
    return np.array(bits), np.array(gains), flags


def fit_flag_bits(flags, levels, components):
    """Static code lengths (bits) of the zero flags per (level, context), from counts + ½."""
    counts = np.full((levels, components * len(SENT_BUCKETS) * len(PREVIOUS_BUCKETS), 2), 0.5)
    for level, context, sent in flags:
        np.add.at(counts[level], (context.ravel(), sent.ravel().astype(int)), 1)
    return -np.log2(counts / counts.sum(axis=-1, keepdims=True))


def rd_curve(bits, gains, start_error, pixels, budgets):
    """PSNR after giving out each budget of bits (bits per pixel of the stage) in hull-slope order."""
    slopes = hull_slopes(gains, bits)
    order = np.argsort(-slopes.ravel(), kind="stable")
    spent = np.cumsum(bits.ravel()[order]) / pixels
    removed = np.cumsum(gains.ravel()[order])
    psnrs = []
    for budget in budgets:
        k = np.searchsorted(spent, budget, side="right")
        mse = (start_error - (removed[k - 1] if k else 0.0)) / (pixels * 3)
        psnrs.append(10 * np.log10(1 / mse))
    return np.array(psnrs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_image_folder(parser, "--data", "train", "training images (fits on the training split, measures on the validation split)")
    parser.add_argument("--after", type=int, default=2, help="network iterations before the stage (the default's: 2)")
    parser.add_argument("--crops", type=int, default=400, help="seeded 128² training crops the stages are fitted on")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7],
                        help="dead zones τ: a component is sent where |c| ≥ τ·a·s")
    parser.add_argument("--components", type=int, nargs="+", default=[31],
                        help="components per level of the dead-zone stage (today's stage: 31)")
    parser.add_argument("--rate-weights", type=float, nargs="+", default=[0.0],
                        help="κ: also zero a component that removes less than κ times the block's mean per component")
    parser.add_argument("--network-bpp", type=float, default=0.19,
                        help="rate of the network's iterations added to both curves (BD is taken on total bpp)")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    network = load_network(default_network_path())
    train, validation = training_split(args.data)
    sampler = CropSampler([load_rgb(p) for p in train], 128, 0)
    residuals, increments = network_residuals(network, sampler.batch(args.crops), args.after)
    train_rows = to_blocks(residuals.astype(np.float64)).reshape(-1, 768)
    x = _log_rms(to_blocks(increments.astype(np.float64)).reshape(train_rows.shape))
    sign_stage = fit_block_stage(residuals, increments, args.after, REFINEMENTS)
    center, exponent = sign_stage.center, sign_stage.exponent
    train_scale = np.exp(exponent * (x - center))

    images = []
    for path in validation:
        crop = torch.from_numpy(to_network(central_crop(load_rgb(path))))[None]
        crop = crop[..., : crop.shape[-2] // 16 * 16, : crop.shape[-1] // 16 * 16]
        r, inc = network_residuals(network, crop, args.after)
        rows = to_blocks(r.astype(np.float64))[0]
        scale = np.exp(exponent * (_log_rms(to_blocks(inc.astype(np.float64))[0]) - center))
        images.append((rows, scale, rows.shape[0] * 256))
    print(f"{len(images)} validation crops; {args.crops} training crops; stage after {args.after}")

    budgets = np.linspace(0.05, 1.8, 36)  # stage bpp
    curves = {"signs (today)": [sign_stage_refinements(sign_stage, rows, scale) for rows, scale, _ in images]}
    for tau, components, kappa in [(t, k, w) for t in args.thresholds for k in args.components for w in args.rate_weights]:
        stage = fit_block_stage(residuals, increments, args.after, REFINEMENTS, STEP, components + 1, tau, kappa)
        bases, alphas = stage.basis.astype(np.float64), stage.alpha.astype(np.float64)
        _, _, flags = dead_zone_refinements(bases, alphas, train_rows, train_scale.copy(), tau, kappa=kappa)
        flag_bits = fit_flag_bits(flags, REFINEMENTS, components)
        results, sent = [], []
        for rows, scale, _ in images:
            bits, gains, val_flags = dead_zone_refinements(bases, alphas, rows, scale.copy(), tau, flag_bits, kappa)
            results.append((bits, gains))
            sent += [np.mean(s) for _, _, s in val_flags]
        curves[f"dead zone τ={tau}, {components} components" + (f", κ={kappa}" if kappa else "")
               + f" (sends {np.mean(sent):.0%})"] = results
    table = {}
    for name, results in curves.items():
        psnr = np.mean([rd_curve(b, g, np.sum(rows * rows), px, budgets)
                        for (b, g), (rows, _, px) in zip(results, images)], axis=0)
        table[name] = psnr
    rates = budgets + args.network_bpp
    base = table["signs (today)"]
    print("| stage | BD-PSNR | BD-rate | PSNR at stage 0.25 / 0.5 / 1.0 / 1.5 bpp |")
    print("|---|---:|---:|---|")
    for name, psnr in table.items():
        at = [float(np.interp(v, budgets, psnr)) for v in (0.25, 0.5, 1.0, 1.5)]
        try:
            bd = f"{bd_psnr(rates, base, rates, psnr):+.2f} dB | {bd_rate(rates, base, rates, psnr):+.1f} %"
        except ValueError:  # no common range
            bd = "– | –"
        print(f"| {name} | {bd} | " + " / ".join(f"{v:.2f}" for v in at) + " |")


if __name__ == "__main__":
    sys.exit(main())
