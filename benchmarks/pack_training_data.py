"""Pack the training folder into a compact copy (≤ a size budget) for a remote GPU run.

Each image is downscaled (Lanczos) so its longer side is at most --max-side and re-saved as
JPEG at --quality; the validation split keeps its names, so the split is the same.
    python benchmarks/pack_training_data.py ../shared/datasets/train runs/gpu-data --max-side 512 --quality 85
"""

import argparse
from pathlib import Path

from PIL import Image

from rnncodec.data import list_images


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("dest")
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
