"""Training throughput of the model on this machine: forward + backward + Adam step.

    python scripts/train_throughput.py [--batch 32] [--crop 32] [--iterations 8] [--threads 2] [--device cuda]
        [--analysis-channels N] [--encoder-hidden A,B,C] [--synthesis-channels N] [--decoder-hidden A,B,C,D]
        [--tail-branches A,B] [--full-resolution-channels N] [--iteration-conditioning]
        [--full-resolution-branch N] [--weights FILE] [--minutes M [--sharing S]]
Prints parameters, multiply-accumulates per pixel per iteration, seconds per step and patches/s
(the median of --steps timed steps after two warm-up steps). --weights times the model of a
weights file (its config and parameters) instead of one built from the width options. --minutes
also prints how many training steps fit in M minutes, reckoning 7 % of the time for validation
and S runs sharing the device (scripts/gpu_train.sh and gpu_ab.sh set their schedules by it). On CUDA the step runs under bf16
autocast, as training does, and the peak of allocated GPU memory is printed too.
"""

import argparse
import statistics
import time

import torch

from rnncodec.network import TAIL, WIDTHS, ModelConfig, Network, macs_per_pixel
from rnncodec.train import mixed_precision, start_processes
from rnncodec.weights import load_network


def channel_list(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 …, or auto (cuda when present)")
    ap.add_argument("--minutes", type=float, help="also print the training steps that fit in this many minutes")
    ap.add_argument("--sharing", type=float, default=1, help="with --minutes: runs sharing the device")
    ap.add_argument("--weights", help="time this weights file's model")
    ap.add_argument("--analysis-channels", type=int)
    ap.add_argument("--encoder-hidden", type=channel_list)
    ap.add_argument("--synthesis-channels", type=int)
    ap.add_argument("--decoder-hidden", type=channel_list)
    ap.add_argument("--tail-branches", type=channel_list, help="decoder tail capacity, e.g. 128,64")
    ap.add_argument("--full-resolution-channels", type=int)
    ap.add_argument("--iteration-conditioning", action="store_true", default=None)
    ap.add_argument("--full-resolution-branch", type=int)
    args = ap.parse_args()
    widths = {k: getattr(args, k) for k in WIDTHS + TAIL if getattr(args, k) is not None}
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    device = start_processes(None if args.device == "auto" else args.device).device  # as training picks it
    cuda = device.type == "cuda"
    model = load_network(args.weights) if args.weights else Network(ModelConfig(**widths))
    params = sum(p.numel() for p in model.parameters())
    macs = macs_per_pixel(model)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    autocast = mixed_precision(device)
    x = torch.rand(args.batch, 3, args.crop, args.crop, device=device) - 0.5
    times = []
    for i in range(args.steps + 2):
        t0 = time.perf_counter()
        with autocast:
            loss = model(x, args.iterations).float().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize(device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    print(f"parameters: {params / 1e6:.2f} M; MACs per pixel per iteration: {macs:,}")
    print(f"batch {args.batch} × {args.crop}², {args.iterations} iterations, {args.threads} threads: "
          f"{step:.3f} s/step, {args.batch / step:.1f} patches/s, {args.batch * args.iterations / step:.0f} patch-iterations/s")
    if cuda:
        print(f"peak GPU memory allocated: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    if args.minutes:
        print(f"steps in {args.minutes:g} minutes: {max(1, int(args.minutes * 60 * 0.93 / step / args.sharing))}")


if __name__ == "__main__":
    main()
