"""Training, top to bottom: the config, the training function, its loop and step, then their helpers.

Random crops → the training error of every unrolled iteration (by default minus each crop's PSNR,
see ``network.RESIDUAL_ERRORS``), summed; Adam with warm-up and a cosine schedule. Resumable exactly:
model, optimizer, step, schedule and every process's random state live in one checkpoint. bf16
autocast on CUDA; DistributedDataParallel when started by torchrun.
Files in the output folder: checkpoint.pt (full state), weights.safetensors (the last step),
best.safetensors (the best validation score so far: what ships), log.jsonl (one line per validation).
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

from .limits import MAX_ITERATIONS
from .data import CropSampler, is_validation, list_images, load_rgb, validation_crops
from .files import atomic_write
from .metrics import batch_psnr
from .network import RESIDUAL_ERRORS, ModelConfig, Network, is_narrower, narrow, new_parameters, widen
from .weights import WeightsError, default_network_path, load_network, read_metadata, save_weights

CHECKPOINT, LAST, BEST, LOG = "checkpoint.pt", "weights.safetensors", "best.safetensors", "log.jsonl"


# --- config --------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Training settings. The defaults are the recipe of the step-15500 weights (rnncodec-gdn); later
    weights changed some of them and record their own (their ``train_config``), which a warm start takes."""

    batch_size: int = 2  # per process; 2 × 128² crops hold the pixels of 8 × 64², at the same cost per step
    crop: int = 128  # 32² crops taught the model its zero-padded border; 128² leave fewer code positions at it
    iterations: int = MAX_ITERATIONS  # unrolled per step: with 8, the iterations after 8 stayed nearly idle
    lr: float = 3e-4  # Adam; 1e-3 learned fastest for ~300 steps, then collapsed the model
    warmup_steps: int = 100  # lr rises linearly over these steps: a fresh Adam state takes large steps
    schedule_steps: int = 15500  # cosine decay from lr to lr·min_lr_ratio, ending at this global step
    schedule_start: int = 0  # global step where warm-up and cosine begin: a warm start's step restarts them
    min_lr_ratio: float = 0.1  # the schedule's floor; raising the lr again later gained little
    new_lr_scale: float = 5.0  # capacity added to warm-start weights learns this much faster, after its own warm-up
    loss: str = "psnr"  # per iteration: minus each crop's PSNR (the mean-PSNR objective), or "l1" / "mse"
    stochastic_bits: bool = False  # sign bits, as at inference; stochastic ones lost 0.2–0.3 dB @8
    detach_previous: bool = False  # True trains each iteration on its own residual only; it lost 0.1 dB @8
    grad_clip: float = 1.0  # global gradient norm: a guard against rare loss spikes
    train_only: str = "all"  # "encoder": the encoder and binarizer learn, the decoder and the gains it shares stay as they are
    val_every: int = 100  # steps between validations (each a few seconds on a CPU)
    val_crop: int = 256  # validation scores central crops this big: larger than the training crops
    checkpoint_every: int = 100  # steps between checkpoints: what a killed run loses at most
    print_every: int = 50  # steps between progress lines when stderr is not a terminal
    seed: int = 0  # initial weights, then crops and noise (offset by process rank and start step)


@dataclass
class Run:
    """What a checkpoint holds: the model, its optimizer and settings, and how far training got."""

    model: Network
    cfg: TrainConfig
    step: int = 0
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)  # every validation record
    best_score: float = -math.inf  # validation_score of best.safetensors
    optimizer: torch.optim.Optimizer | None = None
    last: dict | None = None  # the latest validation record
    last_loss: float | None = None
    new_parameters: set[str] = field(default_factory=set)  # added to the warm-start weights (their own lr)
    grown_at: int = 0  # the step they were added at


# --- training: set up, loop, step ----------------------------------------------------------------
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
    ``widths`` sets layer widths and tail capacity (ModelConfig fields): for a new model, or grown
    onto warm-start weights almost without changing what they compute (:func:`rnncodec.network.widen`);
    the added parameters get their own optimizer group (:func:`make_optimizer`). Thinner tail branches
    or 1/16 decoder cell than the warm start's narrow it instead (:func:`rnncodec.network.narrow`).
    """
    torch.set_flush_denormal(True)  # subnormal floats in late training slow CPU kernels many times over
    procs = start_processes(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        run, checkpoint = set_up_run(out, overrides or {}, model_cfg, resume, init, widths, procs.device)
        sampler, val = load_data(data, run.cfg, procs, run.step)
        seed_random_state(run, procs, sampler, checkpoint)
        with StopSignals() as signals, Progress(out, procs.master, steps, run.step) as progress:
            until = Until(steps, minutes, time.time(), signals)
            train_loop(run, sampler, val, procs, out, until, progress)
    finally:
        stop_processes(procs)
    return {"step": run.step, "train_seconds": run.train_seconds, "loss": run.last_loss, "last": run.last}


def train_loop(run: Run, sampler: CropSampler, val, procs: Processes, out: Path, until: Until, progress: Progress):
    """Steps, with validation and checkpoints at their intervals, and a checkpoint at the end."""
    model = torch.nn.parallel.DistributedDataParallel(run.model) if procs.world > 1 else run.model
    autocast = mixed_precision(procs.device)
    while not until.reached(run.step, procs):
        terms = train_step(run, model, sampler, procs.device, autocast)
        progress.step(run, terms)
        if val is not None and run.step % run.cfg.val_every == 0:
            with autocast:
                record = validation_record(run, validate(run.model, val, run.model.cfg.max_iterations, procs.device))
            progress.validation(record)
            save_if_best(run, out)
        if run.step % run.cfg.checkpoint_every == 0:
            save_checkpoint(run, sampler, procs, out)
    save_checkpoint(run, sampler, procs, out)
    if procs.world > 1:
        dist.barrier()  # the master writes the checkpoint: no process leaves (and ends the group) before it is written


def train_step(run: Run, model, sampler: CropSampler, device: torch.device, autocast) -> torch.Tensor:
    """One optimizer step on a fresh batch; returns the per-iteration loss terms."""
    started = time.time()
    set_learning_rates(run)
    x = sampler.batch(run.cfg.batch_size).to(device, non_blocking=True)
    with autocast:
        terms = loss_terms(model, x, run.cfg.iterations, run.cfg.loss, run.cfg.detach_previous)
    loss = terms.float().sum()
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    run.optimizer.step()
    run.step += 1
    run.last_loss = loss.item()
    run.train_seconds += time.time() - started
    return terms.detach().float()


def loss_terms(model, x: torch.Tensor, iterations: int, kind: str, detach_previous: bool = False) -> torch.Tensor:
    """Per-iteration training error, shape (iterations,); through ``model``'s forward, so DDP sees it."""
    if kind not in RESIDUAL_ERRORS:
        raise ValueError(f"unknown loss {kind!r}")
    return model(x, iterations, detach_previous, error=kind)


# --- the run's start: resumed, warm-started or new -----------------------------------------------
RUN_KEEPING = ("val_every", "checkpoint_every", "print_every")  # how a run reports, not how it trains


def shipped_weights() -> Path | None:
    try:
        return default_network_path()
    except WeightsError:
        return None


def set_up_run(out: Path, overrides: dict, model_cfg: ModelConfig, resume: bool, init, widths: dict | None,
               device: torch.device) -> tuple[Run, dict | None]:
    """The run and, when resuming, the checkpoint (for the random state still to restore).

    Resume from OUT's checkpoint; else warm-start from ``init`` (with ``resume``: the shipped
    weights); else a new model. ``overrides`` replace the start's TrainConfig fields.
    """
    checkpoint = None
    if resume and (out / CHECKPOINT).exists():
        checkpoint = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)
        run = run_from_checkpoint(checkpoint, overrides, widths)
    elif init is not None or (resume and shipped_weights() is not None):
        run = run_from_weights(Path(init) if init is not None else shipped_weights(), overrides, widths)
    else:
        cfg = TrainConfig(**overrides)
        torch.manual_seed(cfg.seed)  # the initial weights
        run = Run(Network(replace(model_cfg, **(widths or {}))), cfg)
    run.model.binarizer.stochastic = run.cfg.stochastic_bits
    run.model.to(device).train()
    for name, parameter in run.model.named_parameters():
        parameter.requires_grad_(learns(name, run.cfg.train_only))
    run.optimizer = make_optimizer(run.model, run.cfg, run.new_parameters)
    if checkpoint is not None:
        run.optimizer.load_state_dict(checkpoint["optimizer"])
    return run, checkpoint


def run_from_checkpoint(checkpoint: dict, overrides: dict, widths: dict | None) -> Run:
    model_cfg = ModelConfig.from_dict(checkpoint["model_config"])
    if widths and replace(model_cfg, **widths) != model_cfg:
        raise ValueError(f"{CHECKPOINT} has other layer widths; widen with --init from its weights into a new folder")
    model = Network(model_cfg)
    model.load_state_dict(checkpoint["model"])
    cfg = TrainConfig(**{**checkpoint["train_config"], **overrides})
    return Run(model, cfg, checkpoint["step"], checkpoint["train_seconds"], checkpoint["history"],
               checkpoint.get("best_score", -math.inf), new_parameters=set(checkpoint.get("new_parameters", [])),
               grown_at=checkpoint.get("grown_at", 0))


def run_from_weights(path: Path, overrides: dict, widths: dict | None) -> Run:
    """Warm start: the weights, widened or narrowed if asked, with the step, seconds and training settings they
    record (not their run's validation, checkpoint and progress intervals: those start at the defaults)."""
    model, meta = load_network(path), read_metadata(path)
    recipe = {k: v for k, v in meta.get("train_config", {}).items() if k not in RUN_KEEPING}
    cfg = TrainConfig(**{**recipe, **overrides})
    run = Run(model, cfg, int(meta.get("step", 0)), float(meta.get("train_seconds", 0.0)))
    if widths and is_narrower(model.cfg, target := replace(model.cfg, **widths)):
        run.model = narrow(model, target)  # no new weights: they all train at the schedule's rate
    elif widths:
        torch.manual_seed(cfg.seed + run.step)  # the added weights' initialisation
        run.model = widen(model, target)
        run.new_parameters, run.grown_at = new_parameters(run.model, model.state_dict()), run.step
    return run


# --- optimizer and learning rates ----------------------------------------------------------------
TRAINED_PARTS = {"all": None, "encoder": ("encoder.", "binarizer.")}  # train_only → the parameter names that learn


def learns(name: str, train_only: str) -> bool:
    """Whether the parameter of this name learns when training ``train_only`` (a TRAINED_PARTS key)."""
    if train_only not in TRAINED_PARTS:
        raise ValueError(f"train_only must be one of {', '.join(TRAINED_PARTS)}, not {train_only!r}")
    prefixes = TRAINED_PARTS[train_only]
    return prefixes is None or name.startswith(prefixes)


def make_optimizer(model: Network, cfg: TrainConfig, new_names: set[str] = frozenset()) -> torch.optim.Optimizer:
    """Adam over the parameters that learn (:func:`learns`), with a parameter group for the weights training
    started from and one for capacity added to them (when there is any); the loop sets each group's lr
    every step (see set_learning_rates)."""
    named = [(n, p) for n, p in model.named_parameters() if learns(n, cfg.train_only)]
    groups = [{"params": [p for n, p in named if n not in new_names], "new": False},
              {"params": [p for n, p in named if n in new_names], "new": True}]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=cfg.lr)


def set_learning_rates(run: Run) -> None:
    for group in run.optimizer.param_groups:
        new = group.get("new", False)
        group["lr"] = new_capacity_lr(run.cfg, run.step, run.grown_at) if new else learning_rate(run.cfg, run.step)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The cosine from lr (after warm-up) to lr·min_lr_ratio, times the warm-up's linear ramp."""
    step = max(0, step - cfg.schedule_start)
    horizon = cfg.schedule_steps - cfg.schedule_start - cfg.warmup_steps
    progress = min(1.0, max(0, step - cfg.warmup_steps) / horizon) if horizon > 0 else 1.0
    cosine = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * cosine * min(1.0, (step + 1) / max(1, cfg.warmup_steps))


def new_capacity_lr(cfg: TrainConfig, step: int, grown_at: int) -> float:
    """Learning rate of parameters added at step ``grown_at``: new_lr_scale × the schedule, after a warm-up of their own."""
    return learning_rate(cfg, step) * cfg.new_lr_scale * min(1.0, (step - grown_at + 1) / cfg.warmup_steps)


# --- processes: one, or DistributedDataParallel under torchrun -----------------------------------
@dataclass
class Processes:
    """This process's place in the run: one process, or one of torchrun's."""

    device: torch.device
    rank: int = 0
    world: int = 1
    owns_group: bool = False  # train() started the process group, so it ends it

    @property
    def master(self) -> bool:
        return self.rank == 0


def start_processes(device: str | None) -> Processes:
    """Pick the device and, under torchrun (WORLD_SIZE > 1), join the process group unless already in one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # training shapes are fixed: let cuDNN pick its fastest kernels
    owns_group = world > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(device, dist.get_rank() if world > 1 else 0, world, owns_group)


def mixed_precision(device: torch.device):
    """The autocast context training runs under: bf16 on CUDA, full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def stop_processes(procs: Processes) -> None:
    if procs.owns_group:
        dist.destroy_process_group()


# --- data and random state -----------------------------------------------------------------------
def load_data(folder, cfg: TrainConfig, procs: Processes, step: int) -> tuple[CropSampler, torch.Tensor | None]:
    """This process's crop sampler (seeded by rank and step) and, on the master, the validation crops."""
    paths = list_images(folder)
    train_paths = [p for p in paths if not is_validation(p)]
    val_paths = [p for p in paths if is_validation(p)]
    sampler = CropSampler([load_rgb(p) for p in train_paths], cfg.crop, seed=process_seed(cfg, procs, step))
    val = validation_crops([load_rgb(p) for p in val_paths], cfg.val_crop) if procs.master and val_paths else None
    return sampler, val


def process_seed(cfg: TrainConfig, procs: Processes, step: int) -> int:
    return cfg.seed + 1000 * procs.rank + step


def random_states(sampler: CropSampler, procs: Processes) -> list[dict]:
    """Every process's random state (crops, binarizer noise), by rank; all processes must call it."""
    state = {"data": sampler.generator.get_state(), "torch": torch.get_rng_state()}
    if procs.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(procs.device)
    if procs.world == 1:
        return [state]
    states = [None] * procs.world
    dist.all_gather_object(states, state)
    return states


def seed_random_state(run: Run, procs: Processes, sampler: CropSampler, checkpoint: dict | None) -> None:
    """Seed the binarizer's noise; on resume, restore this process's state as the checkpoint saved it."""
    torch.manual_seed(process_seed(run.cfg, procs, run.step))
    if checkpoint is None:
        return
    states = checkpoint["rng"]
    states = [states] if isinstance(states, dict) else states  # older single-process checkpoints
    if len(states) != procs.world:
        if procs.master:
            tqdm.write(f"{CHECKPOINT} holds the random state of {len(states)} processes, not {procs.world}: "
                       "crops and noise start afresh", file=sys.stderr)
        return
    mine = states[procs.rank]
    sampler.generator.set_state(mine["data"])
    torch.set_rng_state(mine["torch"])
    if "cuda" in mine and procs.device.type == "cuda":
        torch.cuda.set_rng_state(mine["cuda"], procs.device)


# --- validation ----------------------------------------------------------------------------------
@torch.no_grad()
def validate(model: Network, crops: torch.Tensor, iterations: int, device) -> list[float]:
    """Mean PSNR (8-bit RGB, metrics.psnr) of the validation crops after each iteration."""
    model.eval()
    sums = [0.0] * iterations
    for x in crops.split(4):
        x = x.to(device)
        for t, (_, recon) in enumerate(model.iterate(x, iterations)):
            sums[t] += sum(batch_psnr(x, recon))
    model.train()
    return [s / len(crops) for s in sums]


def validation_score(psnr: list[float], iterations: int) -> float:
    """One number to rank checkpoints: mean validation PSNR over the iterations that training unrolls."""
    return sum(psnr[:iterations]) / iterations


def validation_record(run: Run, psnr: list[float]) -> dict:
    run.last = {"step": run.step, "train_seconds": round(run.train_seconds, 1), "loss": run.last_loss,
                "val_psnr": [round(p, 3) for p in psnr]}
    run.history.append(run.last)
    return run.last


# --- saving --------------------------------------------------------------------------------------
def save_if_best(run: Run, out: Path) -> None:
    score = validation_score(run.last["val_psnr"], run.cfg.iterations)
    if score > run.best_score:
        run.best_score = score
        save_weights_with_facts(run, out / BEST)


def save_checkpoint(run: Run, sampler: CropSampler, procs: Processes, out: Path) -> None:
    """Everything needed to continue exactly (written by the master), and the last weights."""
    states = random_states(sampler, procs)  # every process takes part
    if not procs.master:
        return
    state = {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "model_config": run.model.cfg.to_dict(),
        "train_config": asdict(run.cfg),
        "step": run.step,
        "train_seconds": run.train_seconds,
        "history": run.history,
        "best_score": run.best_score,
        "rng": states,
        "new_parameters": sorted(run.new_parameters),
        "grown_at": run.grown_at,
    }
    atomic_write(out / CHECKPOINT, lambda tmp: torch.save(state, tmp))
    save_weights_with_facts(run, out / LAST)


def save_weights_with_facts(run: Run, path: Path) -> None:
    facts = {"step": run.step, "train_seconds": round(run.train_seconds, 1), "train_config": asdict(run.cfg)}
    if run.last is not None:
        facts["val_psnr"] = run.last["val_psnr"]
    save_weights(run.model, path, **facts)


# --- when to stop, and what to show --------------------------------------------------------------
@dataclass
class Until:
    """When the loop stops: a step count, a wall-clock budget, or a signal."""

    steps: int | None
    minutes: float | None
    started: float
    signals: StopSignals

    def reached(self, step: int, procs: Processes) -> bool:
        stop = ((self.steps is not None and step >= self.steps) or self.signals.received
                or (self.minutes is not None and time.time() - self.started >= self.minutes * 60))
        if procs.world > 1:  # everyone stops together
            flag = torch.tensor([int(stop)], device=procs.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop


class StopSignals:
    """While active, SIGTERM and SIGINT only set ``received``: the loop finishes its step, saves, and ends."""

    def __init__(self):
        self.received = False

    def _handle(self, signum, frame):
        self.received = True

    def __enter__(self):
        self.previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Progress:
    """The master's progress: a bar on a terminal (else a line every print_every steps) and log.jsonl."""

    def __init__(self, out: Path, master: bool, steps: int | None, step: int):
        self.out, self.master, self.total, self.initial = out, master, steps, step

    def __enter__(self):
        self.bar = tqdm(total=self.total, initial=self.initial, disable=not self.master or None, file=sys.stderr,
                        dynamic_ncols=True)
        self.log = open(self.out / LOG, "a") if self.master else None
        self.val_label = {}
        return self

    def __exit__(self, *exc):
        self.bar.close()
        if self.log:
            self.log.close()

    def step(self, run: Run, terms: torch.Tensor) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{run.last_loss:.4f}", **self.val_label)
        if self.master and self.bar.disable and run.step % run.cfg.print_every == 0:
            per_iteration = " ".join(f"{v:.3f}" for v in terms.tolist())
            print(f"step {run.step}  {run.train_seconds:.0f} s  loss {run.last_loss:.4f}  per iteration {per_iteration}",
                  file=sys.stderr, flush=True)

    def validation(self, record: dict) -> None:
        psnr = record["val_psnr"]
        shown = [2**i for i in range(len(psnr).bit_length())]  # iterations 1, 2, 4, 8 … that the model has
        self.val_label = {f"val@{shown[-1]}": f"{psnr[shown[-1] - 1]:.2f}"}
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()
        tqdm.write(f"step {record['step']}  {record['train_seconds'] / 60:.1f} min  loss {record['loss']:.4f}  "
                   f"val PSNR @{'/'.join(map(str, shown))}: " + " / ".join(f"{psnr[k - 1]:.2f}" for k in shown),
                   file=sys.stderr)
