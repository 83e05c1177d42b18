"""The errors rnncodec raises: one base class, so a caller (and the CLI) can catch them all.

A wrong argument (a type or value the function does not take) is a programming error, not a
refusal: it raises TypeError or ValueError, never an RnncodecError."""

from __future__ import annotations


class RnncodecError(ValueError):
    """Anything rnncodec refuses: a bad file, a bad image, missing or mismatched weights."""


class FormatError(RnncodecError):
    """The data is not a valid .rgc file (or not one this version can read)."""


class DamageError(FormatError):
    """A file whose chunks are damaged from some iteration on; ``intact`` iterations before it are fine."""

    def __init__(self, message: str, intact: int):
        super().__init__(message)
        self.intact = intact


class UnknownModelError(FormatError):
    """A valid file made by a model this release does not carry."""

    def __init__(self, model_id: bytes):
        super().__init__(f"made by model {model_id.hex()}, which this release does not carry "
                         "(`rnncodec models` lists those it does; --model picks a weights file)")
        self.model_id = model_id


class ImageError(RnncodecError):
    """The input is not an image rnncodec can encode (or the output cannot be written in a format)."""


class UnreadableFileError(OSError, RnncodecError):
    """A path given as an image or an .rgc file that cannot be read (a folder, no permission …):
    also an OSError, with its ``errno`` and ``filename``."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class MissingFileError(FileNotFoundError, UnreadableFileError):
    """A path given as an image or an .rgc file that does not exist: also a FileNotFoundError."""


class TargetError(RnncodecError):
    """A size or bpp budget that even the first iteration does not fit."""


class WeightsError(RnncodecError):
    """A weights file that is missing, unreadable or does not match the model."""


class RnncodecWarning(UserWarning):
    """A file decoded with fewer iterations than it declares (truncated, damaged after them); an input
    converted on the way in (16-bit to 8-bit, CMYK or palette to RGB) or with frames dropped; a PSNR
    target no iteration reaches; an ICC profile an output format cannot hold."""
