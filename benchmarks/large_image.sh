#!/usr/bin/env bash
# Peak memory and time of encoding and decoding a 24-megapixel image (6000×4000), one iteration.
# Usage: benchmarks/large_image.sh [ITERATIONS]   (run from the repository root, venv active)
set -euo pipefail
q=${1:-1}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python - "$dir/big.png" <<'PY'
import sys
import numpy as np
from PIL import Image
yy, xx = np.mgrid[0:4000, 0:6000].astype(np.float32)
rgb = np.stack([128 + 100 * np.sin(xx / 97) * np.cos(yy / 53), 128 + 90 * np.cos((xx + yy) / 71), 128 + 80 * np.sin(yy / 37)], -1)
Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(sys.argv[1], compress_level=1)
PY
for step in "encode $dir/big.png -o $dir/big.rgc -q $q" "decode $dir/big.rgc -o $dir/out.png"; do
  /usr/bin/time -f "rnncodec ${step%% *}: %e s wall, peak memory %M KiB" rnncodec $step
done
ls -l "$dir/big.rgc"
