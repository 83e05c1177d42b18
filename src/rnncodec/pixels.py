"""Pixels between images, uint8 (..., H, W, 3), and the network's float32 arrays (..., 3, H, W) in [-0.5, 0.5]."""

from __future__ import annotations

import numpy as np


def to_network(images: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W, 3) → float32 (..., 3, H, W) in [-0.5, 0.5] (a view with the channels innermost in memory)."""
    x = images.astype(np.float32) / np.float32(255) - np.float32(0.5)
    return np.moveaxis(x, -1, -3)


def image_to_network(rgb: np.ndarray) -> np.ndarray:
    """One image, uint8 (H, W, 3) → what an engine takes: float32 (1, 3, H, W), contiguous."""
    return np.ascontiguousarray(to_network(rgb)[None])


def to_image(x: np.ndarray) -> np.ndarray:
    """float (..., 3, H, W), nominally in [-0.5, 0.5] → uint8 (..., H, W, 3): clamped, rounded."""
    pixels = np.round((np.clip(x, -0.5, 0.5) + np.float32(0.5)) * np.float32(255))
    return np.moveaxis(np.clip(pixels, 0, 255).astype(np.uint8), -3, -1)
