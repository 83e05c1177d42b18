"""Where a network's decoder step spends its time in ONNX Runtime, operator by operator.

    python benchmarks/network_profile.py WEIGHTS... [--tile 768] [--threads 2] [--repeats 5]

For each network weights file (or block stage file: its network), runs the decoder step graphs
the codec runs on one tile of random ±1 codes: the first step once, then the recurrent step
(t = 2) once to warm up and ``repeats`` times measured, with ONNX Runtime's profiler on; the files'
measured steps run in turn (the order rotated each repeat), so a busy machine weighs on all
alike. Prints the median milliseconds of a recurrent step and how their mean splits: each
convolution by the layer it belongs to (``conv cells.0``: the 1/16 cell's convolutions), everything
else by operator (Add, Slice, DepthToSpace, the Reorder of ONNX Runtime's blocked layout, ...).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
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
    """Median microseconds of the profile's last ``runs`` session runs, and the mean split of a run by part."""
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
    return statistics.median(r["dur"] for r in measured), parts


def profile_decoders(networks: list[Path], tile: int, threads: int, repeats: int) -> list[tuple[float, collections.Counter]]:
    """:func:`kernel_times` of each network's recurrent decoder step, the networks' steps run in turn."""
    with tempfile.TemporaryDirectory() as tmp:
        engines = [profiled_engine(network, threads, f"{tmp}/profile{i}") for i, network in enumerate(networks)]
        steps = []
        for engine in engines:
            shape = (1, engine.cfg.code_channels, tile // 16, tile // 16)
            bits = np.sign(np.random.default_rng(0).standard_normal(shape)).astype(np.float32)
            _, state = engine.decode_step(bits, 1)
            engine.decode_step(bits, 2, state)  # warm-up
            steps.append((engine, bits, state))
        for repeat in range(repeats):
            for engine, bits, state in steps[repeat % len(steps):] + steps[: repeat % len(steps)]:
                engine.decode_step(bits, 2, state)
        results = []
        for engine in engines:
            results.append(kernel_times(Path(engine.sessions["decoder"].end_profiling()), repeats))
            for name, session in engine.sessions.items():
                if name != "decoder":
                    session.end_profiling()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--tile", type=int, default=768, help="tile side in pixels (default 768, the codec's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=12, help="parts to list (default 12)")
    args = parser.parse_args()
    networks = [network_of(weights) for weights in args.weights]
    same_names = len({network.name for network in networks}) < len(networks)  # then the paths tell them apart
    for network, (total, parts) in zip(networks, profile_decoders(networks, args.tile, args.threads, args.repeats)):
        convs = sum(t for part, t in parts.items() if part.startswith("conv "))
        print(f"{network if same_names else network.name}: decoder step t ≥ 2 on a {args.tile}² tile, {args.threads} threads: "
              f"{total / 1000:.0f} ms ({convs / 1000:.0f} ms in convolutions)")
        for part, t in parts.most_common(args.top):
            print(f"  {t / 1000:6.1f} ms  {part}")


if __name__ == "__main__":
    main()
