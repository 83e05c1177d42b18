"""The ``rnncodec`` command line (click): one group, commands in their own modules."""

from .main import cli, main

__all__ = ["cli", "main"]
