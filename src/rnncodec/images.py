"""Turning input images (file bytes, Pillow images, numpy arrays) into the codec's Pictures, and
writing decoded ones."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from .bitstream import MAX_PIXELS, MAX_SIDE
from .errors import ImageError, RnncodecWarning


@dataclass
class Picture:
    """An image as the codec sees it: RGB planes (gray replicated) and an optional alpha plane."""

    rgb: np.ndarray  # (H, W, 3) uint8
    mode: str  # "RGB", "L", "RGBA" or "LA"
    alpha: np.ndarray | None = None  # (H, W) uint8 when mode has alpha

    def to_pil(self) -> Image.Image:
        if self.mode in ("L", "LA"):
            gray = np.round(self.rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
            planes = [gray] + ([self.alpha] if self.mode == "LA" else [])
        else:
            planes = [self.rgb[..., i] for i in range(3)] + ([self.alpha] if self.mode == "RGBA" else [])
        return Image.fromarray(np.stack(planes, axis=2) if len(planes) > 1 else planes[0], self.mode)


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer or float gray → 8-bit gray, with a warning."""
    warnings.warn(f"input is {im.mode} (more than 8 bits); converted to 8-bit", RnncodecWarning, stacklevel=2)
    a = np.asarray(im).astype(np.float64)
    top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
    return Image.fromarray(np.clip(np.round(a * 255.0 / top), 0, 255).astype(np.uint8), "L")


def read_picture(data: bytes) -> Picture:
    """Decode image bytes (any format Pillow reads) into a Picture, or raise ImageError."""
    try:
        im = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"not a readable image ({e})") from None
    return picture_from_pil(im)


def picture_from_array(array: np.ndarray) -> Picture:
    """A uint8 array (H, W) or (H, W, C) with C = 1 (gray), 2 (gray + alpha), 3 (RGB), 4 (RGBA)."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and not 1 <= array.shape[2] <= 4):
        raise ImageError(f"expected a uint8 array (H, W) or (H, W, 1–4), got {array.dtype} {array.shape}")
    return picture_from_pil(Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array))


def picture_from_pil(im: Image.Image) -> Picture:
    """A Pillow image as the codec sees it: its mode mapped to RGB, L, RGBA or LA, 8 bits."""
    try:
        w, h = im.size
        if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
            raise ImageError(f"image is {w}×{h}, larger than rnncodec's limits ({MAX_SIDE} per side, {MAX_PIXELS} pixels)")
        im.load()
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"not a readable image ({e})") from None
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        im = _to_8bit(im)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "PA":
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode == "La":
        im = im.convert("LA")
    elif im.mode == "RGBa":
        im = im.convert("RGBA")
    elif im.mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV …
    a = np.asarray(im)
    if im.mode in ("L", "LA"):
        gray = a if im.mode == "L" else a[..., 0]
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        rgb = a[..., :3]
    alpha = a[..., -1].copy() if im.mode in ("LA", "RGBA") else None
    return Picture(np.ascontiguousarray(rgb), im.mode, alpha)


def encode_output(im: Image.Image, format: str) -> bytes:
    """A decoded image as file bytes in a Pillow format (PNG, JPEG …)."""
    if format.upper() in ("JPEG", "JPG") and im.mode in ("RGBA", "LA"):
        raise ImageError(f"{format} cannot store the alpha channel; write PNG instead")
    buf = io.BytesIO()
    try:
        im.save(buf, format=format)
    except (OSError, ValueError, KeyError) as e:
        raise ImageError(f"cannot write {format}: {e}") from None
    return buf.getvalue()
