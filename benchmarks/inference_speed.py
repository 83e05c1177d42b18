"""Encode and decode speed of this checkout against another rnncodec, side by side in one run.

    python benchmarks/inference_speed.py IMAGE --other OTHER [-q 8] [--repeats 5] [--calls] [--json OUT]

OTHER is the rnncodec to compare with: a source checkout (its src/ is put on PYTHONPATH) or the
python of another venv (e.g. a scratch venv with the previous release installed). Every repeat
runs, for each variant in turn (the order rotated each repeat, so a busy machine weighs on all
alike), a fresh `rnncodec encode IMAGE -q Q` process and a fresh `rnncodec decode` of its output,
under GNU time for the peak memory. Reported: median wall seconds, the median over repeats of each
variant's time divided by OTHER's in the same repeat (the paired ratio), peak MiB, whether its
.rgc file is byte-identical to OTHER's, and how far its decoded pixels are from OTHER's.

The variants of this checkout (--variant NAME:VAR=VALUE,... adds more) are its engines and
thread counts: ONNX Runtime on 1 and 2 threads, and PyTorch with OMP_WAIT_POLICY=PASSIVE.
--calls also times single network calls in this process (a decoder and an encoder step on the
whole padded image), PyTorch against ONNX Runtime at 1 and 2 threads, alternating.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from conventional import GNU_TIME, timed_process

HERE = Path(__file__).resolve().parent.parent
DEFAULT_VARIANTS = [
    "onnx-1t:RNNCODEC_ENGINE=onnx,RNNCODEC_THREADS=1",
    "onnx-2t:RNNCODEC_ENGINE=onnx,RNNCODEC_THREADS=2",
    "torch-passive:RNNCODEC_ENGINE=torch,OMP_WAIT_POLICY=PASSIVE",
]


def compile_sources(checkout: Path) -> None:
    """Byte-compile a checkout's sources, as pip does for an installed package: the measured processes
    then read bytecode instead of each compiling the sources again (as they would where
    PYTHONDONTWRITEBYTECODE is set)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "src")], check=True)


def other_command(other: Path) -> list[str]:
    """How to run the other rnncodec: a checkout's sources on this python (byte-compiled), or another venv's python."""
    if (other / "src" / "rnncodec").is_dir():
        compile_sources(other)
        return ["env", f"PYTHONPATH={other / 'src'}", sys.executable, "-m", "rnncodec"]
    if other.is_file() and os.access(other, os.X_OK):
        return [str(other), "-m", "rnncodec"]
    raise SystemExit(f"{other}: neither a checkout (with src/rnncodec) nor a python executable")


def variant_command(spec: str) -> tuple[str, list[str]]:
    """NAME:VAR=VALUE,... → (NAME, the command running this checkout (byte-compiled) with those variables)."""
    compile_sources(HERE)
    name, _, settings = spec.partition(":")
    env = [s for s in settings.split(",") if s]
    return name, ["env", f"PYTHONPATH={HERE / 'src'}", *env, sys.executable, "-m", "rnncodec"]


def process_runs(commands: dict[str, list[str]], image: Path, iterations: int, repeats: int, scratch: Path) -> dict:
    """{variant: {"encode": [(s, MiB)], "decode": [...], "rgc": bytes}}, the variants interleaved."""
    names = list(commands)
    runs = {name: {"encode": [], "decode": []} for name in names}
    for repeat in range(repeats):
        order = names[repeat % len(names):] + names[: repeat % len(names)]
        for name in order:
            rgc, png = scratch / f"{name}.rgc", scratch / f"{name}.png"
            cmd = commands[name]
            runs[name]["encode"].append(timed_process([*cmd, "encode", str(image), "-o", str(rgc), "-q", str(iterations), "-f"], scratch))
            runs[name]["decode"].append(timed_process([*cmd, "decode", str(rgc), "-o", str(png), "-f"], scratch))
            runs[name]["rgc"] = rgc.read_bytes()
            runs[name]["pixels"] = np.asarray(Image.open(png)).astype(np.int16)
        print(f"repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    return runs


def summary(runs: dict, baseline: str) -> dict:
    table = {}
    for name, r in runs.items():
        difference = np.abs(r["pixels"] - runs[baseline]["pixels"])
        row = {"same_rgc_as_other": r["rgc"] == runs[baseline]["rgc"],  # pixels: each decoding its own file
               "pixels_max_difference": int(difference.max()), "pixel_values_differing": int((difference > 0).sum())}
        for step in ("encode", "decode"):
            seconds = [s for s, _ in r[step]]
            ratios = [s / b for s, (b, _) in zip(seconds, runs[baseline][step])]
            row[f"{step}_s"] = round(statistics.median(seconds), 3)
            row[f"{step}_ratio"] = round(statistics.median(ratios), 3)
            row[f"{step}_peak_mib"] = round(max(m for _, m in r[step]), 1)
        table[name] = row
    return table


def network_calls(image: Path, repeats: int) -> dict:
    """Median seconds of one encoder step and one decoder step (iteration 2, with the state of
    iteration 1) on the whole padded image, in this process, for each engine and thread count,
    alternating; and each one's median ratio to PyTorch at 1 thread in the same round."""
    import torch

    from rnncodec.pixels import image_to_network
    from rnncodec.engines.onnx import OnnxEngine
    from rnncodec.engines.torch import TorchEngine
    from rnncodec.weights import default_network_path

    rgb = np.asarray(Image.open(image).convert("RGB"))
    h, w = (s - s % 16 for s in rgb.shape[:2])
    x = image_to_network(rgb[:h, :w])
    weights = default_network_path()
    torch_engine = TorchEngine.load(weights)
    engines = {"torch-1t": (torch_engine, 1), "torch-2t": (torch_engine, 2),
               "onnx-1t": (OnnxEngine.load(weights, threads=1), 1), "onnx-2t": (OnnxEngine.load(weights, threads=2), 2)}
    timings = {label: {"encode": [], "decode": []} for label in engines}
    for _ in range(repeats):
        for label, (engine, threads) in engines.items():
            torch.set_num_threads(threads)
            bits, encoder_state = engine.encode_step(x, 1)
            _, decoder_state = engine.decode_step(bits, 1)
            for step, call in (("encode", lambda: engine.encode_step(x, 2, encoder_state)),
                               ("decode", lambda: engine.decode_step(bits, 2, decoder_state))):
                start = time.perf_counter()
                call()
                timings[label][step].append(time.perf_counter() - start)
    base = timings["torch-1t"]
    return {label: {f"{step}_call_s": round(statistics.median(t[step]), 3) for step in t}
            | {f"{step}_call_ratio": round(statistics.median(a / b for a, b in zip(t[step], base[step])), 3) for step in t}
            for label, t in timings.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--other", type=Path, required=True, help="a source checkout, or the python of a venv with rnncodec installed")
    parser.add_argument("-q", "--iterations", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variant", action="append", help="NAME:VAR=VALUE,... (default: " + "; ".join(DEFAULT_VARIANTS) + ")")
    parser.add_argument("--calls", action="store_true", help="also time single network calls in this process")
    parser.add_argument("--calls-only", action="store_true", help="time the network calls only, no processes")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    if not Path(GNU_TIME).exists():
        parser.error(f"{GNU_TIME} (GNU time) is needed to measure peak memory")
    result = {"image": args.image.name, "iterations": args.iterations, "repeats": args.repeats, "other": str(args.other)}
    if not args.calls_only:
        commands = {"other": other_command(args.other), **dict(map(variant_command, args.variant or DEFAULT_VARIANTS))}
        with tempfile.TemporaryDirectory() as tmp:
            runs = process_runs(commands, args.image, args.iterations, args.repeats, Path(tmp))
        result["process"] = summary(runs, "other")
    if args.calls or args.calls_only:
        result["calls"] = network_calls(args.image, args.repeats)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
