"""What would an encoder that searches the network's bits give the default model, through real files?

    python experiments/bit_search_files.py [--data TRAIN_DIR] [--steps 2] [--json OUT]

`experiments/bit_refinement.py` measured, on the network alone, what searching each iteration's bits
for the same decoder gains (for the default's network: +0.90 dB at iteration 1, +0.44 at 2 on the
validation crops). The default model runs the network for 2 iterations only and its block stage
after them, so a better start could carry through. This encodes the validation photos (never
Kodak) with the default model twice through real .rgc files: with the encoder's bits, and with each
network iteration's bits refined as `rnncodec encode --effort STEPS` refines them
(:mod:`rnncodec.engines.search`: Adam on the binarizer's pre-activations, straight-through sign,
the best bits seen kept, the PyTorch decoder beside the ONNX one the codec runs); the stage, its
layers, the entropy coder and the post-filter are the default's in both. Prints both curves
(every iteration count, decoded from the same file) and the search's BD-PSNR, BD-rate (PSNR) and
BD-rate (MS-SSIM dB). The decoder is the same, so the
searched files decode with any release; the search needs PyTorch and many decoder passes.
"""

from __future__ import annotations

import argparse
import json

from rnncodec.data import is_validation, list_images
from rnncodec.evaluate import evaluate_folder
from rnncodec.image_folders import add_image_folder
from rnncodec.metrics import bd_psnr, bd_rate, ms_ssim_db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_image_folder(parser, "--data", "train", "training images (their validation split is measured)")
    parser.add_argument("--steps", type=int, default=2, help="search steps per network iteration (--effort)")
    parser.add_argument("--json", help="where to write both curves")
    args = parser.parse_args()
    paths = [p for p in list_images(args.data) if is_validation(p)]
    counts = list(range(1, 17))
    curves = {}
    for name, effort in [("encoder's bits", 0), (f"searched, {args.steps} steps", args.steps)]:
        curves[name] = evaluate_folder(args.data, counts, None, paths, effort=effort)["codecs"]["rnncodec"]["points"]
        print(f"{name}: " + " ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}" for p in curves[name]) + "  (bpp/PSNR dB per iteration)",
              flush=True)
    (rr, rp, rs), (r, p, s) = ([[q["bpp"] for q in c], [q["psnr"] for q in c], [ms_ssim_db(q["ms_ssim"]) for q in c]]
                               for c in curves.values())
    print(f"{len(paths)} validation photos; the search against the encoder's bits: BD-PSNR {bd_psnr(rr, rp, r, p):+.2f} dB, "
          f"BD-rate (PSNR) {bd_rate(rr, rp, r, p):+.1f} %, BD-rate (MS-SSIM dB) {bd_rate(rr, rs, r, s):+.1f} %")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"images": len(paths), "steps": args.steps, "curves": curves}, f, indent=1)


if __name__ == "__main__":
    main()
