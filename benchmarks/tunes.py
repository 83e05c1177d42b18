#!/usr/bin/env python3
"""The encoder's tunes side by side on the validation split: what each trades between PSNR and MS-SSIM.

    python benchmarks/tunes.py [TRAIN_DIR] [--model STAGE_FILE] [--conventional JSON] [--json OUT]

Encodes each validation image of TRAIN_DIR (the held-out split, never Kodak) once per tune
(`rnncodec encode --tune`) with the default model (or STAGE_FILE) through real .rgc files, decoding
every iteration, and prints each tune's curve and its BD-PSNR and BD-rate (MS-SSIM dB) against
the psnr tune, and, given the conventional codecs' curves on the same images
(benchmarks/validation.sh writes them: benchmarks/results/validation-conventional.json), against
Pillow's JPEG. Files of every tune decode alike: a tune changes only which blocks an iteration's
refinements go to.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnncodec.data import is_validation, list_images
from rnncodec.evaluate import evaluate_folder
from rnncodec.image_folders import add_image_folder
from rnncodec.limits import TUNES
from rnncodec.metrics import bd_psnr, bd_rate, ms_ssim_db


def columns(points: list[dict]) -> tuple[list[float], list[float], list[float]]:
    return [p["bpp"] for p in points], [p["psnr"] for p in points], [ms_ssim_db(p["ms_ssim"]) for p in points]


def against(reference: list[dict], points: list[dict]) -> str:
    rr, rp, rs = columns(reference)
    r, p, s = columns(points)
    return f"BD-PSNR {bd_psnr(rr, rp, r, p):+.2f} dB, BD-rate (MS-SSIM dB) {bd_rate(rr, rs, r, s):+.1f} %"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_image_folder(parser, "folder", "train", "the training folder, whose validation split is used")
    parser.add_argument("--model", help="a block stage file (default: the shipped default)")
    parser.add_argument("--conventional", type=Path, metavar="JSON", help="the conventional codecs' curves on these images")
    parser.add_argument("--json", type=Path, metavar="OUT", help="where to write every tune's curve")
    args = parser.parse_args(argv)
    paths = [p for p in list_images(args.folder) if is_validation(p)]
    counts = list(range(1, 17))
    curves = {}
    for tune in TUNES:
        curves[tune] = evaluate_folder(args.folder, counts, args.model, paths, tune=tune)["codecs"]["rnncodec"]["points"]
        print(f"{tune}: " + " ".join(f"{p['psnr']:.2f}/{p['ms_ssim']:.4f}" for p in curves[tune][1:16:2])
              + "  (PSNR dB / MS-SSIM at iterations 2, 4, … 16)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"dataset": f"{args.folder.name} (validation split)", "images": len(paths),
                                         "curves": curves}, indent=1) + "\n")
    jpeg = json.loads(args.conventional.read_text())["codecs"]["JPEG"]["points"] if args.conventional else None
    print(f"{len(paths)} validation images")
    for tune, points in curves.items():
        line = f"{tune}: against psnr {against(curves['psnr'], points)}"
        print(line + (f"; against JPEG {against(jpeg, points)}" if jpeg else ""))


if __name__ == "__main__":
    sys.exit(main())
