"""What a smaller tile costs in seams: the default model with two tile sides on the validation photos larger than the smaller tile.

    python experiments/tile_seams.py [--data TRAIN_DIR] [--tiles 1024 768]

Encodes each validation photo (never Kodak) wider or taller than the smaller tile with each tile
side through real .rgc files, decodes every iteration, and prints each side's mean bpp / PSNR per
iteration, the PSNR difference and the BD-PSNR of the second side against the first. Behind the
default tile (768; ONNX Runtime's memory per tile grows with its area).
"""

import argparse

import numpy as np
from PIL import Image

from rnncodec.codec import ModelPipeline
from rnncodec.data import is_validation, list_images
from rnncodec.image_folders import add_image_folder
from rnncodec.images import read_picture
from rnncodec.metrics import bd_psnr, psnr


def curve(tile: int, paths: list) -> tuple[np.ndarray, np.ndarray]:
    """Mean bpp and PSNR per iteration of the default model with this tile side."""
    pipeline = ModelPipeline.load(None, tile=tile)
    bpp, quality = np.zeros(pipeline.max_iterations), np.zeros(pipeline.max_iterations)
    for path in paths:
        picture = read_picture(path.read_bytes())
        h, w = picture.rgb.shape[:2]
        decoded = pipeline.decode(pipeline.encode(picture, pipeline.max_iterations), keep_all=True)
        for k, out in enumerate(decoded.pictures):
            bpp[k] += decoded.chunk_ends[k] * 8 / (h * w) / len(paths)
            quality[k] += psnr(picture.rgb, out.rgb) / len(paths)
    return bpp, quality


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_image_folder(parser, "--data", "train", "training images (their validation split is used)")
    parser.add_argument("--tiles", type=int, nargs=2, default=[1024, 768], metavar=("A", "B"))
    args = parser.parse_args()
    paths = [p for p in list_images(args.data) if is_validation(p) and max(Image.open(p).size) > min(args.tiles)]
    (a_bpp, a), (b_bpp, b) = (curve(tile, paths) for tile in args.tiles)
    for tile, rate, quality in [(args.tiles[0], a_bpp, a), (args.tiles[1], b_bpp, b)]:
        print(f"tile {tile}: " + " ".join(f"{r:.3f}/{q:.2f}" for r, q in zip(rate, quality)) + "  (bpp/PSNR dB per iteration)")
    print(f"{len(paths)} photos; PSNR of tile {args.tiles[1]} minus tile {args.tiles[0]} per iteration: "
          + " ".join(f"{d:+.3f}" for d in b - a))
    print(f"BD-PSNR of tile {args.tiles[1]} against {args.tiles[0]}: {bd_psnr(list(a_bpp), list(a), list(b_bpp), list(b)):+.4f} dB")


if __name__ == "__main__":
    main()
