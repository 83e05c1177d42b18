"""Whole-process cost of the rnncodec command line: wall seconds and peak memory.

    python benchmarks/rnncodec_process.py IMAGE --json RESULTS.json [-q 8] [--repeats 3]
Times `rnncodec encode IMAGE -q Q` and `rnncodec decode` of its output as fresh processes
under GNU time, with benchmarks/conventional.py's measurement, keeps the medians, and adds them to the
"rnncodec" entry of RESULTS.json (written by `rnncodec eval --json`) as its "process" record,
the same record benchmarks/conventional.py writes for the other codecs.
"""

import argparse
import json
import tempfile
from pathlib import Path

from conventional import median_process_cost  # same measurement as the other codecs
from inference_speed import HERE, compile_sources


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("-q", "--iterations", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    results = json.loads(args.json.read_text())
    compile_sources(HERE)  # the rnncodec command runs this checkout's sources (an editable install)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        rgc, png = scratch / "x.rgc", scratch / "x.png"
        commands = {
            "encode": ["rnncodec", "encode", str(args.image), "-o", str(rgc), "-q", str(args.iterations), "-f"],
            "decode": ["rnncodec", "decode", str(rgc), "-o", str(png), "-f"],
        }
        record = {"setting": args.iterations, "image": args.image.name, **median_process_cost(commands, args.repeats, scratch)}
    results["codecs"]["rnncodec"]["process"] = record
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
