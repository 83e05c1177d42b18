"""Does a model code small independent tiles better than whole images? (A sign it learned its crop size.)

    python experiments/tile_size_check.py WEIGHTS [WEIGHTS ...] [--data TRAIN_DIR]

Codes the validation split's central 256² crops (never Kodak) whole and cut into independent
64² and 32² tiles, and prints the PSNR after 1, 4 and 8 iterations. A model trained on 32² crops
that does better on 32² tiles than on whole crops has fitted its border handling (zero padding
around a 2×2 grid at 1/16) rather than images.
"""

from statistics import mean

import torch

from rnncodec.data import is_validation, list_images, load_rgb, validation_crops
from rnncodec.metrics import batch_psnr
from rnncodec.weights import load_network

from rnncodec.image_folders import weights_on_validation_parser

SIZE = 256
REPORTED = (1, 4, 8)


def to_tiles(x: torch.Tensor, tile: int) -> torch.Tensor:
    b, n = x.shape[0], SIZE // tile
    return x.unfold(2, tile, tile).unfold(3, tile, tile).permute(0, 2, 3, 1, 4, 5).reshape(b * n * n, 3, tile, tile)


def from_tiles(t: torch.Tensor, batch: int, tile: int) -> torch.Tensor:
    n = SIZE // tile
    return t.reshape(batch, n, n, 3, tile, tile).permute(0, 3, 1, 4, 2, 5).reshape(batch, 3, SIZE, SIZE)


@torch.no_grad()
def main():
    parser = weights_on_validation_parser(__doc__, several=True)
    args = parser.parse_args()
    crops = validation_crops([load_rgb(p) for p in list_images(args.data) if is_validation(p)], SIZE)
    print("| weights | coded as | " + " | ".join(f"PSNR @{t}" for t in REPORTED) + " |")
    print("|---|---|" + "---:|" * len(REPORTED))
    for path in args.weights:
        model = load_network(path)
        for tile in (SIZE, 64, 32):
            results = []
            for t, (_, recon) in enumerate(model.iterate(to_tiles(crops, tile), max(REPORTED)), start=1):
                if t in REPORTED:
                    results.append(mean(batch_psnr(crops, from_tiles(recon, len(crops), tile))))
            label = "whole 256² crops" if tile == SIZE else f"independent {tile}² tiles"
            print(f"| {path} | {label} | " + " | ".join(f"{p:.2f}" for p in results) + " |", flush=True)


if __name__ == "__main__":
    main()
