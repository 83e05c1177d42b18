#!/usr/bin/env python3
"""What rate–distortion allocation of the block stage's refinements buys, on the validation split.

    python benchmarks/allocation.py [TRAIN_DIR] --json OUT [--model STAGE_FILE]

Encodes each validation image of TRAIN_DIR (the held-out split, never Kodak) with the default
model (or STAGE_FILE) through real .rgc files, twice: with layers that give out the block stage's
refinements by rate and distortion (what the encoder writes) and with layers that give every
block one refinement per iteration (what coder 2's files held), decoding every iteration. Prints
both curves and the BD-PSNR / BD-rate of the first against the second; writes both to OUT in
rnncodec eval's JSON form (codecs "rnncodec" and "rnncodec, uniform layers"), which
benchmarks/report.py reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from folders import add_image_folder
from rnncodec.data import is_validation, list_images
from rnncodec.evaluate import evaluate_folder
from rnncodec.metrics import bd_psnr, bd_rate, ms_ssim_db

LABELS = {"rd": "rnncodec", "uniform": "rnncodec, uniform layers"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_image_folder(parser, "folder", "train", "the training folder, whose validation split is used")
    parser.add_argument("--json", type=Path, required=True, metavar="OUT", help="where to write both curves")
    parser.add_argument("--model", help="a block stage file (default: the shipped default)")
    args = parser.parse_args(argv)
    paths = [p for p in list_images(args.folder) if is_validation(p)]
    counts = list(range(1, 17))
    results = {a: evaluate_folder(args.folder, counts, args.model, paths, a) for a in LABELS}
    merged = {**results["rd"], "dataset": f"{Path(args.folder).name} (validation split)",
              "codecs": {LABELS[a]: r["codecs"]["rnncodec"] for a, r in results.items()}}
    args.json.write_text(json.dumps(merged, indent=1) + "\n")
    print(f"{len(paths)} validation images; PSNR (dB) / MS-SSIM / bpp per iteration")
    print("| iterations | uniform layers | rate–distortion layers |")
    print("|---:|---|---|")
    points = {a: r["codecs"]["rnncodec"]["points"] for a, r in results.items()}
    for u, r in zip(points["uniform"], points["rd"]):
        print(f"| {u['setting']} | {u['psnr']:.2f} / {u['ms_ssim']:.4f} / {u['bpp']:.4f} | "
              f"{r['psnr']:.2f} / {r['ms_ssim']:.4f} / {r['bpp']:.4f} |")
    columns = {a: ([p["bpp"] for p in ps], [p["psnr"] for p in ps], [ms_ssim_db(p["ms_ssim"]) for p in ps])
               for a, ps in points.items()}
    (ur, up, us), (rr, rp, rs) = columns["uniform"], columns["rd"]
    print(f"rate–distortion layers against uniform layers: BD-PSNR {bd_psnr(ur, up, rr, rp):+.2f} dB, "
          f"BD-rate (PSNR) {bd_rate(ur, up, rr, rp):+.1f} %, BD-rate (MS-SSIM dB) {bd_rate(ur, us, rr, rs):+.1f} %")


if __name__ == "__main__":
    sys.exit(main())
