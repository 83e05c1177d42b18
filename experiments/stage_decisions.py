"""Could the encoder choose the ternary stage's symbols better, the decoder and its files unchanged?

    python experiments/stage_decisions.py [--data TRAIN_DIR] [VARIANT ...]

For each of its blocks' refinements the default's encoder picks the scale bit that leaves less
error and sends a component (as its sign) unless it lies in the dead zone (below τ times the
magnitude it would send) or removes less than κ times the block's mean per component
(:func:`rnncodec.block_stage._code_ternary`; τ and κ are stored in the stage file, and the decoder
needs neither). Any other choice is as valid a file. This encodes the validation photos (never
Kodak) through real files at 16 iterations (effort 0) with each VARIANT of that choice and prints
each curve and its BD-PSNR, BD-rate (PSNR) and BD-rate (MS-SSIM dB) against the first VARIANT:

- ``stored``: the stage file's τ and κ, as the encoder does;
- ``kappa=K`` / ``tau=T``: another κ or τ;
- ``cost=P``: κ's threshold scaled, per component, by what sending it costs beyond not sending it
  (the flag's extra bits and the sign's), from the stage prior's counts summed over the count
  states at the refinement's level state, relative to the level's mean, to the power P;
- ``rdscale=M``: the scale bit chosen by error plus M times the block's mean per component for
  each component sent (a rate term), instead of by error alone.
"""

from __future__ import annotations

import argparse

import numpy as np

from rnncodec import layered
from rnncodec.block_stage import BlockStage, _code_ternary
from rnncodec.codec import ModelPipeline
from rnncodec.data import is_validation, list_images
from rnncodec.evaluate import evaluate_folder
from rnncodec.image_folders import add_image_folder
from rnncodec.metrics import bd_psnr, bd_rate, ms_ssim_db


def sending_costs(pipeline: ModelPipeline) -> np.ndarray:
    """(level states, components): the bits a sent component costs beyond a zero, under the stage prior."""
    prior = np.asarray(pipeline.tables.stage_prior, np.float64)
    components = pipeline.stage.sign_bits
    flags = prior[: components * layered._FLAG_STATES]
    flags = flags.reshape(layered._STAGE_LEVEL_STATES, components, -1, 2).sum(axis=2)
    p_sent = flags[..., 1] / flags.sum(axis=-1)
    return -np.log2(p_sent) + 1 + np.log2(1 - p_sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_image_folder(parser, "--data", "train", "the training folder, whose validation split is used")
    parser.add_argument("variants", nargs="*", default=["stored", "kappa=0.4", "kappa=0.8", "tau=0.4", "cost=0.5", "cost=1", "rdscale=1"])
    args = parser.parse_args()
    paths = [p for p in list_images(args.data) if is_validation(p)]
    costs = sending_costs(ModelPipeline.load(None))
    variant = {}

    def patched(self, coefficients, level, scale):
        tau, kappa = variant.get("tau", self.dead_zone), variant.get("kappa", self.rate_weight)
        weights = None
        if "cost" in variant:
            row = costs[layered._stage_level_state(np.array([level]))[0]]
            weights = (row / row.mean()) ** variant["cost"]
        return _code_ternary(coefficients, self.alpha[level], scale, self.step, tau, kappa if weights is None else kappa * weights,
                             variant.get("rdscale", 0.0))

    BlockStage.choose = patched
    curves = {}
    for name in args.variants:
        variant.clear()
        if name != "stored":
            key, value = name.split("=")
            variant[key] = float(value)
        points = evaluate_folder(args.data, list(range(1, 17)), None, paths)["codecs"]["rnncodec"]["points"]
        curves[name] = [(p["bpp"], p["psnr"], ms_ssim_db(p["ms_ssim"])) for p in points]
        print(f"{name}: " + " ".join(f"{b:.3f}/{q:.2f}" for b, q, _ in curves[name]) + "  (bpp/PSNR dB per iteration)", flush=True)
    reference = np.array(curves[args.variants[0]]).T
    print(f"{len(paths)} validation images; against {args.variants[0]}:")
    for name in args.variants[1:]:
        r, p, s = np.array(curves[name]).T
        print(f"{name}: BD-PSNR {bd_psnr(reference[0], reference[1], r, p):+.3f} dB, BD-rate (PSNR) "
              f"{bd_rate(reference[0], reference[1], r, p):+.2f} %, BD-rate (MS-SSIM dB) {bd_rate(reference[0], reference[2], r, s):+.2f} %")


if __name__ == "__main__":
    main()
