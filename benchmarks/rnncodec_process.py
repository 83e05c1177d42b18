"""Whole-process cost of the rnncodec command line: wall seconds and peak memory.

    python benchmarks/rnncodec_process.py IMAGE --json RESULTS.json [-q 8] [--repeats 3]
Times `rnncodec encode IMAGE -q Q` and `rnncodec decode` of its output as fresh processes
under GNU time (/usr/bin/time -f '%e %M'), keeps the medians, and adds them to the
"rnncodec" entry of RESULTS.json (written by `rnncodec eval --json`) as its "process" record,
the same record benchmarks/conventional.py writes for the other codecs.
"""

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one run of cmd."""
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True, check=True)
    wall, kib = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("-q", "--iterations", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    results = json.loads(args.json.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        rgc, png = Path(tmp) / "x.rgc", Path(tmp) / "x.png"
        enc = [timed(["rnncodec", "encode", str(args.image), "-o", str(rgc), "-q", str(args.iterations), "-f"]) for _ in range(args.repeats)]
        dec = [timed(["rnncodec", "decode", str(rgc), "-o", str(png), "-f"]) for _ in range(args.repeats)]
    record = {
        "setting": args.iterations,
        "image": args.image.name,
        "encode_wall_s": statistics.median(w for w, _ in enc),
        "decode_wall_s": statistics.median(w for w, _ in dec),
        "encode_peak_mib": statistics.median(m for _, m in enc),
        "decode_peak_mib": statistics.median(m for _, m in dec),
    }
    results["codecs"]["rnncodec"]["process"] = record
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
