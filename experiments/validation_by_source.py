"""Validation PSNR by image source: why Kodak can sit below the validation mean.

    python experiments/validation_by_source.py WEIGHTS [--data TRAIN_DIR]

Codes the validation split's central 256² crops (what training validates on; never Kodak) and
prints the mean PSNR after 1, 4 and 8 iterations and MS-SSIM after 8 for each source (the
file-name prefix before the first '-': bsds, deepin, …), next to Pillow JPEG at quality 30
(optimize, 4:2:0, as in benchmarks/conventional.py) on the same crops as a yardstick of how
hard each group is.
"""

from collections import defaultdict

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rnncodec.data import is_validation, list_images, load_rgb, validation_crops
from rnncodec.metrics import batch_psnr, ms_ssim, psnr
from rnncodec.pixels import to_image
from rnncodec.weights import load_network

from rnncodec.image_folders import weights_on_validation_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from conventional import CODECS, decode, encode  # noqa: E402  (the release benchmark's JPEG settings, docs/results.md)

REPORTED = (1, 4, 8)
JPEG = next(codec for codec in CODECS if codec.name == "JPEG")
JPEG_QUALITY = 30


def jpeg_point(rgb: np.ndarray) -> tuple[float, float]:
    """(bpp, PSNR) of Pillow JPEG at JPEG_QUALITY."""
    data = encode(Image.fromarray(rgb), JPEG, JPEG_QUALITY)
    return len(data) * 8 / (rgb.shape[0] * rgb.shape[1]), psnr(rgb, decode(data))


@torch.no_grad()
def main():
    parser = weights_on_validation_parser(__doc__)
    args = parser.parse_args()
    paths = [p for p in list_images(args.data) if is_validation(p)]
    groups = defaultdict(list)
    for path in paths:
        groups[path.name.split("-")[0]].append(path)
    model = load_network(args.weights).eval()
    print(f"{args.weights}: {len(paths)} validation images, central 256² crops")
    print("| source | images | " + " | ".join(f"PSNR @{t}" for t in REPORTED) + f" | MS-SSIM @{max(REPORTED)} | JPEG q{JPEG_QUALITY} bpp | JPEG PSNR |")
    print("|---|---:|" + "---:|" * (len(REPORTED) + 3))
    for source, members in sorted(groups.items()) + [("all", paths)]:
        crops = validation_crops([load_rgb(p) for p in members])
        if crops is None:
            continue
        scores = []
        for t, (_, recon) in enumerate(model.iterate(crops, max(REPORTED)), 1):
            if t in REPORTED:
                scores.append(np.mean(batch_psnr(crops, recon)))
        rgb, decoded = to_image(crops.numpy()), to_image(recon.float().numpy())
        structure = np.mean([ms_ssim(a, b) for a, b in zip(rgb, decoded)])
        bpp, jpeg_psnr = np.mean([jpeg_point(im) for im in rgb], axis=0)
        print(f"| {source} | {len(crops)} | " + " | ".join(f"{s:.2f}" for s in scores)
              + f" | {structure:.4f} | {bpp:.3f} | {jpeg_psnr:.2f} |", flush=True)


if __name__ == "__main__":
    main()
