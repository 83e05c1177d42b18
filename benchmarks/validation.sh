#!/usr/bin/env bash
# rnncodec (rate–distortion and uniform layers) against Pillow's JPEG, WebP, JPEG 2000 and AVIF on
# the validation split of the training folder (photos used for no fitting), never on Kodak:
#   benchmarks/validation.sh [TRAIN_DIR]      (default: $RNNCODEC_DATA/train)
# Writes benchmarks/results/validation-{rnncodec,conventional}.json and, from report.py,
# benchmarks/results/validation/results.md and rd.png.
set -euo pipefail
cd "$(dirname "$0")/.."
train=${1:-${RNNCODEC_DATA:?give TRAIN_DIR or set RNNCODEC_DATA}/train}
out=benchmarks/results
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pngs=$scratch/validation  # the folder's name is the dataset's name in the results
mkdir "$pngs"
python - "$train" "$pngs" <<'PY'
import sys
from PIL import Image
from rnncodec.data import is_validation, list_images
for path in list_images(sys.argv[1]):
    if is_validation(path):
        Image.open(path).convert("RGB").save(f"{sys.argv[2]}/{path.stem}.png")
PY
python benchmarks/allocation.py "$train" --json "$out/validation-rnncodec.json"
python benchmarks/conventional.py "$pngs" --json "$out/validation-conventional.json" --repeats 1
mkdir -p "$out/validation"
python benchmarks/report.py --json "$out/validation-rnncodec.json" "$out/validation-conventional.json" --out-dir "$out/validation"
