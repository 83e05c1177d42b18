"""What int8 would buy and cost: the network's step graphs quantised by ONNX Runtime against float32.

    python benchmarks/int8_check.py TRAIN_DIR [--crop 512] [--calibrate 4] [--measure 4] [--repeats 3]

Binds the default model's parameters into its encoder and decoder step graphs, quantises their
convolutions statically (ONNX Runtime's QDQ format: int8 weights per output channel, uint8
activations, ranges calibrated on crops of training photos), then on crops of the validation
photos (rnncodec.data.is_validation) runs the network's iterations 1 … K (K: the block stage's
start) with the float32 and the int8 graphs from the same start, and prints: the seconds of one
encoder and one decoder step of each (alternating, median of --repeats), the share of the
network's bits that differ from float32's, and the PSNR of the reconstruction after each iteration
(int8 running on its own bits, as an int8 encoder and decoder would). Needs the train extra (onnx).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from rnncodec.data import is_validation, load_rgb
from rnncodec.pixels import image_to_network, to_image
from rnncodec.graphs import graph_paths
from rnncodec.metrics import psnr
from rnncodec.model import load_model
from rnncodec.weights import read_parameters

SIDES = ("encoder", "decoder")


def bound_graph(weights: Path, params: dict, graph: str, out: Path) -> Path:
    """A step graph with the weights file's parameters stored in it (the product binds them at load)."""
    model = onnx.load(str(graph_paths(weights)[graph]), load_external_data=False)
    for tensor in model.graph.initializer:
        tensor.CopyFrom(numpy_helper.from_array(np.asarray(params[tensor.name], np.float32), tensor.name))
    onnx.save(model, str(out))
    return out


class Network:
    """One precision's encoder and decoder steps (first iteration and later ones) on one thread."""

    def __init__(self, paths: dict[str, Path]):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.log_severity_level = 1, 3
        self.sessions = {g: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for g, p in paths.items()}

    def step(self, side: str, tensor: np.ndarray, t: int, state):
        session = self.sessions[side if state is not None else f"{side}-first"]
        names = [i.name for i in session.get_inputs() if i.name != "t"]
        out, *state = session.run(None, dict(zip(names, [tensor, *(state or [])])) | {"t": np.array(t, np.int64)})
        return out, state


def iterate(network: Network, x: np.ndarray, iterations: int, feeds: dict | None = None):
    """Bits and reconstruction after each iteration; with ``feeds``, each later step's inputs recorded."""
    recon, enc, dec, steps = np.zeros_like(x), None, None, []
    for t in range(1, iterations + 1):
        if feeds is not None and enc is not None:
            feeds["encoder"].append((x - recon, t, enc))
        bits, enc = network.step("encoder", x - recon, t, enc)
        if feeds is not None and dec is not None:
            feeds["decoder"].append((bits, t, dec))
        delta, dec = network.step("decoder", bits, t, dec)
        recon = recon + delta  # γ = 1 (the default model)
        steps.append((bits, recon))
    return steps


class Feeds(CalibrationDataReader):
    def __init__(self, session_inputs: list[str], recorded: list):
        self.names, self.items = [n for n in session_inputs if n != "t"], iter(recorded)

    def get_next(self):
        item = next(self.items, None)
        if item is None:
            return None
        tensor, t, state = item
        return dict(zip(self.names, [tensor, *state])) | {"t": np.array(t, np.int64)}


def crops(folder: Path, validation: bool, count: int, side: int) -> list[np.ndarray]:
    photos = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in (".png", ".jpg", ".jpeg") and is_validation(p) == validation]
    chosen = []
    for path in photos:
        rgb = load_rgb(path)
        if min(rgb.shape[:2]) >= side:
            chosen.append(image_to_network(rgb[:side, :side]))
        if len(chosen) == count:
            return chosen
    raise SystemExit(f"{folder}: fewer than {count} {'validation' if validation else 'training'} photos of {side}² or more")


def timed(network: Network, side: str, tensor: np.ndarray, state) -> float:
    start = time.perf_counter()
    network.step(side, tensor, 2, state)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train", type=Path, help="the training photos (calibration: training split; measures: validation split)")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--calibrate", type=int, default=4, help="training crops to calibrate on")
    parser.add_argument("--measure", type=int, default=4, help="validation crops to measure on")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_model()
    after, network_file = model.network_iterations, model.network_path
    _, params = read_parameters(network_file)
    with tempfile.TemporaryDirectory() as tmp:
        graphs = [f"{side}{first}" for side in SIDES for first in ("", "-first")]
        float_paths = {g: bound_graph(network_file, params, g, Path(tmp) / f"{g}.onnx") for g in graphs}
        fp32 = Network(float_paths)
        feeds = {side: [] for side in SIDES}
        for x in crops(args.train, False, args.calibrate, args.crop):
            iterate(fp32, x, after, feeds)
        int8_paths = dict(float_paths)
        for side in SIDES:  # the later iterations' graphs: the first ones' run once per tile
            int8_paths[side] = Path(tmp) / f"{side}.int8.onnx"
            quantize_static(str(float_paths[side]), str(int8_paths[side]), Feeds([i.name for i in fp32.sessions[side].get_inputs()], feeds[side]),
                            quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"], per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        int8 = Network(int8_paths)
        flips, psnrs, seconds = [], {"float32": [], "int8": []}, {f"{s} {p}": [] for s in SIDES for p in ("float32", "int8")}
        for x in crops(args.train, True, args.measure, args.crop):
            ours, theirs = iterate(fp32, x, after), iterate(int8, x, after)
            flips.append(np.mean([np.mean(a[0] != b[0]) for a, b in zip(ours, theirs)]))
            reference = to_image(x[0])
            for name, steps in (("float32", ours), ("int8", theirs)):
                psnrs[name].append([psnr(reference, to_image(recon[0])) for _, recon in steps])
        enc_state = fp32.step("encoder", x, 1, None)[1]
        dec_state = fp32.step("decoder", ours[0][0], 1, None)[1]
        for _ in range(args.repeats):
            for precision, network in (("float32", fp32), ("int8", int8)):
                seconds[f"encoder {precision}"].append(timed(network, "encoder", x - ours[0][1], enc_state))
                seconds[f"decoder {precision}"].append(timed(network, "decoder", ours[1][0], dec_state))
    print(f"{args.crop}² crops: {args.calibrate} training crops calibrate, {args.measure} validation crops measure; one thread")
    for side in SIDES:
        a, b = (statistics.median(seconds[f"{side} {p}"]) for p in ("float32", "int8"))
        print(f"{side} step: float32 {a:.3f} s, int8 {b:.3f} s ({a / b:.2f}× faster)")
    print(f"network bits that differ from float32's: {100 * np.mean(flips):.2f} %")
    print("| iteration | float32 PSNR | int8 PSNR | change (dB) |\n|---|---|---|---|")
    for t in range(after):
        a, b = (np.mean([p[t] for p in psnrs[name]]) for name in ("float32", "int8"))
        print(f"| {t + 1} | {a:.2f} | {b:.2f} | {b - a:+.2f} |")


if __name__ == "__main__":
    main()
