"""Where a network's decoder step spends its time in ONNX Runtime, operator by operator.

    python benchmarks/network_profile.py WEIGHTS... [--tile 768] [--threads 2] [--repeats 3]

For each network weights file (or block stage file: its network), runs the decoder step graphs
the codec runs on one tile of random ±1 codes: the first step once, then the recurrent step
(t = 2) once to warm up and ``repeats`` times measured, with ONNX Runtime's profiler on. Prints
the mean milliseconds of a recurrent step and how they split: each convolution by the layer it
belongs to (``conv cells.0``: the 1/16 cell's input and recurrent convolutions), everything else
by operator (Add, Slice, DepthToSpace, the Reorder of ONNX Runtime's blocked layout, ...).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import numpy as np

from rnncodec.engines import onnx as onnx_engine
from rnncodec.weights import network_of


def profiled_engine(weights: Path, threads: int, prefix: str) -> onnx_engine.OnnxEngine:
    """The network's engine with ONNX Runtime's profiler on in each session."""
    plain = onnx_engine.session_options

    def with_profiling(ort, n):
        options = plain(ort, n)
        options.enable_profiling = True
        options.profile_file_prefix = prefix
        return options

    onnx_engine.session_options = with_profiling
    try:
        return onnx_engine.OnnxEngine.load(weights, threads)
    finally:
        onnx_engine.session_options = plain


def kernel_times(profile: Path, runs: int) -> tuple[float, collections.Counter]:
    """Mean microseconds of the profile's last ``runs`` session runs, and their split by part."""
    events = json.loads(profile.read_text())
    measured = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"][-runs:]
    parts = collections.Counter()
    for run in measured:
        start, end = run["ts"], run["ts"] + run["dur"]
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and start <= e["ts"] <= end:
                node = e["name"].removesuffix("_kernel_time")
                layer = node.split("/")[2] if node.count("/") >= 2 else node
                parts[f"conv {layer}" if e["args"]["op_name"] == "Conv" else e["args"]["op_name"]] += e["dur"] / runs
    return sum(r["dur"] for r in measured) / runs, parts


def profile_decoder(weights: Path, tile: int, threads: int, repeats: int) -> tuple[float, collections.Counter]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = profiled_engine(weights, threads, f"{tmp}/profile")
        shape = (1, engine.cfg.code_channels, tile // 16, tile // 16)
        bits = np.sign(np.random.default_rng(0).standard_normal(shape)).astype(np.float32)
        _, state = engine.decode_step(bits, 1)
        for _ in range(repeats + 1):
            engine.decode_step(bits, 2, state)
        profile = Path(engine.sessions["decoder"].end_profiling())
        for name, session in engine.sessions.items():
            if name != "decoder":
                session.end_profiling()
        return kernel_times(profile, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--tile", type=int, default=768, help="tile side in pixels (default 768, the codec's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top", type=int, default=12, help="parts to list (default 12)")
    args = parser.parse_args()
    for weights in args.weights:
        network = network_of(weights)
        total, parts = profile_decoder(network, args.tile, args.threads, args.repeats)
        convs = sum(t for part, t in parts.items() if part.startswith("conv "))
        print(f"{network.name}: decoder step t ≥ 2 on a {args.tile}² tile, {args.threads} threads: "
              f"{total / 1000:.0f} ms ({convs / 1000:.0f} ms in convolutions)")
        for part, t in parts.most_common(args.top):
            print(f"  {t / 1000:6.1f} ms  {part}")


if __name__ == "__main__":
    main()
