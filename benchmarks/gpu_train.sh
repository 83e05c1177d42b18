#!/usr/bin/env bash
# A prepared ≤10-minute training run on one CUDA GPU (an H200 when lent), warm-started
# from the shipped weights, bf16 autocast (automatic on CUDA), large batches.
#
# Here (CPU machine), once:
#   python benchmarks/pack_training_data.py ../shared/datasets/train runs/gpu-data --max-side 512 --quality 85
#   pip download constriction pytorch-msssim --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 -d runs/gpu-wheels
# (26 MiB of images and 0.4 MiB of wheels: with the ~31 MiB working tree, under the 64 MiB that
# travel; the GPU machine has torch, numpy, Pillow, click, tqdm and safetensors but not these two,
# and cannot download.) Then run `benchmarks/gpu_train.sh` there, carrying runs/gpu-data and
# runs/gpu-wheels, with a 600 s limit. It trains in runs/gpu/ and leaves in $OUT log.jsonl,
# train.out and best.safetensors in parts under 15 MiB (larger files do not come back). Here:
#   cat FILES_AT/best.safetensors.part-* > runs/gpu-best.safetensors
# then `rnncodec fit-coder` and `rnncodec eval` as for any new weights (README, "Training").
# MINUTES (default 6, leaving the 600 s limit room for start-up and validation), BATCH
# (default 128) and WHEELS (default runs/gpu-wheels) override the run's length, batch size and
# the wheels' folder (a CPU dry run here: WHEELS=none MINUTES=0.2 BATCH=2).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-out}
MINUTES=${MINUTES:-6}
BATCH=${BATCH:-128}
WHEELS=${WHEELS:-runs/gpu-wheels}
RUN=runs/gpu
mkdir -p "$OUT"
rm -rf "$RUN"
PYLIB=$(mktemp -d)
for wheel in "$WHEELS"/*.whl; do
    [ -e "$wheel" ] && python3 -m zipfile -e "$wheel" "$PYLIB"
done
export PYTHONPATH=$PWD/src:$PYLIB${PYTHONPATH:+:$PYTHONPATH}
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
START=$(python3 -c 'from rnncodec.weights import read_metadata; print(read_metadata("models/rnncodec-gdn.safetensors")["step"])')
python3 -m rnncodec train --data runs/gpu-data --out "$RUN" --init models/rnncodec-gdn.safetensors \
    --minutes "$MINUTES" --batch-size "$BATCH" --crop 128 --iterations 16 --loss psnr --sign-bits \
    --schedule-steps $((START + 4000)) --val-every 200 --checkpoint-every 200 2>&1 | tr '\r' '\n' > "$OUT/train.out"
cp "$RUN/log.jsonl" "$OUT/log.jsonl"
BEST=$RUN/best.safetensors  # written at each validation that beats the last; else the final weights
[ -e "$BEST" ] || BEST=$RUN/weights.safetensors
split -b 15M -d "$BEST" "$OUT/best.safetensors.part-"
ls -l "$OUT"
