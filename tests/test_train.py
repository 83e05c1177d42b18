import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from rnncodec.train import TrainConfig, learning_rate, train

# stochastic bits, so that resuming must restore the binarizer's noise as well as the crops
FAST = {"batch_size": 2, "crop": 32, "iterations": 2, "warmup_steps": 2, "schedule_steps": 20, "checkpoint_every": 1,
        "stochastic_bits": True}


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, schedule_steps=110, min_lr_ratio=0.1)
    assert learning_rate(cfg, 0) < learning_rate(cfg, 9) == 1e-3
    assert abs(learning_rate(cfg, 110) - 1e-4) < 1e-12
    assert learning_rate(cfg, 10_000) == learning_rate(cfg, 110)


def test_learning_rate_schedule_restarts_at_schedule_start():
    base = TrainConfig(lr=1e-3, warmup_steps=10, schedule_steps=110, min_lr_ratio=0.1)
    restarted = TrainConfig(lr=1e-3, warmup_steps=10, schedule_steps=5110, min_lr_ratio=0.1, schedule_start=5000)
    for step in (0, 5, 9, 10, 60, 110, 500):
        assert learning_rate(restarted, 5000 + step) == learning_rate(base, step)
    assert learning_rate(restarted, 4000) == learning_rate(base, 0)  # before the start: the warm-up's first step
    floor = TrainConfig(lr=1e-3, warmup_steps=10, schedule_steps=5000, min_lr_ratio=0.1, schedule_start=5000)
    assert learning_rate(floor, 5009) == learning_rate(floor, 6000) == 1e-4  # no horizon: warm up to the floor


def test_resume_reproduces_uninterrupted_run(tmp_path, image_folder, tiny_config):
    straight = train(image_folder, tmp_path / "a", FAST, tiny_config, steps=4)
    train(image_folder, tmp_path / "b", FAST, tiny_config, steps=2)
    resumed = train(image_folder, tmp_path / "b", {}, resume=True, steps=4)
    assert resumed["step"] == straight["step"] == 4
    assert resumed["loss"] == straight["loss"]
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_writes_loadable_weights(tmp_path, image_folder, tiny_config):
    from rnncodec.weights import load_network, read_metadata

    train(image_folder, tmp_path / "run", FAST, tiny_config, steps=1)
    model = load_network(tmp_path / "run" / "weights.safetensors")
    assert model.cfg == tiny_config
    assert read_metadata(tmp_path / "run" / "weights.safetensors")["step"] == 1


def launch_failure(stderr: str) -> str:
    """What a failed torchrun launch printed: the processes' own first lines, then the launcher's summary."""
    return stderr[:3000] + "\n…\n" + stderr[-1500:] if len(stderr) > 4500 else stderr


def test_ddp_two_processes_gloo(tmp_path, image_folder, tiny_config):
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(f"""
        from rnncodec.network import ModelConfig
        from rnncodec.train import train
        cfg = ModelConfig.from_dict({tiny_config.to_dict()!r})
        train({str(image_folder)!r}, {str(tmp_path / "ddp")!r}, {FAST!r}, cfg, steps=2, device="cpu")
    """))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, launch_failure(done.stderr)
    ckpt = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 2


def test_ddp_resume_reproduces_uninterrupted_run(tmp_path, image_folder, tiny_config):
    """Two gloo processes: 4 steps straight, and 2 steps then a resume to 4, end with the same weights.

    The script joins the process group itself, so that one launch holds all three runs."""
    script = tmp_path / "ddp_resume.py"
    script.write_text(textwrap.dedent(f"""
        import torch.distributed as dist
        from rnncodec.network import ModelConfig
        from rnncodec.train import train
        dist.init_process_group("gloo")
        cfg = ModelConfig.from_dict({tiny_config.to_dict()!r})
        train({str(image_folder)!r}, {str(tmp_path / "a")!r}, {FAST!r}, cfg, steps=4, device="cpu")
        train({str(image_folder)!r}, {str(tmp_path / "b")!r}, {FAST!r}, cfg, steps=2, device="cpu")
        train({str(image_folder)!r}, {str(tmp_path / "b")!r}, {{}}, resume=True, steps=4, device="cpu")
        dist.destroy_process_group()
    """))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, launch_failure(done.stderr)
    a, b = (torch.load(tmp_path / run / "checkpoint.pt", weights_only=True) for run in "ab")
    assert a["step"] == b["step"] == 4 and len(b["rng"]) == 2  # both processes' random states
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x["data"], y["data"]) for x, y in zip(a["rng"], b["rng"]))


def test_sigterm_stops_at_a_saved_checkpoint(tmp_path, image_folder):
    import signal
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "rnncodec", "train", "--data", str(image_folder), "--out", str(out), "--minutes", "10",
           "--batch-size", "2", "--crop", "32", "--iterations", "1", "--threads", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "log.jsonl").exists() and time.time() < deadline:  # written once training has started
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] >= 1 and f"stopped at step {ckpt['step']}" in err


def test_best_weights_follow_the_best_validation_score(tmp_path, image_folder, tiny_config):
    from PIL import Image

    from conftest import smooth_image
    from rnncodec.data import is_validation
    from rnncodec.train import validation_score
    from rnncodec.weights import read_metadata

    held_out = image_folder / "val173.png"
    assert is_validation(held_out)
    Image.fromarray(smooth_image(64, 64, seed=9)).save(held_out)
    train(image_folder, tmp_path / "run", {**FAST, "val_every": 1, "val_crop": 64}, tiny_config, steps=4)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    best = max(records, key=lambda r: validation_score(r["val_psnr"], FAST["iterations"]))
    assert read_metadata(tmp_path / "run" / "best.safetensors")["step"] == best["step"]


def test_warm_start_can_widen_the_model(tmp_path, image_folder, tiny_config):
    from rnncodec.weights import load_network

    train(image_folder, tmp_path / "narrow", FAST, tiny_config, steps=1)
    widths = {"decoder_hidden": (16, 16, 8, 16)}
    done = train(image_folder, tmp_path / "wide", FAST, init=tmp_path / "narrow" / "weights.safetensors", steps=2, widths=widths)
    assert done["step"] == 2
    assert load_network(tmp_path / "wide" / "weights.safetensors").cfg.decoder_hidden == (16, 16, 8, 16)
    with pytest.raises(ValueError):  # a checkpoint's widths are fixed: widen only from weights
        train(image_folder, tmp_path / "wide", {}, resume=True, steps=3, widths={"decoder_hidden": (16, 16, 8, 24)})


def test_warm_start_can_narrow_the_decoder(tmp_path, image_folder, tiny_config):
    from rnncodec.weights import load_network

    train(image_folder, tmp_path / "full", FAST, tiny_config, steps=1)
    thinner = (tiny_config.decoder_hidden[0] // 2, *tiny_config.decoder_hidden[1:])
    done = train(image_folder, tmp_path / "thin", FAST, init=tmp_path / "full" / "weights.safetensors", steps=2,
                 widths={"decoder_hidden": thinner})
    assert done["step"] == 2
    assert load_network(tmp_path / "thin" / "weights.safetensors").cfg.decoder_hidden == thinner


def test_training_the_encoder_alone_keeps_the_decoder(tmp_path, image_folder, tiny_config):
    from safetensors.torch import load_file

    train(image_folder, tmp_path / "first", FAST, tiny_config, steps=1)
    before = load_file(tmp_path / "first" / "weights.safetensors")
    train(image_folder, tmp_path / "encoder", {"train_only": "encoder"}, init=tmp_path / "first" / "weights.safetensors", steps=3)
    after = load_file(tmp_path / "encoder" / "weights.safetensors")
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith(("encoder.", "binarizer.")) for name in changed)
    with pytest.raises(ValueError, match="train_only"):
        train(image_folder, tmp_path / "bad", {"train_only": "decoder"}, tiny_config, steps=1)


def test_warm_start_keeps_the_recipe_but_not_the_run_intervals(tmp_path, image_folder, tiny_config):
    import dataclasses

    from rnncodec.train import run_from_weights
    from rnncodec.weights import read_metadata

    settings = {**FAST, "lr": 2e-4, "checkpoint_every": 1_000_000, "val_every": 7}
    train(image_folder, tmp_path / "first", settings, tiny_config, steps=1)
    weights = tmp_path / "first" / "weights.safetensors"
    assert read_metadata(weights)["train_config"]["checkpoint_every"] == 1_000_000
    cfg = run_from_weights(weights, {}, None).cfg
    assert cfg.lr == 2e-4 and cfg.batch_size == FAST["batch_size"] and cfg.stochastic_bits
    assert (cfg.checkpoint_every, cfg.val_every) == (TrainConfig.checkpoint_every, TrainConfig.val_every)
    assert dataclasses.replace(cfg, val_every=7) == run_from_weights(weights, {"val_every": 7}, None).cfg


def test_psnr_loss_is_minus_the_mean_crop_psnr(tiny_config):
    from rnncodec.network import Network
    from rnncodec.train import loss_terms

    torch.manual_seed(0)
    model = Network(tiny_config).eval()
    x = torch.rand(3, 3, 32, 32) - 0.5
    with torch.no_grad():
        terms = loss_terms(model, x, 2, "psnr")
        for t, (_, recon) in enumerate(model.iterate(x, 2)):
            mse = (x - recon).pow(2).mean(dim=(1, 2, 3))
            psnr = 10 * torch.log10(1 / mse)  # peak 1: images span [-0.5, 0.5]
            assert abs(float(terms[t]) + float(psnr.mean())) < 0.05  # the floor (1/255²) shifts it slightly
    with pytest.raises(ValueError):
        loss_terms(model, x, 2, "ssim")
