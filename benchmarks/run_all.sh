#!/usr/bin/env bash
# Regenerate docs/rd.png and docs/results.md from scratch on a folder of images:
#   benchmarks/run_all.sh [KODAK_DIR]      (default: $RNNCODEC_DATA/kodak)
# rnncodec through real .rgc files (rnncodec eval), its whole-process speed and memory, Pillow's
# JPEG / WebP / JPEG 2000 / AVIF, then the report (BD-rate, BD-PSNR, tables, plot).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${RNNCODEC_DATA:?give KODAK_DIR or set RNNCODEC_DATA}/kodak}
out=benchmarks/results
mkdir -p "$out"
name=$(basename "$data")
rnncodec eval "$data" --json "$out/$name-rnncodec.json"
python benchmarks/rnncodec_process.py "$(ls "$data"/*.png | head -n 1)" --json "$out/$name-rnncodec.json"
python benchmarks/conventional.py "$data" --json "$out/$name-conventional.json"
python benchmarks/report.py --json "$out/$name-rnncodec.json" "$out/$name-conventional.json" --out-dir docs
