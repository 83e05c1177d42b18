"""Turning input images (file bytes, Pillow images, numpy arrays) into the codec's Pictures, and
writing decoded ones."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .limits import MAX_ICC, MAX_PIXELS, MAX_SIDE
from .errors import ImageError, RnncodecWarning

GRAY_DEPTHS = {"I;16": "16-bit", "I;16L": "16-bit", "I;16B": "16-bit", "I;16N": "16-bit", "I": "32-bit integer",
               "F": "32-bit floating-point"}  # gray modes of more than 8 bits, converted to 8-bit L
CODEC_MODES = ("L", "LA", "RGB", "RGBA")
KEEP_VALUES = {"1": "L", "La": "LA", "RGBa": "RGBA"}  # conversions that change no value: no warning
ICC_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "AVIF")  # output formats that hold an ICC profile
METADATA_FORMATS = ("PNG", "JPEG", "WEBP", "AVIF")  # output formats that hold EXIF and XMP
ORIENTATION = ExifTags.Base.Orientation


@dataclass
class Picture:
    """An image as the codec sees it: RGB planes (gray replicated), an optional alpha plane, the
    ICC profile its colours are in, if the input named one, and its EXIF and XMP metadata, if any
    (EXIF without an orientation: the pixels are upright)."""

    rgb: np.ndarray  # (H, W, 3) uint8
    mode: str  # "RGB", "L", "RGBA" or "LA"
    alpha: np.ndarray | None = None  # (H, W) uint8 when mode has alpha
    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None

    @property
    def metadata(self) -> dict[str, bytes]:
        """The EXIF and XMP bytes it has, by name."""
        return {name: value for name, value in (("exif", self.exif), ("xmp", self.xmp)) if value}

    @property
    def colour(self) -> np.ndarray:
        """The colour planes as the image holds them: (H, W) gray for L and LA, else (H, W, 3) RGB."""
        if self.mode in ("L", "LA"):
            return np.round(self.rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return self.rgb

    def to_pil(self) -> Image.Image:
        colour = self.colour
        planes = [colour] if colour.ndim == 2 else [colour[..., i] for i in range(3)]
        if self.mode in ("LA", "RGBA"):
            planes.append(self.alpha)
        im = Image.fromarray(np.stack(planes, axis=2) if len(planes) > 1 else planes[0], self.mode)
        if self.icc:
            im.info["icc_profile"] = self.icc
        im.info.update(self.metadata)
        return im


def _warn(message: str) -> None:
    warnings.warn(message, RnncodecWarning, stacklevel=3)


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer or float gray → 8-bit gray, with a warning."""
    _warn(f"input is {GRAY_DEPTHS[im.mode]} grayscale (Pillow mode {im.mode}); reduced to 8 bits per sample")
    a = np.asarray(im).astype(np.float64)
    top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
    return Image.fromarray(np.clip(np.round(a * 255.0 / top), 0, 255).astype(np.uint8), "L")


def read_picture(data: bytes) -> Picture:
    """Decode image bytes (any format Pillow reads) into a Picture, or raise ImageError."""
    if not data:
        raise ImageError("empty file")
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not an image file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"not a readable image ({e})") from None
    return picture_from_pil(im)


def picture_from_array(array: np.ndarray) -> Picture:
    """A uint8 array (H, W) or (H, W, C) with C = 1 (gray), 2 (gray + alpha), 3 (RGB), 4 (RGBA)."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and not 1 <= array.shape[2] <= 4):
        raise ImageError(f"expected a uint8 array (H, W) or (H, W, 1–4), got {array.dtype} {array.shape}")
    return picture_from_pil(Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array))


def picture_from_pil(im: Image.Image) -> Picture:
    """A Pillow image as the codec sees it: as it displays (EXIF orientation applied), its current
    frame, its mode mapped to RGB, L, RGBA or LA with 8 bits, its ICC profile kept. Each conversion
    that loses something (more than 8 bits, CMYK or palette to RGB, frames dropped) warns once."""
    try:
        w, h = im.size
        if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
            raise ImageError(f"image is {w}×{h}, larger than rnncodec's limits ({MAX_SIDE} per side, {MAX_PIXELS} pixels)")
        deep = _stores_16_bits(im)  # before load(), which forgets how the file stored the samples
        im.load()
        im = _upright(im)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"not a readable image ({e})") from None
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        _warn(f"input has {frames} frames; coded frame {im.tell() + 1} only")
    exif, xmp = _metadata(im)
    im, icc = _to_codec_mode(im, deep, _kept_profile(im))
    a = np.asarray(im)
    if im.mode in ("L", "LA"):
        gray = a if im.mode == "L" else a[..., 0]
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        rgb = a[..., :3]
    alpha = a[..., -1].copy() if im.mode in ("LA", "RGBA") else None
    return Picture(np.ascontiguousarray(rgb), im.mode, alpha, icc, exif, xmp)


def _metadata(im: Image.Image) -> tuple[bytes | None, bytes | None]:
    """The image's EXIF (without an orientation, as the pixels are upright) and XMP bytes, if any."""
    exif = im.getexif()
    if ORIENTATION in exif:
        del exif[ORIENTATION]
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    return (exif.tobytes() if len(exif) else None), (xmp.encode() if isinstance(xmp, str) else xmp) or None


def _stores_16_bits(im: Image.Image) -> bool:
    """Whether the file holds 16-bit samples that Pillow reads into an 8-bit mode (a 16-bit RGB PNG)."""
    if im.mode not in CODEC_MODES:
        return False
    for tile in getattr(im, "tile", None) or ():
        args = tile[3]
        rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else None
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _upright(im: Image.Image) -> Image.Image:
    """The image as it displays: turned by its EXIF orientation, if it has one."""
    return ImageOps.exif_transpose(im) if im.getexif().get(ORIENTATION, 1) != 1 else im


def _kept_profile(im: Image.Image) -> bytes | None:
    """The image's ICC profile, unless it is larger than a file may carry (then dropped, with a warning)."""
    icc = im.info.get("icc_profile") or None
    if icc is not None and len(icc) > MAX_ICC:
        _warn(f"its ICC profile ({len(icc)} bytes) is larger than the {MAX_ICC} bytes a file may carry; dropped")
        return None
    return icc


def _to_codec_mode(im: Image.Image, deep: bool, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """The image in one of the codec's modes, with one warning if that loses anything, and the ICC
    profile if it still applies (not one of another colour space, such as CMYK)."""
    if im.mode in GRAY_DEPTHS:
        return _to_8bit(im), icc
    if deep:
        _warn(f"input is 16-bit {im.mode}; reduced to 8 bits per sample")
    if im.mode in CODEC_MODES:
        return im, icc
    if im.mode in KEEP_VALUES:
        return im.convert(KEEP_VALUES[im.mode]), icc
    if im.mode in ("P", "PA"):
        target = "RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB"
        _warn(f"input is a palette image ({im.mode}); converted to {target}")
        return im.convert(target), icc
    _warn(f"input is {im.mode}; converted to RGB" + (" without its ICC profile" if icc else ""))
    return im.convert("RGB"), None


LOSSY_FORMATS = ("JPEG", "WEBP", "AVIF")  # output formats written at a quality (1–100)
DEFAULT_QUALITY = 95  # theirs when none is given (Pillow's own defaults, 75–80, lose visibly more)


def encode_output(im: Image.Image, format: str, quality: int | None = None) -> bytes:
    """A decoded image as file bytes in a Pillow format (PNG, JPEG …); a lossy format (LOSSY_FORMATS)
    at ``quality``, DEFAULT_QUALITY if None."""
    if format.upper() in ("JPEG", "JPG") and im.mode in ("RGBA", "LA"):
        raise ImageError(f"{format} cannot store the alpha channel; write PNG instead")
    options = {}
    if format.upper() in LOSSY_FORMATS:
        options["quality"] = DEFAULT_QUALITY if quality is None else quality
    elif quality is not None:
        raise ImageError(f"{format} is not written at a quality (only {', '.join(LOSSY_FORMATS)} are)")
    profile = im.info.get("icc_profile")
    if profile and format.upper() in ICC_FORMATS:
        options["icc_profile"] = profile
    elif profile:
        _warn(f"{format} cannot hold the image's ICC profile; written without it")
    metadata = {name: im.info[name] for name in ("exif", "xmp") if im.info.get(name)}
    if metadata and format.upper() in METADATA_FORMATS:
        options.update(metadata)
        if format.upper() == "PNG" and "xmp" in metadata:
            from PIL import PngImagePlugin

            options["pnginfo"] = PngImagePlugin.PngInfo()
            options["pnginfo"].add_itxt("XML:com.adobe.xmp", options.pop("xmp").decode("utf-8", "replace"))
    elif metadata:
        _warn(f"{format} cannot hold the image's {' and '.join(n.upper() for n in metadata)}; written without it")
    buf = io.BytesIO()
    try:
        im.save(buf, format=format, **options)
    except (OSError, ValueError, KeyError) as e:
        raise ImageError(f"cannot write {format}: {e}") from None
    return buf.getvalue()
