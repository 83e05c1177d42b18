"""The ``rnncodec`` command line (click): one group, commands in their own modules."""

import os

# numpy's small matrix products (the block stage) only lose from BLAS threads contending with
# ONNX Runtime's on a few cores: one thread, unless the environment says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .main import cli, main  # noqa: E402  (after the thread setting, before numpy loads)

__all__ = ["cli", "main"]
