"""Loading the ONNX engine: parameters bound from the safetensors file in memory (what rnncodec
does) against graphs whose external data points at byte offsets inside the safetensors file.

    python benchmarks/graph_storage.py [WEIGHTS] [--repeats 7]

Writes the offset variant of WEIGHTS' graphs beside a copy of WEIGHTS in a scratch folder, then
loads both ways alternately; prints the median seconds of each and the median paired ratio.
"""

import argparse
import json
import shutil
import statistics
import struct
import tempfile
import time
from pathlib import Path

import onnx
import onnxruntime as ort

from rnncodec.graphs import GRAPHS, graph_paths
from rnncodec.engines.onnx import OnnxEngine, session_options
from rnncodec.weights import default_network_path


def safetensors_offsets(path: Path) -> dict[str, tuple[int, int]]:
    """Each tensor's (byte offset, length) in a safetensors file: after an 8-byte header length and the
    JSON header. Only files that store the network as float32: the graphs' external data is float32."""
    raw = path.read_bytes()
    header_length = struct.unpack("<Q", raw[:8])[0]
    header = {name: entry for name, entry in json.loads(raw[8 : 8 + header_length]).items() if name != "__metadata__"}
    if any(entry["dtype"] == "F16" for entry in header.values()):
        raise SystemExit(f"{path}: stored as float16; graph offsets need float32 storage (e.g. models/rnncodec-gdn.safetensors)")
    return {name: (8 + header_length + entry["data_offsets"][0], entry["data_offsets"][1] - entry["data_offsets"][0])
            for name, entry in header.items()}


def offset_graphs(weights: Path, folder: Path) -> dict[str, Path]:
    """The graphs with each parameter's external data at its place in a copy of the weights in ``folder``."""
    shutil.copy(weights, folder / weights.name)
    offsets = safetensors_offsets(weights)
    paths = {}
    for graph, path in graph_paths(weights).items():
        proto = onnx.load(path, load_external_data=False)
        for init in proto.graph.initializer:
            if init.data_location == onnx.TensorProto.EXTERNAL:
                offset, length = offsets[init.name]
                del init.external_data[:]
                for key, value in (("location", weights.name), ("offset", str(offset)), ("length", str(length))):
                    init.external_data.add(key=key, value=value)
        paths[graph] = folder / path.name
        onnx.save(proto, paths[graph])
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="?", default=default_network_path())
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = offset_graphs(args.weights, Path(tmp))
        loads = {"bound": lambda: OnnxEngine.load(args.weights, threads=1).start("encoder"),  # all four, as "offsets"
                 "offsets": lambda: [ort.InferenceSession(str(paths[g]), session_options(ort, 1), providers=["CPUExecutionProvider"]) for g in GRAPHS]}
        seconds = {name: [] for name in loads}
        for repeat in range(args.repeats):
            for name in (list(loads) if repeat % 2 else list(loads)[::-1]):
                start = time.perf_counter()
                loads[name]()
                seconds[name].append(time.perf_counter() - start)
    ratio = statistics.median(o / b for o, b in zip(seconds["offsets"], seconds["bound"]))
    print(json.dumps({**{f"{name}_s": round(statistics.median(s), 3) for name, s in seconds.items()},
                      "offsets_over_bound": round(ratio, 2)}))


if __name__ == "__main__":
    main()
