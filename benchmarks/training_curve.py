"""The validation curve of a training run, as a Markdown table.

    python benchmarks/training_curve.py models/training-log.jsonl
Reads the log.jsonl that `rnncodec train` writes (one line per validation: step, training
seconds, PSNR of the held-out crops after each iteration).
"""

import json
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    print("| step | training minutes | val PSNR @1 | @2 | @4 | @8 | @16 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p = r["val_psnr"]
        print(f"| {r['step']} | {r['train_seconds'] / 60:.1f} | " + " | ".join(f"{p[i - 1]:.2f}" for i in (1, 2, 4, 8, 16)) + " |")


if __name__ == "__main__":
    main()
