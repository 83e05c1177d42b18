#!/usr/bin/env python3
"""Block stage files side by side on the validation split: what a stage's shape is worth.

    python benchmarks/stages.py [TRAIN_DIR] STAGE_FILE... [--effort N] [--json OUT]

Encodes each validation image of TRAIN_DIR (the held-out split, never Kodak) with each block
stage file (rate–distortion layers, as the encoder writes them) through real .rgc files, decoding
every iteration, and prints each file's curve and its BD-PSNR, BD-rate (PSNR) and BD-rate
(MS-SSIM dB) against the first file, over their common range. The model card's ablation table
comes from this command (stages fitted by `rnncodec fit-block-stage` with different --after,
--levels and --storage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnncodec.image_folders import add_image_folder
from rnncodec.data import is_validation, list_images
from rnncodec.evaluate import evaluate_folder
from rnncodec.metrics import bd_psnr, bd_rate, ms_ssim_db


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_image_folder(parser, "--data", "train", "the training folder, whose validation split is used")
    parser.add_argument("stages", nargs="+", type=Path, metavar="STAGE_FILE", help="block stage files; the first is the reference")
    parser.add_argument("--json", type=Path, metavar="OUT", help="where to write every file's curve")
    parser.add_argument("--effort", type=int, default=0, help="the encoder's bit search (rnncodec encode --effort)")
    args = parser.parse_args(argv)
    if args.effort < 0:
        parser.error("--effort must be 0 or more")
    paths = [p for p in list_images(args.data) if is_validation(p)]
    counts = list(range(1, 17))
    curves = {}
    for stage in args.stages:
        points = evaluate_folder(args.data, counts, stage, paths, effort=args.effort)["codecs"]["rnncodec"]["points"]
        curves[str(stage)] = points
        print(f"{stage}: " + " ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}" for p in points) + "  (bpp/PSNR dB per iteration)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"dataset": f"{args.data.name} (validation split)", "images": len(paths), "effort": args.effort,
                                         "curves": curves}, indent=1) + "\n")

    def columns(points):
        return [p["bpp"] for p in points], [p["psnr"] for p in points], [ms_ssim_db(p["ms_ssim"]) for p in points]

    print(f"{len(paths)} validation images; against {args.stages[0]}:")
    rr, rp, rs = columns(curves[str(args.stages[0])])
    for stage in args.stages[1:]:
        r, p, s = columns(curves[str(stage)])
        print(f"{stage}: BD-PSNR {bd_psnr(rr, rp, r, p):+.2f} dB, BD-rate (PSNR) {bd_rate(rr, rp, r, p):+.1f} %, "
              f"BD-rate (MS-SSIM dB) {bd_rate(rr, rs, r, s):+.1f} %")


if __name__ == "__main__":
    sys.exit(main())
