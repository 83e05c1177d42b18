"""Training: random crops → L1 (or MSE) of the residuals summed over iterations, Adam, cosine schedule.

Resumable exactly (model, optimizer, step, schedule and random state live in one checkpoint),
bf16 autocast on CUDA, and DistributedDataParallel when started by torchrun.
Files in the output folder: checkpoint.pt (full state), weights.safetensors (the last step),
best.safetensors (the best validation score so far: what ships), log.jsonl.
SIGTERM or Ctrl-C ends the run at the next step boundary, after saving the checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from .data import CropSampler, is_validation, list_images, load_rgb, validation_crops
from .model import RESIDUAL_ERRORS, ModelConfig, RNNCodec, new_parameters, widen
from .files import atomic_write
from .weights import WeightsError, default_weights_path, load_model, read_metadata, save_weights


@dataclass
class TrainConfig:
    batch_size: int = 8  # per process; 8 × 64² costs what 32 × 32² did
    crop: int = 64  # 32² crops taught the model its border (a 2×2 grid at 1/16) and whole images got worse
    iterations: int = 8  # iterations unrolled per step (the loss sums over them)
    lr: float = 3e-4  # Adam; 1e-3 (fastest in the probes) collapsed this model twice after ~300 steps
    warmup_steps: int = 100
    schedule_steps: int = 20000  # cosine decay horizon, from lr down to lr·min_lr_ratio
    min_lr_ratio: float = 0.1
    new_lr_scale: float = 5.0  # capacity added to warm-start weights learns at this multiple of the schedule's lr
    loss: str = "l1"  # per iteration: "l1" or "mse" of the residual, or "psnr" (model.RESIDUAL_ERRORS)
    stochastic_bits: bool = True  # stochastic binarization in training (False: the sign, as at inference)
    detach_previous: bool = False  # train each iteration on its own residual only (x̂_{t-1} without gradient)
    grad_clip: float = 1.0  # global norm; a guard against the spikes the binarizer's noise produces
    val_every: int = 200  # steps between validations
    val_crop: int = 256
    checkpoint_every: int = 200  # steps between checkpoints
    print_every: int = 50  # steps between progress lines when stderr is not a terminal
    seed: int = 0


def shipped_weights() -> Path | None:
    try:
        return default_weights_path()
    except WeightsError:
        return None


def learning_rate(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.schedule_steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def new_capacity_lr(cfg: TrainConfig, step: int, grown_at: int) -> float:
    """Learning rate of parameters added at step ``grown_at``: new_lr_scale × the schedule, after its own warm-up."""
    ramp = min(1.0, (step - grown_at + 1) / cfg.warmup_steps)
    return learning_rate(cfg, step) * cfg.new_lr_scale * ramp


def make_optimizer(model: RNNCodec, cfg: TrainConfig, new_names: set[str]) -> torch.optim.Adam:
    """Adam with two parameter groups: the weights training started from, and capacity added to them."""
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if n not in new_names], "name": "old"},
              {"params": [p for n, p in named if n in new_names], "name": "new"}]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=cfg.lr)


def set_learning_rates(optimizer, cfg: TrainConfig, step: int, grown_at: int) -> None:
    for group in optimizer.param_groups:
        group["lr"] = new_capacity_lr(cfg, step, grown_at) if group["name"] == "new" else learning_rate(cfg, step)


def loss_terms(model, x: torch.Tensor, iterations: int, kind: str, detach_previous: bool = False) -> torch.Tensor:
    """Per-iteration training error, shape (iterations,); through ``model``'s forward, so DDP sees it."""
    if kind not in RESIDUAL_ERRORS:
        raise ValueError(f"unknown loss {kind!r}")
    return model(x, iterations, detach_previous, error=kind)


def validation_score(psnr: list[float], iterations: int) -> float:
    """One number to rank checkpoints: mean validation PSNR over the iterations that training unrolls."""
    return sum(psnr[:iterations]) / iterations


def psnr_8bit(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """PSNR of each image of a batch after rounding both to 8 bits, shape (B,)."""
    err = (recon.clamp(-0.5, 0.5) * 255).round() - (x * 255).round()
    mse = err.pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return 10 * torch.log10(255**2 / mse)


@torch.no_grad()
def validate(model: RNNCodec, crops: torch.Tensor, iterations: int, device) -> list[float]:
    """Mean PSNR (8-bit RGB) of the validation crops after each iteration."""
    model.eval()
    sums = [0.0] * iterations
    for x in crops.split(4):
        x = x.to(device)
        for t, (_, recon) in enumerate(model.iterate(x, iterations)):
            sums[t] += float(psnr_8bit(recon, x).sum())
    model.train()
    return [s / len(crops) for s in sums]


def train(
    data: str | Path,
    out: str | Path,
    overrides: dict | None = None,
    model_cfg: ModelConfig = ModelConfig(),
    resume: bool = False,
    init: str | Path | None = None,
    steps: int | None = None,
    minutes: float | None = None,
    device: str | None = None,
    widths: dict | None = None,
) -> dict:
    """Train until the global step reaches ``steps`` or ``minutes`` of wall time pass.

    ``overrides`` sets TrainConfig fields; on resume they replace the checkpoint's own values.
    ``widths`` sets layer widths (ModelConfig fields): for a new model, or to widen warm-start
    weights without changing what they compute (:func:`rnncodec.model.widen`).
    """
    overrides = overrides or {}
    torch.set_flush_denormal(True)  # subnormal floats in late training slow CPU kernels many times over
    # --- processes and device -------------------------------------------------------------
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        backend = "nccl" if torch.cuda.is_available() and device != "cpu" else "gloo"
        dist.init_process_group(backend)
        rank = dist.get_rank()
    if device is None:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    master = rank == 0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"

    # --- model, optimizer, state ------------------------------------------------------------
    step, train_seconds, history = 0, 0.0, []
    best_score = -math.inf
    checkpoint = None
    new_names, grown_at = set(), 0  # parameters added to warm-start weights, and the step they were added at
    if resume and ckpt_path.exists():
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model_cfg = ModelConfig.from_dict(checkpoint["model_config"])
        if widths and replace(model_cfg, **widths) != model_cfg:
            raise ValueError(f"{ckpt_path} has other layer widths; widen with --init from its weights into a new folder")
        model = RNNCodec(model_cfg)
        model.load_state_dict(checkpoint["model"])
        step, train_seconds, history = checkpoint["step"], checkpoint["train_seconds"], checkpoint["history"]
        best_score = checkpoint.get("best_score", -math.inf)
        new_names, grown_at = set(checkpoint.get("new_parameters", [])), checkpoint.get("grown_at", 0)
        cfg = TrainConfig(**{**checkpoint["train_config"], **overrides})
    elif init is not None or (resume and shipped_weights() is not None):  # warm start
        init = Path(init) if init is not None else shipped_weights()
        model = load_model(init)
        meta = read_metadata(init)
        step, train_seconds = int(meta.get("step", 0)), float(meta.get("train_seconds", 0.0))
        if widths:
            old_state = model.state_dict()
            torch.manual_seed(meta.get("train_config", {}).get("seed", 0) + step)  # the new weights' initialisation
            model = widen(model, replace(model.cfg, **widths))
            new_names, grown_at = new_parameters(model, old_state), step
        model_cfg = model.cfg
        history = []
        cfg = TrainConfig(**{**meta.get("train_config", {}), **overrides})
    else:
        cfg = TrainConfig(**overrides)
        torch.manual_seed(cfg.seed)
        model_cfg = replace(model_cfg, **(widths or {}))
        model = RNNCodec(model_cfg)
    model.binarizer.stochastic = cfg.stochastic_bits
    model.to(device).train()
    optimizer = make_optimizer(model, cfg, new_names)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    # --- data ------------------------------------------------------------------------------------
    paths = list_images(data)
    train_paths = [p for p in paths if not is_validation(p)]
    val_paths = [p for p in paths if is_validation(p)]
    sampler = CropSampler([load_rgb(p) for p in train_paths], cfg.crop, seed=cfg.seed + 1000 * rank + step)
    val = validation_crops([load_rgb(p) for p in val_paths], cfg.val_crop) if master and val_paths else None
    torch.manual_seed(cfg.seed + 1000 * rank + step)  # the binarizer's noise
    if checkpoint is not None and not distributed:
        sampler.generator.set_state(checkpoint["rng"]["data"])
        torch.set_rng_state(checkpoint["rng"]["torch"])

    def save(record: dict | None) -> None:
        if not master:
            return
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "model_config": model_cfg.to_dict(),
            "train_config": asdict(cfg),
            "step": step,
            "train_seconds": train_seconds,
            "history": history,
            "best_score": best_score,
            "new_parameters": sorted(new_names),
            "grown_at": grown_at,
            "rng": {"data": sampler.generator.get_state(), "torch": torch.get_rng_state()},
        }
        atomic_write(ckpt_path, lambda tmp: torch.save(state, tmp))
        save_weights_with_facts(out / "weights.safetensors", record)

    def save_weights_with_facts(path: Path, record: dict | None) -> None:
        facts = {"step": step, "train_seconds": round(train_seconds, 1), "train_config": asdict(cfg)}
        if record is not None:
            facts["val_psnr"] = record["val_psnr"]
        save_weights(model, path, **facts)

    def save_if_best(record: dict) -> None:
        nonlocal best_score
        score = validation_score(record["val_psnr"], cfg.iterations)
        if master and score > best_score:
            best_score = score
            save_weights_with_facts(out / "best.safetensors", record)

    # --- loop ------------------------------------------------------------------------------------
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    interrupted = False

    def request_stop(signum, frame):  # SIGTERM / SIGINT: finish the step, save, exit
        nonlocal interrupted
        interrupted = True

    previous_handlers = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    start = time.time()
    last, last_loss = None, None
    bar = tqdm(total=steps, initial=step, disable=not master or None, file=sys.stderr, dynamic_ncols=True)
    log_file = open(out / "log.jsonl", "a") if master else None
    try:
        while True:
            elapsed = time.time() - start
            stop = (steps is not None and step >= steps) or (minutes is not None and elapsed >= minutes * 60) or interrupted
            if distributed:  # everyone stops together
                flag = torch.tensor([int(stop)], device=device if backend == "nccl" else "cpu")
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stop = bool(flag.item())
            if stop:
                break
            t0 = time.time()
            set_learning_rates(optimizer, cfg, step, grown_at)
            x = sampler.batch(cfg.batch_size).to(device, non_blocking=True)
            with autocast:
                terms = loss_terms(ddp_model, x, cfg.iterations, cfg.loss, cfg.detach_previous)
            loss = terms.float().sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            step += 1
            last_loss = loss.item()
            train_seconds += time.time() - t0
            bar.update(1)
            if master and bar.disable and step % cfg.print_every == 0:
                print(f"step {step}  {train_seconds:.0f} s  loss {last_loss:.4f}  "
                      f"per iteration {' '.join(f'{v:.3f}' for v in terms.detach().float().tolist())}", file=sys.stderr, flush=True)
            bar.set_postfix(loss=f"{last_loss:.4f}", **({"val@8": f"{last['val_psnr'][7]:.2f}"} if last else {}))
            if master and val is not None and step % cfg.val_every == 0:
                with autocast:
                    psnr = validate(model, val, model_cfg.max_iterations, device)
                last = {"step": step, "train_seconds": round(train_seconds, 1), "loss": last_loss, "val_psnr": [round(p, 3) for p in psnr]}
                history.append(last)
                log_file.write(json.dumps(last) + "\n")
                log_file.flush()
                tqdm.write(f"step {step}  {train_seconds/60:.1f} min  loss {last_loss:.4f}  val PSNR @1/4/8/16: "
                           + " / ".join(f"{psnr[i]:.2f}" for i in (0, 3, 7, 15)), file=sys.stderr)
                save_if_best(last)
            if step % cfg.checkpoint_every == 0:
                save(last)
        save(last)
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
        bar.close()
        if log_file:
            log_file.close()
        if distributed:
            dist.destroy_process_group()
    return {"step": step, "train_seconds": train_seconds, "loss": last_loss, "last": last}
