"""The step graphs' contract, shared by their exporter (:mod:`rnncodec.export`) and their runtime
(:mod:`rnncodec.engines.onnx`): names, tensor inputs and outputs, the parameters each uses, and files."""

from __future__ import annotations

from pathlib import Path

from .config import ModelConfig
from .limits import BLOCK

GRAPH_FORMAT = "rnncodec-step-graph-1"
BOUND_AT_LOAD = "(weights file)"  # the external-data location of a graph's parameters: supplied at load
GRAPHS = ("encoder-first", "encoder", "decoder-first", "decoder")  # "-first": iteration 1, without state inputs
# the encoder's bit search (rnncodec.engines.search): the binarizer's pre-activations, and a decoder step
# with the gradient of its squared error against a target with respect to the bits
SEARCH_GRAPHS = ("encoder-activations-first", "encoder-activations", "decoder-gradient-first", "decoder-gradient")
ENCODER_SCALES = (4, 8, BLOCK)  # each encoder cell's state is at 1/scale of the image
DECODER_SCALES = (BLOCK, 8, 4, 2)


def side_of(graph: str) -> tuple[str, bool]:
    """A graph's name → (side, whether it is the first iteration's)."""
    return graph.removesuffix("-first"), graph.endswith("-first")


def step_signature(cfg: ModelConfig, graph: str) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """(name, channels, scale) of a step graph's tensor inputs (besides t) and of its outputs. The first
    iteration's graph has no state inputs: no hidden convolutions run on an all-zero state."""
    side, first = side_of(graph)
    if side.startswith("encoder"):
        tensor_in, tensor_out, cells = [("residual", 3, 1)], [("bits", cfg.code_channels, BLOCK)], zip(cfg.encoder_hidden, ENCODER_SCALES)
        if side == "encoder-activations":
            tensor_out = [("activations", cfg.code_channels, BLOCK)]
    else:
        tensor_in, tensor_out, cells = [("bits", cfg.code_channels, BLOCK)], [("delta", 3, 1)], zip(cfg.decoder_hidden, DECODER_SCALES)
        if side == "decoder-gradient":
            tensor_in.append(("target", 3, 1))
            tensor_out.append(("gradient", cfg.code_channels, BLOCK))
    state = [(f"{k}{i}", width, scale) for i, (width, scale) in enumerate(cells) for k in "hc"]
    return [*tensor_in, *([] if first else state)], [*tensor_out, *((f"new_{n}", w, s) for n, w, s in state)]


STEP_MODULES = {"encoder": ("log_gain", "encoder.", "binarizer."), "decoder": ("log_gain", "decoder.")}  # by side's network half


def step_parameters(params: dict, graph: str) -> list[str]:
    """The names of the parameters a step graph uses: those of the modules it runs, less the hidden
    convolutions in the first iteration's (export checks it)."""
    side, first = side_of(graph)
    modules = STEP_MODULES[side.partition("-")[0]]
    return [name for name in params if name.startswith(modules) and not (first and ".conv_hidden." in name)]


def graph_paths(weights: Path, graphs: tuple[str, ...] = GRAPHS) -> dict[str, Path]:
    """Where the step graphs (or ``graphs``) of a weights file live: next to it, ``NAME.encoder.onnx``, ``NAME.encoder-first.onnx`` …"""
    stem = weights.name.removesuffix(".safetensors")
    return {graph: weights.with_name(f"{stem}.{graph}.onnx") for graph in graphs}
