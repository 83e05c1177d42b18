import numpy as np
import pytest
from PIL import Image

from rnncodec.network import ModelConfig

# A model small enough to train a few steps in a test; same structure as the shipped one.
TINY = ModelConfig(
    code_channels=8,
    analysis_channels=8,
    encoder_hidden=(8, 8, 16),
    synthesis_channels=16,
    decoder_hidden=(16, 16, 8, 8),
    decoder_hidden_kernels=(3, 1, 1, 1),
)


@pytest.fixture
def tiny_config():
    return TINY


def smooth_image(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A photo-like test image: smooth gradients plus a little noise, uint8 (h, w, channels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = []
    for c in range(channels):
        a, b, p = rng.uniform(0.01, 0.08, 3)
        planes.append(128 + 80 * np.sin(a * yy + p * 10) * np.cos(b * xx) + rng.normal(0, 6, (h, w)))
    return np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(smooth_image(72, 88, seed=i)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """Random weights of the tiny model, saved like shipped weights (the codec does not need a trained model)."""
    import torch

    from rnncodec.network import Network
    from rnncodec.weights import save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(Network(TINY), path, step=0)
    return path


@pytest.fixture(scope="session")
def tiny_codec(tiny_weights):
    from rnncodec.codec import ModelPipeline

    return ModelPipeline.load(tiny_weights)


TINY_AFTER = 2  # the tiny staged model's network iterations


def network_recons(network, x: np.ndarray, iterations: int) -> list[np.ndarray]:
    """The network's reconstructions x̂_1 … x̂_iterations of one (1, 3, H, W) image."""
    recon, recons, enc, dec = np.zeros_like(x), [], None, None
    for t in range(1, iterations + 1):
        bits, enc = network.encode_step(x - recon, t, enc)
        delta, dec = network.decode_step(bits, t, dec)
        recon = delta + recon
        recons.append(recon)
    return recons


def tiny_staged_model(network, model_id: bytes = b"\x05" * 8, dead_zone: float = 0.0, rate_weight: float = 0.0):
    """The tiny network for TINY_AFTER iterations, then a block stage fitted on its residuals (with
    ``dead_zone`` > 0 a ternary stage, and coder 4's prior fitted on the same images)."""
    from dataclasses import replace

    from rnncodec.block_stage import fit_block_stage, refinements
    from rnncodec.entropy import CoderTables
    from rnncodec.layered import fit_stage_prior
    from rnncodec.model import Model
    from rnncodec.pixels import image_to_network

    images = [image_to_network(smooth_image(64, 64, seed)) for seed in range(8)]
    recons = [network_recons(network, x, TINY_AFTER) for x in images]
    x = np.concatenate(images)
    last, before = np.concatenate([r[-1] for r in recons]), np.concatenate([r[-2] for r in recons])
    stage = fit_block_stage(x - last, last - before, TINY_AFTER, network.cfg.max_iterations - TINY_AFTER,
                            code_channels=network.cfg.code_channels, dead_zone=dead_zone, rate_weight=rate_weight)
    if not stage.ternary:
        return Model.of(network, stage, id=model_id)
    codes = [refinements(stage, x[i : i + 1] - last[i : i + 1], last[i : i + 1] - before[i : i + 1])[0] for i in range(len(x))]
    prior = fit_stage_prior([c.reshape(*c.shape[:2], -1) for c in codes], stage.sign_bits)
    return Model.of(network, stage, replace(CoderTables.uniform(network.cfg.code_channels), stage_prior=prior), id=model_id)


@pytest.fixture(scope="session")
def tiny_staged(tiny_weights):
    """The tiny network (on PyTorch) and a model of it with a block stage after TINY_AFTER iterations."""
    from rnncodec.engines.torch import TorchEngine

    network = TorchEngine.load(tiny_weights)
    return network, tiny_staged_model(network)


@pytest.fixture
def stage_file(tiny_staged, tiny_weights, tmp_path):
    """The tiny network copied to a folder with a block stage file for it beside it."""
    import shutil

    from rnncodec.weights import save_block_stage

    network = tmp_path / "net.safetensors"
    shutil.copyfile(tiny_weights, network)
    path = tmp_path / "net-stage.safetensors"
    save_block_stage(path, network, tiny_staged[1].stage, None, note="test")
    return path
