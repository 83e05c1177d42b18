"""The network's steps on ONNX Runtime (the engine contract: :mod:`rnncodec.engines.protocol`):
encoding and decoding without PyTorch.

The step graphs come from :mod:`rnncodec.export` and hold no weights: their parameters are bound
at load from the weights file, so the weights are stored once.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from ..config import ModelConfig
from .. import files
from ..graphs import GRAPH_FORMAT, GRAPHS, SEARCH_GRAPHS, graph_paths, side_of, step_parameters, step_signature
from ..weights import read_parameters
from .threads import EngineError, default_threads


class OnnxEngine:
    """The encoder and decoder steps of one network weights file as ONNX Runtime sessions.

    The decoder's sessions start with the engine (every use decodes, encoding included), the
    encoder's at its first step: a process that only decodes never builds them. The bit search's
    graphs (SEARCH_GRAPHS) are read from beside ``path``, the weights file, at their first use."""

    def __init__(self, cfg: ModelConfig, graphs: dict[str, bytes], params: dict[str, np.ndarray], threads: int | None = None,
                 path: Path | None = None):
        self.cfg = cfg
        self.sessions = {}
        self._params = params
        self._unstarted = {graph: (graphs[graph], self._parameters_of(graph)) for graph in GRAPHS}
        self._threads = threads or default_threads()
        self._starting = threading.Lock()  # one engine may serve several threads
        self._path = path
        self.signatures = {graph: step_signature(cfg, graph) for graph in GRAPHS + SEARCH_GRAPHS}
        self.start("decoder")

    def _parameters_of(self, graph: str) -> dict[str, np.ndarray]:
        return {n: self._params[n] for n in step_parameters(self._params, graph)}

    def start(self, side: str) -> None:
        """Start the side's ("encoder", "decoder", or a search graph's side such as "decoder-gradient")
        sessions that have not started (EngineError if one does not load), both before either runs,
        so their parameters take the memory before any step's arrays. Its first step does this, if it
        has not been done."""
        with self._starting:
            if f"{side}-first" in SEARCH_GRAPHS and f"{side}-first" not in self._unstarted | self.sessions:
                if self._path is None:
                    raise EngineError("the bit search needs the network's weights file to find its graphs")
                try:
                    graphs = load_graphs(self._path, self.cfg, SEARCH_GRAPHS)
                except EngineError as e:
                    raise EngineError(f"{e}; or encode without the bit search (--effort 0)") from None
                self._unstarted |= {graph: (graphs[graph], self._parameters_of(graph)) for graph in SEARCH_GRAPHS}
            for graph in [g for g in self._unstarted if side_of(g)[0] == side]:
                data, params = self._unstarted[graph]
                try:
                    session = bound_session(data, params, self._threads)
                except Exception as e:  # ONNX Runtime raises its own classes for a bad graph or missing parameters
                    raise EngineError(f"the {graph} graph does not load with these weights: {e}") from None
                check_config(session, self.cfg, graph)
                self.sessions[graph] = session
                del self._unstarted[graph]

    @classmethod
    def load(cls, weights: Path, threads: int | None = None) -> "OnnxEngine":
        """The engine of a network weights file, with its graphs from beside it (or exported now, where PyTorch is installed)."""
        cfg, params = read_parameters(weights)
        return cls(cfg, load_graphs(weights, cfg), params, threads, weights)

    def state_shapes(self, side: str, height: int, width: int) -> list[tuple[int, ...]]:
        """The shapes of a side's state tensors (h, c of each cell) for an image of height × width."""
        return [(1, c, height // s, width // s) for _, c, s in self.signatures[side][0][1:]]

    def _run(self, side: str, tensors: list[np.ndarray], t: int, state) -> list[np.ndarray]:
        graph = side if state is not None else f"{side}-first"
        if graph not in self.sessions:
            self.start(side)
        names = [name for name, _, _ in self.signatures[graph][0]]
        feeds = dict(zip(names, [*tensors, *(state or [])])) | {"t": np.array(t, np.int64)}
        return self.sessions[graph].run(None, feeds)

    def _step(self, side: str, tensor: np.ndarray, t: int, state):
        out, *new_state = self._run(side, [tensor], t, state)
        return out, new_state

    def encode_step(self, residual: np.ndarray, t: int, state=None):
        """Residual r_{t-1} (1, 3, H, W) float32 → bits b_t (1, C, H/16, W/16) float32 in ±1, new state."""
        return self._step("encoder", residual, t, state)

    def decode_step(self, bits: np.ndarray, t: int, state=None):
        """Bits b_t (1, C, h, w) in ±1 → Dec_t(b_t) (1, 3, 16h, 16w) float32, new state."""
        return self._step("decoder", bits, t, state)

    def encoder_activations(self, residual: np.ndarray, t: int, state=None):
        """As :meth:`encode_step`, the binarizer's pre-activations (whose sign is the bits) in place of the bits."""
        return self._step("encoder-activations", residual, t, state)

    def decode_with_gradient(self, bits: np.ndarray, t: int, state, target: np.ndarray):
        """As :meth:`decode_step`, and the gradient with respect to ``bits`` of the mean squared error
        of Dec_t(bits) against ``target`` (1, 3, H, W): (delta, gradient, new state)."""
        delta, gradient, *new_state = self._run("decoder-gradient", [bits, target], t, state)
        return delta, gradient, new_state


def bound_session(graph: bytes, params: dict[str, np.ndarray], threads: int):
    """An ONNX Runtime session of a weight-free graph with ``params`` bound to its initializers of
    those names (:func:`session_options`); ONNX Runtime's own error if they do not fit."""
    import onnxruntime as ort

    options = session_options(ort, threads)
    names = list(params)
    options.add_external_initializers(names, [ort.OrtValue.ortvalue_from_numpy(params[n]) for n in names])
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def session_options(ort, threads: int):
    """One network call on ``threads`` threads that sleep when idle instead of spinning (on a
    busy machine spinning threads take the cores the others need), its memory from the arena
    every session shares (an arena per session would hold every session's peak at once)."""
    share_one_arena(ort)
    options = ort.SessionOptions()
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.intra_op_num_threads = threads
    options.enable_mem_pattern = False  # a planned block per tile shape would stay in the arena beside the others
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    return options


_arena_shared = False


def share_one_arena(ort) -> None:
    """Register, once per process, the CPU memory arena the sessions share."""
    global _arena_shared
    if not _arena_shared:
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(memory, ort.OrtArenaCfg(0, -1, -1, -1))  # ORT's default arena settings
        _arena_shared = True


def check_config(session, cfg: ModelConfig, graph: str) -> None:
    """Refuse a graph made for another format or model config than the weights'."""
    props = session.get_modelmeta().custom_metadata_map
    if props.get("format") != GRAPH_FORMAT:
        raise EngineError(f"the {graph} graph is not an rnncodec step graph of format {GRAPH_FORMAT}")
    if ModelConfig.from_dict(json.loads(props["config"])) != cfg:
        raise EngineError(f"the {graph} graph is for another model config than the weights")


def load_graphs(weights: Path, cfg: ModelConfig, graphs: tuple[str, ...] = GRAPHS) -> dict[str, bytes]:
    """The step graphs (or ``graphs``) of a network weights file: the files beside it if there are,
    else exported from the PyTorch network."""
    paths = graph_paths(Path(weights), graphs)
    if all(p.is_file() for p in paths.values()):
        return {side: files.read_bytes(path) for side, path in paths.items()}
    try:
        from ..export import export_graphs
    except ImportError:
        raise EngineError(f"{weights}: no ONNX graphs beside it ({next(iter(paths.values())).name} …); make them where PyTorch is "
                         "installed (pip install 'rnncodec[train]'): python -m rnncodec.export WEIGHTS") from None
    return export_graphs(cfg, graphs)
