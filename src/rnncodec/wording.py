"""Wording shared by the library's messages and the command line."""

from __future__ import annotations

TRAIN_EXTRA = "pip install 'rnncodec[train]'"  # what brings PyTorch and ONNX for training, evaluation and export
TRAIN_EXTRA_MODULES = ("torch", "onnx", "pytorch_msssim")  # the modules it adds


def needs_train_extra(what: str, error: ModuleNotFoundError) -> str | None:
    """'rnncodec train needs torch, which is not installed: pip install …' when the missing module is one
    the train extra adds; else None."""
    module = (error.name or "").split(".")[0]
    if module not in TRAIN_EXTRA_MODULES:
        return None
    return f"{what} needs {module}, which is not installed: {TRAIN_EXTRA}"


def count(number: int, noun: str) -> str:
    """'1 iteration', '3 iterations': a count with its noun in the right number."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
