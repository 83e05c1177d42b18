"""Training throughput of the model on this machine: forward + backward + Adam step.

    python benchmarks/train_throughput.py [--batch 32] [--crop 32] [--iterations 8] [--threads 2]
        [--analysis-channels N] [--encoder-hidden A,B,C] [--synthesis-channels N] [--decoder-hidden A,B,C,D]
        [--tail-branches A,B] [--full-resolution-channels N] [--iteration-conditioning]
Prints parameters, multiply-accumulates per pixel per iteration, seconds per step and patches/s
(the median of --steps timed steps after two warm-up steps).
"""

import argparse
import statistics
import time

import torch

from rnncodec.model import TAIL, WIDTHS, ModelConfig, RNNCodec, macs_per_pixel


def channel_list(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--analysis-channels", type=int)
    ap.add_argument("--encoder-hidden", type=channel_list)
    ap.add_argument("--synthesis-channels", type=int)
    ap.add_argument("--decoder-hidden", type=channel_list)
    ap.add_argument("--tail-branches", type=channel_list, help="decoder tail capacity, e.g. 128,64")
    ap.add_argument("--full-resolution-channels", type=int)
    ap.add_argument("--iteration-conditioning", action="store_true", default=None)
    args = ap.parse_args()
    widths = {k: getattr(args, k) for k in WIDTHS + TAIL if getattr(args, k) is not None}
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    model = RNNCodec(ModelConfig(**widths))
    params = sum(p.numel() for p in model.parameters())
    macs = macs_per_pixel(model)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(args.batch, 3, args.crop, args.crop) - 0.5
    times = []
    for i in range(args.steps + 2):
        t0 = time.perf_counter()
        loss = model(x, args.iterations).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    print(f"parameters: {params / 1e6:.2f} M; MACs per pixel per iteration: {macs:,}")
    print(f"batch {args.batch} × {args.crop}², {args.iterations} iterations, {args.threads} threads: "
          f"{step:.2f} s/step, {args.batch / step:.1f} patches/s, {args.batch * args.iterations / step:.0f} patch-iterations/s")


if __name__ == "__main__":
    main()
