"""A cheaper decoder to train on: the network thinned where decoding spends most, and what that costs before training.

    python experiments/thin_decoder.py WEIGHTS OUT.safetensors [--data TRAIN_FOLDER]
        [--tail-branches 32,16] [--cell-width 160] [--crops 64] [--time REPEATS]

Thins WEIGHTS with ``rnncodec.network.narrow`` (the tail branches' hidden widths, the 1/16 decoder
cell's width) and writes the result as a network weights file to train on (``rnncodec train --init
OUT.safetensors``). Thinned by the defaults, the default's network falls from 26.1 to 19.9 dB at
two iterations on the validation crops, mostly for the 1/16 cell, so before writing, what that
cell's dropped channels carried is predicted from the kept ones by least squares on ``--crops``
random training crops (channel pruning with reconstruction, He et al. 2017) and folded into the
weights that read them: the 1/16 cell's recurrence and the 1/8 cell's input. Prints the
multiply-accumulates per pixel of one iteration (encoder and decoder) and the validation crops'
PSNR at iterations 1–2 before and after thinning (the validation split of TRAIN_FOLDER, default
$RNNCODEC_DATA/train; never Kodak). ``--time N`` also times, in ONNX Runtime on 2 threads, the
network's work on one 768² tile (the default tile) at two iterations, the full and the thinned
network alternating N times: what encoding runs (two encoder and two decoder steps) and what
decoding runs (two decoder steps); medians.
"""

import copy
import os
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from rnncodec.data import CropSampler, is_validation, list_images, load_rgb, validation_crops
from rnncodec.engines.onnx import OnnxEngine
from rnncodec.export import export_graphs
from rnncodec.image_folders import weights_on_validation_parser
from rnncodec.network import kept_channels, macs_per_pixel, narrow
from rnncodec.train import validate
from rnncodec.weights import load_network, save_weights


def least_squares(kept: torch.Tensor, dropped: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """B with dropped ≈ kept @ B (samples × channels each), ridge-regularised."""
    gram = kept.T @ kept
    return torch.linalg.solve(gram + ridge * gram.diagonal().mean() * torch.eye(len(gram)), kept.T @ dropped)


def fold_dropped_channels(full, thin, crops: torch.Tensor) -> None:
    """Fold into ``thin``'s 1/16 cell recurrence and 1/8 cell input what ``full``'s dropped 1/16 channels carried."""
    cell, reader = full.decoder.cells[0], full.decoder.cells[1]
    kept = kept_channels(full, thin.cfg)
    units, gone = kept.units(), kept.units(kept.dropped_groups)
    outputs = []
    hook = cell.register_forward_hook(lambda module, inputs, out: outputs.append(out[0]))
    with torch.no_grad():
        for x in crops.split(8):
            list(full.eval().iterate(x, 2))
    hook.remove()
    h = torch.cat([o.permute(0, 2, 3, 1).reshape(-1, cell.hidden) for o in outputs])  # samples × hidden units
    with torch.no_grad():
        # the recurrence reads every unit at the same position: predict the dropped units from the kept ones
        B = least_squares(h[:, units], h[:, gone])  # kept units × dropped units
        rows = torch.cat([g * cell.hidden + units for g in range(4)])
        weight = cell.conv_hidden.weight[rows]
        thin.decoder.cells[0].conv_hidden.weight.copy_(weight[:, units] + torch.einsum("odyx,kd->okyx", weight[:, gone], B))
        # after depth-to-space the 1/8 cell reads group g's units as one channel at four positions: predict channels from channels
        channels = h[:, units].reshape(-1, len(kept.groups), 4).transpose(1, 2).reshape(-1, len(kept.groups))
        lost = h[:, gone].reshape(-1, len(kept.dropped_groups), 4).transpose(1, 2).reshape(-1, len(kept.dropped_groups))
        C = least_squares(torch.cat([channels, torch.ones(len(channels), 1)], 1), lost)  # (kept channels + 1) × dropped
        weight = reader.conv_in.weight
        thin.decoder.cells[1].conv_in.weight.copy_(weight[:, kept.groups] + torch.einsum("odyx,kd->okyx", weight[:, kept.dropped_groups], C[:-1]))
        thin.decoder.cells[1].conv_in.bias.add_(torch.einsum("odyx,d->o", weight[:, kept.dropped_groups], C[-1]))


def network_seconds(engines: dict, tile: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median ONNX Runtime seconds of (encoding's, decoding's) network work on one tile at two iterations, per engine."""
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 3, tile, tile)).astype(np.float32)
    times = {name: ([], []) for name in engines}
    for repeat in range(repeats + 1):  # the first, untimed, warms ONNX Runtime up
        for name, engine in engines.items():  # alternating, so a busy machine weighs on both alike
            start = time.perf_counter()
            recon, enc_state, dec_state = np.zeros_like(x), None, None
            for t in (1, 2):
                bits, enc_state = engine.encode_step(x - recon, t, enc_state)
                delta, dec_state = engine.decode_step(bits, t, dec_state)
                recon = recon + delta
            middle = time.perf_counter()
            dec_state = None
            for t in (1, 2):
                _, dec_state = engine.decode_step(bits, t, dec_state)
            end = time.perf_counter()
            if repeat:
                times[name][0].append(middle - start)
                times[name][1].append(end - middle)
    return {name: (statistics.median(e), statistics.median(d)) for name, (e, d) in times.items()}


def main():
    parser = weights_on_validation_parser(__doc__)
    parser.add_argument("out", help="the thinned network weights file to write")
    parser.add_argument("--tail-branches", default="32,16")
    parser.add_argument("--cell-width", type=int, default=160, help="Width of the 1/16 decoder cell (a multiple of 4).")
    parser.add_argument("--crops", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time", type=int, default=0, metavar="REPEATS", help="Also time both networks in ONNX Runtime.")
    args = parser.parse_args()

    paths = list_images(args.data)
    val = validation_crops([load_rgb(p) for p in paths if is_validation(p)], 256)
    train_images = [load_rgb(p) for p in paths if not is_validation(p)]
    crops = CropSampler(train_images, 128, args.seed).batch(args.crops)

    full = load_network(args.weights).eval()
    cfg = replace(full.cfg, tail_branches=tuple(int(w) for w in args.tail_branches.split(",")),
                  decoder_hidden=(args.cell_width, *full.cfg.decoder_hidden[1:]))
    thin = narrow(full, cfg).eval()
    report = {"full": full, "narrowed": thin}
    if args.cell_width < full.cfg.decoder_hidden[0]:
        thin = copy.deepcopy(thin)
        fold_dropped_channels(full, thin, crops)
        report["narrowed, dropped channels folded in"] = thin
    for name, model in report.items():
        psnr = validate(model, val, 2, "cpu")
        print(f"{name:40s} MAC/px per iteration (encoder + decoder) {macs_per_pixel(model):7,d}   "
              f"validation PSNR at 1 / 2: {psnr[0]:.2f} / {psnr[1]:.2f} dB")
    save_weights(thin, args.out, step=0, thinned_from=os.path.basename(args.weights))  # its training counts from 0
    if args.time:
        engines = {name: OnnxEngine(model.cfg, export_graphs(model.cfg),
                                    {k: v.numpy() for k, v in model.state_dict().items()}, threads=2)
                   for name, model in (("full", full), ("thinned", thin))}
        seconds = network_seconds(engines, 768, args.time)
        for name, (encode, decode) in seconds.items():
            print(f"{name:8s} one 768² tile, two iterations: encoding's network work {encode:.3f} s "
                  f"({encode / seconds['full'][0]:.2f}×), decoding's {decode:.3f} s ({decode / seconds['full'][1]:.2f}×)")


if __name__ == "__main__":
    main()
