"""Wording shared by the library's messages and the command line."""

from __future__ import annotations


def count(number: int, noun: str) -> str:
    """'1 iteration', '3 iterations': a count with its noun in the right number."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
