"""A smaller copy of a training folder, e.g. to carry it to another machine.

Each image is downscaled (Lanczos) so its longer side is at most --max-side and re-saved as
JPEG at --quality; the validation split keeps its names, so the split is the same.
    python benchmarks/pack_training_data.py DEST [--source TRAIN_DIR] [--max-side 512] [--quality 85]
"""

import argparse
from pathlib import Path

from PIL import Image

from rnncodec.data import list_images

from folders import add_image_folder


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest")
    add_image_folder(ap, "--source", "train", "training images")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--quality", type=int, default=85)
    args = ap.parse_args()
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in list_images(args.source):
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((args.max_side, args.max_side), Image.LANCZOS)
            out = dest / (path.stem + ".jpg")
            im.save(out, quality=args.quality, subsampling=0)
            total += out.stat().st_size
    print(f"{dest}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
