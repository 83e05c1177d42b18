"""The engines the codec runs the network on, numpy in and out, one iteration per call:

    bits, state = engine.encode_step(residual, t, state)   # (1, 3, H, W) float32 → (1, C, H/16, W/16) in ±1
    delta, state = engine.decode_step(bits, t, state)      # → Dec_t(bits), (1, 3, H, W) float32

with ``state`` None at the start and ``engine.cfg`` the model config: ONNX Runtime
(:mod:`rnncodec.runtime`) where it is installed, else PyTorch (:mod:`rnncodec.torch_engine`);
$RNNCODEC_ENGINE ("onnx" or "torch") chooses.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from .block_stage import StagedEngine
from .weights import WeightsError, is_block_stage, load_block_stage, network_weights

ENGINE_VARIABLE = "RNNCODEC_ENGINE"


def engine_name(name: str | None = None) -> str:
    """The engine to run: ``name``, else $RNNCODEC_ENGINE, else "onnx" where ONNX Runtime is installed, else "torch"."""
    name = name or os.environ.get(ENGINE_VARIABLE) or ("onnx" if find_spec("onnxruntime") else "torch")
    if name not in ("onnx", "torch"):
        raise WeightsError(f"unknown engine {name!r} (${ENGINE_VARIABLE} may be onnx or torch)")
    return name


def load_engine(path: Path, name: str | None = None):
    """The network of a weights file on the chosen engine (see :func:`engine_name`); for a block stage
    file, its network's with the stage after it (:class:`rnncodec.block_stage.StagedEngine`)."""
    if is_block_stage(path):
        try:
            return StagedEngine(load_engine(network_weights(path), name), load_block_stage(path))
        except WeightsError:
            raise  # it names its own file, or the setting at fault
        except ValueError as e:
            raise WeightsError(f"{path}: {e}") from None
    name = engine_name(name)
    try:
        if name == "onnx":
            from .runtime import OnnxEngine

            return OnnxEngine.load(path)
        from .torch_engine import TorchEngine
    except ImportError as e:
        raise WeightsError(f"the {name} engine is not installed ({e}); pip install 'rnncodec[train]' brings PyTorch") from None
    return TorchEngine.load(path)


def image_to_network(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) → float32 (1, 3, H, W) in [-0.5, 0.5], as :func:`rnncodec.tensors.to_tensor` computes it."""
    x = rgb.astype(np.float32) / np.float32(255) - np.float32(0.5)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def network_to_image(x: np.ndarray) -> np.ndarray:
    """float (3, H, W) → uint8 (H, W, 3): clamped to [-0.5, 0.5], rounded as :func:`rnncodec.tensors.to_uint8`."""
    pixels = np.round((np.clip(x, -0.5, 0.5) + np.float32(0.5)) * np.float32(255))
    return np.clip(pixels, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def as_engine(network):
    """An engine as it is, or a PyTorch RNNCodec wrapped as one."""
    if hasattr(network, "load_state_dict"):  # a PyTorch model
        from .torch_engine import TorchEngine

        return TorchEngine(network)
    return network
