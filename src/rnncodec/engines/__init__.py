"""The engines that run a network weights file, numpy in and out, one iteration per call (the
contract: :mod:`rnncodec.engines.protocol`): ONNX Runtime (:mod:`rnncodec.engines.onnx`) where it
is installed, else PyTorch (:mod:`rnncodec.engines.torch`); $RNNCODEC_ENGINE ("onnx" or "torch")
chooses. A model's block stage runs beside its engine (:mod:`rnncodec.model`)."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from ..config import ModelConfig
from ..weights import WeightsError, network_from_parameters, read_parameters
from .protocol import Engine

ENGINE_VARIABLE = "RNNCODEC_ENGINE"

__all__ = ["ENGINE_VARIABLE", "Engine", "as_engine", "engine_name", "load_engine", "start_engine"]


def engine_name(name: str | None = None) -> str:
    """The engine to run: ``name``, else $RNNCODEC_ENGINE, else "onnx" where ONNX Runtime is installed, else "torch"."""
    name = name or os.environ.get(ENGINE_VARIABLE) or ("onnx" if find_spec("onnxruntime") else "torch")
    if name not in ("onnx", "torch"):
        raise WeightsError(f"unknown engine {name!r} (${ENGINE_VARIABLE} may be onnx or torch)")
    return name


def start_engine(path: Path, cfg: ModelConfig, params: dict[str, np.ndarray], name: str | None = None) -> Engine:
    """The network of the weights file ``path``, whose config and parameters are given, on the chosen
    engine (see :func:`engine_name`)."""
    name = engine_name(name)
    try:
        if name == "onnx":
            from .onnx import OnnxEngine, load_graphs

            return OnnxEngine(cfg, load_graphs(path, cfg), params, path=path)
        from .torch import TorchEngine, use_threads
    except ImportError as e:
        raise WeightsError(f"the {name} engine is not installed ({e}); pip install 'rnncodec[train]' brings PyTorch") from None
    use_threads()
    return TorchEngine(network_from_parameters(cfg, params, path))


def load_engine(path: str | Path, name: str | None = None) -> Engine:
    """The network of a network weights file on the chosen engine (see :func:`engine_name`)."""
    return start_engine(Path(path), *read_parameters(path), name)


def as_engine(network) -> Engine:
    """An engine as it is, or a PyTorch Network wrapped as one."""
    if hasattr(network, "load_state_dict"):  # a PyTorch network
        from .torch import TorchEngine

        return TorchEngine(network)
    return network
