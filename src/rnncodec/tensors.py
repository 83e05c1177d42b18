"""Images between uint8 arrays (H, W, 3) and the network's float tensors (3, H, W) in [-0.5, 0.5]."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) → float (..., 3, H, W) in [-0.5, 0.5]."""
    t = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255).sub_(0.5)
    return t.movedim(-1, -3)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W), nominally in [-0.5, 0.5] → uint8 (..., H, W, 3), rounded and clipped."""
    return x.float().add(0.5).mul(255).round().clamp(0, 255).movedim(-3, -1).to(torch.uint8).cpu().numpy()
