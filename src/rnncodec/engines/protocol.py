"""The engine contract: what the codec asks of a network, numpy in and out, one iteration per call.

    bits, state = engine.encode_step(residual, t, state)   # r_{t-1} (1, 3, H, W) float32 → b_t (1, C, H/16, W/16) in ±1
    delta, state = engine.decode_step(bits, t, state)      # b_t → Dec_t(b_t), (1, 3, H, W) float32

``state`` is None at t = 1 and whatever the previous call gave back after; ``cfg`` is the network's
config. An engine runs one network weights file; a block stage is the model's (:mod:`rnncodec.model`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..config import ModelConfig


class Engine(Protocol):
    cfg: ModelConfig

    def encode_step(self, residual: np.ndarray, t: int, state: Any = None) -> tuple[np.ndarray, Any]:
        """Residual r_{t-1} (1, 3, H, W) float32 → bits b_t (1, C, H/16, W/16) float32 in ±1, new state."""

    def decode_step(self, bits: np.ndarray, t: int, state: Any = None) -> tuple[np.ndarray, Any]:
        """Bits b_t (1, C, h, w) float32 in ±1 → Dec_t(b_t) (1, 3, 16h, 16w) float32, new state."""
