"""The network's steps on PyTorch (the engine contract: :mod:`rnncodec.engines.protocol`): the
engine the ONNX one (:mod:`rnncodec.engines.onnx`) is exported from and tested against, and the
one used where ONNX Runtime is missing."""

from __future__ import annotations

import os

import numpy as np
import torch

from ..decoder_gradient import decode_with_gradient
from ..network import Network
from ..weights import load_network
from .threads import THREADS_VARIABLE, default_threads


class TorchEngine:
    """encode_step / decode_step of a Network on numpy arrays."""

    def __init__(self, network: Network):
        self.network = network.eval()
        self.cfg = network.cfg

    @classmethod
    def load(cls, weights) -> "TorchEngine":
        """The engine of a network weights file (see :func:`use_threads`)."""
        use_threads()
        return cls(load_network(weights))

    def encode_step(self, residual: np.ndarray, t: int, state=None):
        with torch.inference_mode():
            bits, state = self.network.encode_step(torch.from_numpy(residual), t, state)
            return torch.where(bits > 0, 1.0, -1.0).numpy(), state

    def decode_step(self, bits: np.ndarray, t: int, state=None):
        with torch.inference_mode():
            delta, state = self.network.decode_step(torch.from_numpy(bits), t, state)
            return delta.numpy(), state

    def encoder_activations(self, residual: np.ndarray, t: int, state=None):
        """As :meth:`encode_step`, the binarizer's pre-activations (whose sign is the bits) in place of the bits."""
        with torch.inference_mode():
            activations, state = self.network.encoder_activations(torch.from_numpy(residual), t, state)
            return activations.numpy(), state

    def decode_with_gradient(self, bits: np.ndarray, t: int, state, target: np.ndarray):
        """As :meth:`decode_step`, and the gradient with respect to ``bits`` of the mean squared error
        of Dec_t(bits) against ``target``: (delta, gradient, new state) (:func:`decode_with_gradient`)."""
        with torch.inference_mode():
            delta, state, _, gradient = decode_with_gradient(self.network, torch.from_numpy(bits), t, state, torch.from_numpy(target))
            return delta.numpy(), gradient.numpy(), state


def use_threads() -> None:
    """$RNNCODEC_THREADS, where set, sets PyTorch's threads."""
    if THREADS_VARIABLE in os.environ:
        torch.set_num_threads(default_threads())
