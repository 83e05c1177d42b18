#!/usr/bin/env bash
# A prepared ≤10-minute training run on one CUDA GPU (an H200 when lent), warm-started
# from the shipped weights, bf16 autocast, large batches.
#
# Here (CPU machine), once:
#   python benchmarks/pack_training_data.py ../shared/datasets/train runs/gpu-data --max-side 640
# Then run this script on the GPU machine with runs/gpu-data carried along (the shipped
# weights travel with the working tree). It leaves $OUT/weights.safetensors (last step),
# $OUT/best.safetensors (best validation) and $OUT/log.jsonl, to bring back and evaluate
# with `rnncodec eval`. The cosine schedule runs 4000 steps past the shipped weights' step.
set -euo pipefail
OUT=${OUT:-runs/gpu}
MINUTES=${MINUTES:-8}
pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || export PYTHONPATH=$PWD/src
START=$(python -c 'from rnncodec.weights import read_metadata; print(read_metadata("models/rnncodec-gdn.safetensors")["step"])')
python -m rnncodec train --data runs/gpu-data --out "$OUT/run" --init models/rnncodec-gdn.safetensors \
    --minutes "$MINUTES" --batch-size 512 --crop 64 --iterations 16 --lr 5e-4 --schedule-steps $((START + 4000)) \
    --val-every 200 --checkpoint-every 200
cp "$OUT/run/weights.safetensors" "$OUT/weights.safetensors"
cp "$OUT/run/best.safetensors" "$OUT/best.safetensors"
cp "$OUT/run/log.jsonl" "$OUT/log.jsonl"
