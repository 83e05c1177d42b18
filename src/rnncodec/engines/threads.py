"""How many threads one network call runs on, for either engine."""

from __future__ import annotations

import os

from ..errors import WeightsError

THREADS_VARIABLE = "RNNCODEC_THREADS"  # threads per network call; default: the cores this process may use


class EngineError(WeightsError):
    """The network cannot run: step graphs missing or made for another model, or a bad setting."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads() -> int:
    """Threads per network call: $RNNCODEC_THREADS, else every core this process may use (a call's
    convolutions split across threads with the same results as on one; tests/test_runtime.py)."""
    value = os.environ.get(THREADS_VARIABLE, str(available_cores()))
    if not value.isdigit() or int(value) < 1:
        raise EngineError(f"{THREADS_VARIABLE}={value}: the threads per network call must be a positive whole number, "
                          f"such as {THREADS_VARIABLE}=2")
    return int(value)
