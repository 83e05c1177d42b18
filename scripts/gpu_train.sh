#!/usr/bin/env bash
# Train on a CUDA machine, warm-started from the shipped weights (or INIT) with their recipe
# (TrainConfig's defaults: 128² crops, 16 unrolled iterations, the PSNR loss, sign bits), bf16
# autocast, large batches.
#
#   scripts/gpu_train.sh [DATA_DIR] [MINUTES] [BATCH]
#
# DATA_DIR: the training images (default: $RNNCODEC_DATA/train). MINUTES of training (default 60).
# BATCH: crops per GPU and step (default 128). With GPUS=N (default 1) it runs N processes under
# torchrun (DistributedDataParallel). OUT (default runs/gpu) is the run folder (checkpoint.pt,
# weights.safetensors, best.safetensors, log.jsonl, train.out); running the script again continues
# it. INIT (default: the shipped weights) is the weights file a new run starts from. The learning
# rate restarts at that file's step (SCHEDULE_START): a warm-up for the fresh Adam state, then the
# cosine from --lr down to its floor at SCHEDULE_STEPS. By default SCHEDULE_STEPS is where the
# MINUTES end: scripts/train_throughput.py times a few steps of INIT's model at BATCH × 128²
# crops and 16 iterations (the defaults; set SCHEDULE_STEPS if TRAIN_ARGS changes them), and
# validation is reckoned at 7 % of the time. TRAIN_ARGS adds
# `rnncodec train` options, e.g. decoder tail capacity grown onto the shipped weights:
# TRAIN_ARGS="--tail-branches 128,64 --full-resolution-channels 16 --iteration-conditioning".
# Then fit the entropy coder's tables and evaluate, as for any new weights (README, "Training").
# The same command runs on a CPU, slowly: `scripts/gpu_train.sh DATA_DIR 0.2 2` is a dry run.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${RNNCODEC_DATA:?give DATA_DIR or set RNNCODEC_DATA}/train}
MINUTES=${2:-60}
BATCH=${3:-128}
GPUS=${GPUS:-1}
OUT=${OUT:-runs/gpu}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
INIT=${INIT:-$(python3 -c 'import rnncodec; print(rnncodec.load_model().network_path)')}
START=$(python3 -c 'import sys; from rnncodec.weights import read_metadata; print(read_metadata(sys.argv[1])["step"])' "$INIT")
SCHEDULE_START=${SCHEDULE_START:-$START}
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.device_count(), "GPUs")'
if [ -z "${SCHEDULE_STEPS:-}" ]; then
    timing=$(python3 scripts/train_throughput.py --weights "$INIT" --device auto --batch "$BATCH" --crop 128 \
        --iterations 16 --steps 3 --minutes "$MINUTES" | tee /dev/stderr)
    SCHEDULE_STEPS=$((START + $(sed -n 's/^steps in .*: //p' <<<"$timing")))
fi
echo "schedule: from step $SCHEDULE_START to $SCHEDULE_STEPS"
mkdir -p "$OUT"
if [ "$GPUS" -gt 1 ]; then
    launch=(python3 -m torch.distributed.run --standalone --nproc_per_node "$GPUS" -m rnncodec)
else
    launch=(python3 -m rnncodec)
fi
"${launch[@]}" train --data "$DATA" --out "$OUT" --resume --init "$INIT" --minutes "$MINUTES" --batch-size "$BATCH" \
    --schedule-start "$SCHEDULE_START" --schedule-steps "$SCHEDULE_STEPS" --val-every 200 --checkpoint-every 200 ${TRAIN_ARGS:-} 2>&1 | tr '\r' '\n' | tee -a "$OUT/train.out"
