#!/usr/bin/env bash
# A paired A/B on one CUDA machine: two arms of scripts/gpu_train.sh side by side on one GPU,
# from the same weights, drawing the same crops (the same seed), for the same MINUTES.
#
#   scripts/gpu_ab.sh DATA_DIR MINUTES BATCH "TRAIN_ARGS_A" "TRAIN_ARGS_B"
#
# e.g. scripts/gpu_ab.sh pack 8 128 "" "--full-resolution-branch 32". The arms' run folders are
# $OUT-a and $OUT-b (OUT default: runs/gpu-ab); INIT as for gpu_train.sh. Both arms get one cosine
# schedule, ending at SCHEDULE_STEPS: by default the steps that arm A's model would make in MINUTES
# alone (scripts/train_throughput.py) divided by SHARING (default 2, two arms on one GPU), so
# that both reach the schedule's floor; a slower arm makes fewer steps. At the end it prints both
# validation logs (scripts/training_curve.py): compare them at equal steps and at equal minutes.
# A CPU dry run: scripts/gpu_ab.sh DATA_DIR 0.3 1 "" "--full-resolution-branch 8".
set -euo pipefail
if [ $# -ne 5 ]; then
    echo "usage: scripts/gpu_ab.sh DATA_DIR MINUTES BATCH \"TRAIN_ARGS_A\" \"TRAIN_ARGS_B\"" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
DATA=$1
MINUTES=$2
BATCH=$3
OUT=${OUT:-runs/gpu-ab}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
export INIT=${INIT:-$(python3 -c 'import rnncodec; print(rnncodec.load_model().network_path)')}
START=$(python3 -c 'import sys; from rnncodec.weights import read_metadata; print(read_metadata(sys.argv[1])["step"])' "$INIT")
if [ -z "${SCHEDULE_STEPS:-}" ]; then
    timing=$(python3 scripts/train_throughput.py --weights "$INIT" --device auto --batch "$BATCH" --crop 128 \
        --iterations 16 --steps 3 --minutes "$MINUTES" --sharing "${SHARING:-2}" | tee /dev/stderr)
    SCHEDULE_STEPS=$((START + $(sed -n 's/^steps in .*: //p' <<<"$timing")))
fi
export SCHEDULE_STEPS
echo "both arms: schedule from step $START to $SCHEDULE_STEPS"
mkdir -p "$OUT-a" "$OUT-b"
OUT=$OUT-a TRAIN_ARGS=$4 scripts/gpu_train.sh "$DATA" "$MINUTES" "$BATCH" > "$OUT-a/ab.out" 2>&1 &
arm_a=$!
OUT=$OUT-b TRAIN_ARGS=$5 scripts/gpu_train.sh "$DATA" "$MINUTES" "$BATCH" > "$OUT-b/ab.out" 2>&1 &
arm_b=$!
status=0
wait "$arm_a" || status=$?
wait "$arm_b" || status=$?
for arm in a b; do
    args=$4
    [ "$arm" = b ] && args=$5
    echo "== arm $arm, TRAIN_ARGS: ${args:-(none)}"
    tail -n 1 "$OUT-$arm/ab.out"
    if [ -f "$OUT-$arm/log.jsonl" ]; then
        python3 scripts/training_curve.py "$OUT-$arm/log.jsonl"
    fi
done
exit "$status"
