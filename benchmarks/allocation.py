#!/usr/bin/env python3
"""What rate–distortion allocation of the block stage's refinements buys, on the validation split.

    python benchmarks/allocation.py [TRAIN_DIR] --json OUT [--model STAGE_FILE]

Encodes each validation image of TRAIN_DIR (the held-out split, never Kodak) with the default
model (or STAGE_FILE) through real .rgc files, three times: with layers that give every block one
refinement per iteration (what coder 2's files held), with layers that give out the refinements
of one pass over the stage's levels by rate and distortion, and with the encoder's own layers
(the same over three passes; a stage with a level for each of a block's 39 refinements has only
that one pass), decoding every iteration. Prints the curves and the BD-PSNR /
BD-rate of each against uniform layers; writes them to OUT in rnncodec eval's JSON form (codecs
"rnncodec", "rnncodec, one pass" and "rnncodec, uniform layers"), which benchmarks/report.py reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnncodec.image_folders import add_image_folder
from rnncodec.block_stage import REFINEMENTS
from rnncodec.codec import ModelPipeline
from rnncodec.data import is_validation, list_images
from rnncodec.evaluate import evaluate_folder
from rnncodec.metrics import bd_psnr, bd_rate, ms_ssim_db
from rnncodec.weights import default_weights_path

LABELS = {"uniform": "rnncodec, uniform layers", "rd-one-pass": "rnncodec, one pass", "rd": "rnncodec"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_image_folder(parser, "folder", "train", "the training folder, whose validation split is used")
    parser.add_argument("--json", type=Path, required=True, metavar="OUT", help="where to write both curves")
    parser.add_argument("--model", help="a block stage file (default: the shipped default)")
    args = parser.parse_args(argv)
    paths = [p for p in list_images(args.folder) if is_validation(p)]
    counts = list(range(1, 17))
    labels = dict(LABELS)
    stage = ModelPipeline.load(args.model or default_weights_path()).stage
    if stage is not None and stage.iterations >= REFINEMENTS:
        del labels["rd-one-pass"]  # a stage with a level for every refinement has a single pass
    results = {a: evaluate_folder(args.folder, counts, args.model, paths, a) for a in labels}
    merged = {**results["rd"], "dataset": f"{Path(args.folder).name} (validation split)",
              "codecs": {labels[a]: r["codecs"]["rnncodec"] for a, r in results.items()}}
    args.json.write_text(json.dumps(merged, indent=1) + "\n")
    print(f"{len(paths)} validation images; PSNR (dB) / MS-SSIM / bpp per iteration")
    print("| iterations | " + " | ".join(labels.values()) + " |")
    print("|---:|" + "---|" * len(labels))
    points = {a: r["codecs"]["rnncodec"]["points"] for a, r in results.items()}
    for row in zip(*points.values()):
        print(f"| {row[0]['setting']} | " + " | ".join(f"{p['psnr']:.2f} / {p['ms_ssim']:.4f} / {p['bpp']:.4f}" for p in row) + " |")
    columns = {a: ([p["bpp"] for p in ps], [p["psnr"] for p in ps], [ms_ssim_db(p["ms_ssim"]) for p in ps])
               for a, ps in points.items()}
    ur, up, us = columns["uniform"]
    for allocation in [a for a in ("rd-one-pass", "rd") if a in labels]:
        rr, rp, rs = columns[allocation]
        print(f"{labels[allocation]} against uniform layers: BD-PSNR {bd_psnr(ur, up, rr, rp):+.2f} dB, "
              f"BD-rate (PSNR) {bd_rate(ur, up, rr, rp):+.1f} %, BD-rate (MS-SSIM dB) {bd_rate(ur, us, rr, rs):+.1f} %")


if __name__ == "__main__":
    sys.exit(main())
