"""The network's steps on the PyTorch model, numpy in and out: the engine :mod:`rnncodec.runtime`'s
ONNX one is exported from and tested against, and the one used where ONNX Runtime is missing."""

from __future__ import annotations

import numpy as np
import torch

from .model import RNNCodec


class TorchEngine:
    """encode_step / decode_step of an RNNCodec on numpy arrays (see :mod:`rnncodec.runtime`)."""

    def __init__(self, model: RNNCodec):
        self.model = model.eval()
        self.cfg = model.cfg

    @classmethod
    def load(cls, weights) -> "TorchEngine":
        """The engine of a weights file; $RNNCODEC_THREADS, where set, sets PyTorch's threads."""
        import os

        from .runtime import THREADS_VARIABLE, default_threads
        from .weights import load_model

        if THREADS_VARIABLE in os.environ:
            torch.set_num_threads(default_threads())
        return cls(load_model(weights))

    def encode_step(self, residual: np.ndarray, t: int, state=None):
        with torch.inference_mode():
            bits, state = self.model.encode_step(torch.from_numpy(residual), t, state)
            return torch.where(bits > 0, 1.0, -1.0).numpy(), state

    def decode_step(self, bits: np.ndarray, t: int, state=None):
        with torch.inference_mode():
            delta, state = self.model.decode_step(torch.from_numpy(bits), t, state)
            return delta.numpy(), state
