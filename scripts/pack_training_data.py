"""A smaller copy of a training folder, e.g. to carry it to another machine.

By default each image is downscaled (Lanczos) so its longer side is at most --max-side. With
--region N the scale is kept instead: the validation images, and the images too small to hold an
N×N region, are kept whole and unchanged, and of every other image one seeded N×N region is
saved, so validation scores stay comparable with runs on the full folder. Every image keeps its
file name, so the validation split (a hash of the name) is the same; JPEGs are re-saved as JPEG at
--quality (4:4:4), other formats losslessly.
    python scripts/pack_training_data.py DEST [--source TRAIN_DIR] [--max-side 512 | --region 368] [--quality 85]
"""

import argparse
import random
import shutil
from pathlib import Path

from PIL import Image

from rnncodec.data import is_validation, list_images

from rnncodec.image_folders import add_image_folder

JPEG_SUFFIXES = {".jpg", ".jpeg"}


def smaller(im: Image.Image, args, rng: random.Random) -> Image.Image:
    """One seeded --region N×N region of the image, or the image downscaled to --max-side."""
    if args.region:
        s, (w, h) = args.region, im.size
        x, y = rng.randrange(w - s + 1), rng.randrange(h - s + 1)
        return im.crop((x, y, x + s, y + s))
    im.thumbnail((args.max_side, args.max_side), Image.LANCZOS)
    return im


def save_options(path: Path, quality: int) -> dict:
    """JPEG stays JPEG at ``quality`` (4:4:4); other formats are saved losslessly."""
    if path.suffix.lower() in JPEG_SUFFIXES:
        return {"quality": quality, "subsampling": 0}
    return {"lossless": True}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest")
    add_image_folder(ap, "--source", "train", "training images")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--region", type=int, help="keep the scale: one seeded N×N region of each larger training image")
    ap.add_argument("--quality", type=int, default=85)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    total = 0
    for path in list_images(args.source):  # sorted: the seeded regions follow the names
        out = dest / path.name
        with Image.open(path) as im:
            if args.region and (is_validation(path) or min(im.size) < args.region):
                shutil.copyfile(path, out)  # whole, byte for byte
            else:
                smaller(im.convert("RGB"), args, rng).save(out, **save_options(path, args.quality))
        total += out.stat().st_size
    print(f"{dest}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
