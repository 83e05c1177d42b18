#!/usr/bin/env bash
# The install without extras: a fresh venv with `pip install .`, checked to hold no PyTorch, to
# encode, decode and show info of an image with the shipped weights, and measured with du.
# Usage: benchmarks/install_size.sh [IMAGE]   (run from the repository root; pip options such as
# --find-links may come from PIP_* variables)
set -euo pipefail
image=${1:-examples/sunset.png}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install -q . -c constraints.txt
if "$dir/venv/bin/python" -c "import torch" 2>/dev/null; then echo "torch is installed" >&2; exit 1; fi
"$dir/venv/bin/rnncodec" encode "$image" -o "$dir/x.rgc" -q 8
"$dir/venv/bin/rnncodec" decode "$dir/x.rgc" -o "$dir/x.png"
"$dir/venv/bin/rnncodec" info "$dir/x.rgc" | head -2
echo "venv without torch: $(du -sh "$dir/venv" | cut -f1)"
