"""What would an encoder that searches the network's bits give the default model, through real files?

    python experiments/bit_search_files.py [--data TRAIN_DIR] [--effort 2 [N …]] [--by-size] [--json OUT]

`experiments/bit_refinement.py` measured, on the network alone, what searching each iteration's bits
for the same decoder gains (for the default's network on the validation crops, `--effort 1`: +0.67
dB at iteration 1, +0.26 at 2). The default model runs the network for 2 iterations only and its
block stage after them, so a better start could carry through. This encodes the validation photos
(never Kodak) with the default model through real .rgc files: with the encoder's bits, and, for
each ``--effort``, with each network iteration's bits searched as `rnncodec encode --effort N`
searches them (:mod:`rnncodec.engines.search`: the decoder's gradient from the search graphs on
ONNX Runtime, N candidate sets of flips, each block's closest kept); the stage, its layers, the
entropy coder and the post-filter are the default's in all. Prints the curves (every iteration
count, decoded from the same file) and each search's BD-PSNR, BD-rate (PSNR) and BD-rate (MS-SSIM
dB) against the encoder's bits; ``--by-size``, for the small photos (the 11 of BSDS, 481×321) and
the large ones (longer side 1536) apart. The decoder is the same, so the searched files decode
with any release.
"""

from __future__ import annotations

import argparse
import json

from rnncodec.data import is_validation, list_images
from rnncodec.evaluate import evaluate_folder
from rnncodec.image_folders import add_image_folder
from rnncodec.metrics import bd_psnr, bd_rate, ms_ssim_db


def source_of(path) -> str:
    """A training photo's source: its file-name prefix (bsds, deepin, elementary, …)."""
    return path.name.split("-")[0]


def compare(data, paths, efforts: list[int], label: str) -> dict:
    """The curves of the encoder's bits and of each effort on ``paths``, printed with each effort's BD figures."""
    counts = list(range(1, 17))
    curves = {}
    for effort in [0, *efforts]:
        name = f"--effort {effort}" if effort else "encoder's bits"
        curves[name] = evaluate_folder(data, counts, None, paths, effort=effort)["codecs"]["rnncodec"]["points"]
        print(f"{label}, {name}: " + " ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}" for p in curves[name])
              + "  (bpp/PSNR dB per iteration)", flush=True)
    (rr, rp, rs), *searched = ([[q["bpp"] for q in c], [q["psnr"] for q in c], [ms_ssim_db(q["ms_ssim"]) for q in c]]
                               for c in curves.values())
    for effort, (r, p, s) in zip(efforts, searched):
        print(f"{label}: {len(paths)} validation photos; --effort {effort} against the encoder's bits: BD-PSNR "
              f"{bd_psnr(rr, rp, r, p):+.2f} dB, BD-rate (PSNR) {bd_rate(rr, rp, r, p):+.1f} %, "
              f"BD-rate (MS-SSIM dB) {bd_rate(rr, rs, r, s):+.1f} %", flush=True)
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_image_folder(parser, "--data", "train", "training images (their validation split is measured)")
    parser.add_argument("--effort", type=int, nargs="+", default=[2], help="the search's candidates per network iteration (as --effort)")
    parser.add_argument("--by-size", action="store_true",
                        help="measure the small BSDS photos (481×321) and the large ones (longer side 1536) apart")
    parser.add_argument("--json", help="where to write the curves")
    args = parser.parse_args()
    paths = [p for p in list_images(args.data) if is_validation(p)]
    groups = {"all": paths}
    if args.by_size:
        groups = {"small (BSDS)": [p for p in paths if source_of(p) == "bsds"],
                  "large": [p for p in paths if source_of(p) != "bsds"]}
    results = {label: compare(args.data, group, args.effort, label) for label, group in groups.items()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"effort": args.effort, "groups": {label: {"images": len(groups[label]), "curves": curves}
                                                          for label, curves in results.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
