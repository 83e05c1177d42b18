"""Whole-process time and peak memory of encoding and decoding a phone-size photo.

    python benchmarks/large_image.py IMAGE [--size 4000x3000] [-q 1 8 16] [--repeats 1]
                                     [--other CHECKOUT] [--tile 1024] [--effort N] [--json OUT]

Makes a SIZE photo from IMAGE by mirroring it across the frame (its own detail, not an upscale's
blur), then for each iteration count runs fresh `rnncodec encode BIG -q Q` and `rnncodec decode`
processes (this checkout's src/, the settings of its command line: its default threads unless
$RNNCODEC_THREADS says otherwise) under GNU time. Prints a Markdown table of the median wall
seconds, CPU seconds (user + system: the work, whatever else the machine runs) and peak resident
MiB of each. With --other (a checkout, or another venv's python: see
benchmarks/inference_speed.py) each run of this checkout is paired with one of OTHER, in turn,
and the table adds OTHER's figures, the median of the paired time ratios (this / OTHER, so a busy
machine weighs on both alike) and whether the .rgc files are byte-identical. --effort N encodes with
this checkout's `--effort N` (OTHER keeps its default).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from conventional import GNU_TIME
from inference_speed import other_command, variant_command


def timed_process(cmd: list[str], scratch: Path) -> tuple[float, float, float]:
    """Wall seconds, peak resident MiB and CPU seconds (user + system) of one run of ``cmd`` (GNU time)."""
    report = scratch / "time.txt"
    subprocess.run([GNU_TIME, "-f", "%e %M %U %S", "-o", str(report), *cmd], check=True, stdout=subprocess.DEVNULL)
    wall, kib, user, system = (float(v) for v in report.read_text().split()[-4:])
    return wall, kib / 1024, user + system


def mirrored(image: Path, width: int, height: int) -> np.ndarray:
    """IMAGE's pixels (RGB) repeated to width × height, every other copy mirrored, so no edge jumps."""
    rgb = np.asarray(Image.open(image).convert("RGB"))
    h, w = rgb.shape[:2]
    tiled = np.pad(rgb, ((0, max(height - h, 0)), (0, max(width - w, 0)), (0, 0)), mode="symmetric")
    return tiled[:height, :width]


def runs(commands: dict[str, list[str]], big: Path, iterations: int, repeats: int, tile: int | None, scratch: Path,
         effort: int | None = None) -> dict:
    """{name: {"encode": [(s, MiB, CPU s)], "decode": [...], "rgc": bytes}}, the commands in turn (rotated each repeat)."""
    result = {name: {"encode": [], "decode": []} for name in commands}
    names = list(commands)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            command = commands[name]
            rgc, png = scratch / f"{name}.rgc", scratch / f"{name}.png"
            options = [] if tile is None else ["--tile", str(tile)]
            if effort is not None and name == "this":
                options += ["--effort", str(effort)]
            result[name]["encode"].append(timed_process([*command, "encode", str(big), "-o", str(rgc), "-q",
                                                         str(iterations), "-f", "--quiet", *options], scratch))
            result[name]["decode"].append(timed_process([*command, "decode", str(rgc), "-o", str(png), "-f", "--quiet"],
                                                        scratch))
            result[name]["rgc"] = rgc.read_bytes()
    return result


def summary(measured: dict, iterations: int) -> list[dict]:
    """One row per step: medians of this checkout (and OTHER's, the paired ratio, identical files)."""
    rows = []
    for step in ("encode", "decode"):
        this = measured["this"][step]
        row = {"iterations": iterations, "step": step, "seconds": statistics.median(s for s, _, _ in this),
               "peak_mib": statistics.median(m for _, m, _ in this), "cpu_seconds": statistics.median(c for *_, c in this),
               "rgc_bytes": len(measured["this"]["rgc"])}
        if "other" in measured:
            other = measured["other"][step]
            row |= {"other_seconds": statistics.median(s for s, _, _ in other),
                    "other_peak_mib": statistics.median(m for _, m, _ in other),
                    "other_cpu_seconds": statistics.median(c for *_, c in other),
                    "ratio": statistics.median(a[0] / b[0] for a, b in zip(this, other)),
                    "identical": measured["this"]["rgc"] == measured["other"]["rgc"]}
        rows.append(row)
    return rows


def table(rows: list[dict], other: bool) -> str:
    head = "| -q | step | wall s | CPU s | peak MiB |" + (" OTHER wall s | OTHER CPU s | OTHER peak MiB | time ratio | same .rgc |"
                                                     if other else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = f"| {r['iterations']} | {r['step']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_mib']:.0f} |"
        if other:
            line += f" {r['other_seconds']:.1f} | {r['other_cpu_seconds']:.1f} | {r['other_peak_mib']:.0f} | {r['ratio']:.2f} | {'yes' if r['identical'] else 'no'} |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", type=Path, help="a photo to build the large one from")
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the large photo (default 4000x3000)")
    parser.add_argument("-q", "--iterations", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--other", type=Path, help="another rnncodec to run side by side (a checkout or a python)")
    parser.add_argument("--tile", type=int, help="encode --tile (default: the command's own)")
    parser.add_argument("--effort", type=int, help="this checkout's encode --effort (default: the command's own)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))
    commands = {"this": variant_command("this:")[1]}
    if args.other is not None:
        commands["other"] = other_command(args.other)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        big = scratch / "big.png"
        Image.fromarray(mirrored(args.image, width, height)).save(big, compress_level=1)
        for iterations in args.iterations:
            rows += summary(runs(commands, big, iterations, args.repeats, args.tile, scratch, args.effort), iterations)
            print(f"-q {iterations} done", file=sys.stderr)
    print(f"{width}×{height} from {args.image.name}, {args.repeats} run(s) each, whole processes")
    print(table(rows, args.other is not None))
    if args.json:
        args.json.write_text(json.dumps({"size": [width, height], "image": args.image.name, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
