"""The float16 check: what storing a weights file's parameters as float16 costs in Kodak PSNR.

    python benchmarks/precision_check.py WEIGHTS [KODAK_DIR] [--json OUT.json]

Writes a float16 copy of WEIGHTS to a temporary file
(rnncodec.weights.convert_weights: coder tables and facts unchanged), runs `rnncodec eval` on
IMAGES with both files, and prints a Markdown table of mean PSNR per iteration count and the
difference. The model card's policy: store float16 when |difference| ≤ 0.02 dB at every count.
"""

import argparse
import json
import tempfile
from pathlib import Path

from rnncodec.evaluate import evaluate_folder
from rnncodec.weights import convert_weights

from rnncodec.image_folders import add_image_folder

COUNTS = [1, 2, 4, 8, 16]
TOLERANCE_DB = 0.02  # the model card's float16 policy


def mean_psnr(result: dict) -> dict[int, float]:
    return {p["setting"]: p["psnr"] for p in result["codecs"]["rnncodec"]["points"]}


def measure(weights: Path, images: Path) -> dict:
    """Mean PSNR per iteration count of the float32 file and of its float16 copy, and their sizes."""
    with tempfile.TemporaryDirectory() as tmp:
        half = Path(tmp) / "float16.safetensors"
        convert_weights(weights, half, "float16")
        sizes = {"float32": weights.stat().st_size, "float16": half.stat().st_size}
        psnr = {"float32": mean_psnr(evaluate_folder(images, COUNTS, weights)),
                "float16": mean_psnr(evaluate_folder(images, COUNTS, half))}
    return {"weights": weights.name, "images": images.name, "bytes": sizes, "psnr": psnr}


def format_table(check: dict) -> str:
    full, half = check["psnr"]["float32"], check["psnr"]["float16"]
    worst = max(abs(half[k] - full[k]) for k in COUNTS)
    lines = [
        f"{check['weights']} on {check['images']}: float32 {check['bytes']['float32'] / 2**20:.1f} MiB, "
        f"float16 {check['bytes']['float16'] / 2**20:.1f} MiB",
        "",
        "| iterations | PSNR float32 (dB) | PSNR float16 (dB) | difference (dB) |",
        "|---:|---:|---:|---:|",
        *(f"| {k} | {full[k]:.4f} | {half[k]:.4f} | {half[k] - full[k]:+.4f} |" for k in COUNTS),
        "",
        f"largest |difference| {worst:.4f} dB: float16 storage "
        + ("passes" if worst <= TOLERANCE_DB else "fails") + f" the {TOLERANCE_DB} dB policy",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path)
    add_image_folder(ap, "images", "kodak", "evaluation images")
    ap.add_argument("--json", type=Path, help="also write the measurement here")
    args = ap.parse_args()
    check = measure(args.weights, args.images)
    print(format_table(check))
    if args.json:
        args.json.write_text(json.dumps(check, indent=1) + "\n")


if __name__ == "__main__":
    main()
