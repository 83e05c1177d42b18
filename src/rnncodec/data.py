"""Training images: loading, the held-out validation split, and random crops."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .pixels import to_network

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}
VALIDATION_EVERY = 40  # one image in 40 (by a hash of its name) is held out for validation


def list_images(folder: str | Path) -> list[Path]:
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"no images found in {folder}")
    return paths


def is_validation(path: Path) -> bool:
    """Deterministic split by file name, so it does not move when images are added."""
    return zlib.crc32(path.name.encode()) % VALIDATION_EVERY == 0


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))  # (H, W, 3) uint8


class CropSampler:
    """Random square crops with random horizontal and vertical flips, from images held in memory."""

    def __init__(self, images: list[np.ndarray], crop: int, seed: int):
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        if not self.images:
            raise ValueError(f"no training image is at least {crop}×{crop}")
        self.crop = crop
        self.generator = torch.Generator().manual_seed(seed)

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def batch(self, size: int) -> torch.Tensor:
        crops = []
        for _ in range(size):
            im = self.images[self._randint(len(self.images))]
            y = self._randint(im.shape[0] - self.crop + 1)
            x = self._randint(im.shape[1] - self.crop + 1)
            c = im[y : y + self.crop, x : x + self.crop]
            if self._randint(2):
                c = c[:, ::-1]
            if self._randint(2):
                c = c[::-1]
            crops.append(c)
        return torch.from_numpy(to_network(np.stack(crops)))  # (B, 3, crop, crop)


def validation_crops(images: list[np.ndarray], size: int = 256) -> torch.Tensor | None:
    """The central size×size crop of each validation image (smaller ones are skipped; None if none is left)."""
    crops = []
    for im in images:
        h, w = im.shape[:2]
        if min(h, w) >= size:
            y, x = (h - size) // 2, (w - size) // 2
            crops.append(im[y : y + size, x : x + size])
    return torch.from_numpy(to_network(np.stack(crops))) if crops else None
