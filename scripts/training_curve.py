"""The validation curve of a training run, as a Markdown table, and its rate of progress.

    python scripts/training_curve.py LOG [LOG ...] [--fit-after MINUTES] [--iteration 8]

Reads the log.jsonl files that `rnncodec train` writes (one line per validation: step, training
seconds, PSNR of the held-out crops after each iteration); several logs of one lineage (a run
and its continuations) are joined in step order. With --fit-after, fits
PSNR = a + b·log2(training minutes) to the validations after that many minutes and prints b
(dB per doubling of training time) and the training time that rate needs for each further dB:
an extrapolation, optimistic if the curve keeps bending down.
"""

import argparse
import json
import math


def read_rows(paths: list[str]) -> list[dict]:
    rows = {}
    for path in paths:
        for line in open(path):
            if line.strip():
                r = json.loads(line)
                rows[r["step"]] = r  # a later log's validation of the same step wins
    return [rows[s] for s in sorted(rows)]


def fit_log2(minutes: list[float], psnr: list[float]) -> tuple[float, float]:
    """Least squares a + b·log2(minutes): returns (a, b)."""
    xs = [math.log2(m) for m in minutes]
    mx, my = sum(xs) / len(xs), sum(psnr) / len(psnr)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, psnr)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--fit-after", type=float, help="fit the validations after this many training minutes")
    parser.add_argument("--iteration", type=int, default=8, help="which iteration's PSNR to fit (default 8)")
    args = parser.parse_args()
    rows = read_rows(args.logs)
    print("| step | training minutes | val PSNR @1 | @2 | @4 | @8 | @16 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p = r["val_psnr"]
        print(f"| {r['step']} | {r['train_seconds'] / 60:.1f} | " + " | ".join(f"{p[i - 1]:.2f}" for i in (1, 2, 4, 8, 16)) + " |")
    if args.fit_after is None:
        return
    fitted = [r for r in rows if r["train_seconds"] / 60 > args.fit_after]
    if len(fitted) < 3:
        raise SystemExit("error: fewer than 3 validations after --fit-after")
    minutes = [r["train_seconds"] / 60 for r in fitted]
    a, b = fit_log2(minutes, [r["val_psnr"][args.iteration - 1] for r in fitted])
    now = minutes[-1]
    level = a + b * math.log2(now)
    print()
    print(f"fit over {len(fitted)} validations, {minutes[0]:.0f}–{now:.0f} minutes: val PSNR @{args.iteration} = "
          f"{a:.2f} + {b:.2f}·log2(minutes); {b:.2f} dB per doubling, {level:.2f} dB at {now:.0f} minutes on the fit")
    if b <= 0:
        print("no progress on the fit: no extrapolation")
        return
    print()
    print(f"| val PSNR @{args.iteration} gained | training time at the fitted rate |")
    print("|---:|---:|")
    for gain in (0.5, 1, 2, 4):
        hours = now * 2 ** (gain / b) / 60
        print(f"| +{gain:g} dB | {hours:,.0f} h ({2 ** (gain / b):,.1f}× now) |")


if __name__ == "__main__":
    main()
