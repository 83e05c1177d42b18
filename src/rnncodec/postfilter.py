"""The decoder's post-filter: a small convolutional network a model may carry, run on every decoded
picture to take the block stage's edges and ringing out (it changes no bits, only the pictures).

A model's block stage file holds its parameters (``postfilter.*`` tensors, ``postfilter`` metadata:
channels and layers) and its ONNX graph lies beside it (``NAME.postfilter.onnx``, parameters bound
at load as the network's graphs are). The graph takes the picture (1, 3, H, W) as float32 values
0–255 and the picture's iteration count t, and gives the filtered picture, rounded (half to even)
and clamped to 0–255: the decoder only casts it to 8 bits. Its layers: a 3×3 convolution of the
picture and two maps of the pixels on a 16×16 block's edge (rows and columns 0 and 15 of each
block, counted from the picture's top left), a scale and shift by t, ReLU; L − 2 further 3×3
convolutions with ReLU; a 3×3 convolution to 3 channels added to the picture. The training and
export are in :mod:`rnncodec.postfilter_training`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import files
from .errors import WeightsError
from .limits import BLOCK

PREFIX = "postfilter."  # the filter's tensors in a block stage file
METADATA = "postfilter"  # its settings: {"channels": C, "layers": L}
GRAPH = "postfilter"
GRAPH_FORMAT = "rnncodec-postfilter-graph-1"
STRIP_PIXELS = 1 << 20  # pictures are filtered in strips of about this many pixels, to bound memory
HALO = BLOCK  # rows of context above and below a strip: ≥ the layers' reach, a multiple of 16 keeps the block grid


def graph_path(stage_file: Path) -> Path:
    """Where a block stage file's post-filter graph lies: beside it, ``NAME.postfilter.onnx``."""
    return stage_file.with_name(f"{stage_file.name.removesuffix('.safetensors')}.{GRAPH}.onnx")


def has_postfilter(metadata: dict) -> bool:
    return METADATA in metadata


def strips(height: int, width: int) -> list[tuple[int, int]]:
    """(start, stop) rows of the strips a height × width picture is filtered in: multiples of 16 rows."""
    rows = max(BLOCK, STRIP_PIXELS // max(width, 1) // BLOCK * BLOCK)
    return [(y, min(y + rows, height)) for y in range(0, height, rows)]


class PostFilter:
    """A model's post-filter on ONNX Runtime: :meth:`apply` filters one decoded picture."""

    def __init__(self, graph: bytes, params: dict[str, np.ndarray], threads: int | None = None):
        from .engines.onnx import bound_session
        from .engines.threads import default_threads

        self.session = bound_session(graph, params, threads or default_threads())
        if self.session.get_modelmeta().custom_metadata_map.get("format") != GRAPH_FORMAT:
            raise ValueError(f"it is not an rnncodec post-filter graph of format {GRAPH_FORMAT}")

    @classmethod
    def of_stage_file(cls, path: Path, metadata: dict, tensors: dict[str, np.ndarray]) -> "PostFilter | None":
        """The post-filter a block stage file holds, or None; WeightsError if it is malformed or its graph is missing."""
        if not has_postfilter(metadata):
            return None
        params = {name: np.ascontiguousarray(t, np.float32) for name, t in tensors.items() if name.startswith(PREFIX)}
        if not params or not all(np.isfinite(p).all() for p in params.values()):
            raise WeightsError(f"{path}: bad post-filter: its parameters are missing or not finite")
        graph = graph_path(Path(path))
        try:
            data = files.read_bytes(graph)
        except OSError as e:
            raise WeightsError(f"{path}: its post-filter graph {graph.name} cannot be read: {e.strerror or e}") from None
        try:
            return cls(data, params)
        except Exception as e:  # ONNX Runtime raises its own classes for a bad graph or missing parameters
            raise WeightsError(f"{path}: the post-filter graph {graph.name} does not load with its parameters: {e}") from None

    def apply(self, rgb: np.ndarray, t: int) -> np.ndarray:
        """A decoded picture uint8 (H, W, 3) after t iterations → the filtered picture, uint8 (H, W, 3)."""
        height, width = rgb.shape[:2]
        out = np.empty_like(rgb)
        for start, stop in strips(height, width):
            top, bottom = max(start - HALO, 0), min(stop + HALO, height)
            x = np.ascontiguousarray(rgb[top:bottom].transpose(2, 0, 1)[None], np.float32)
            y = self.session.run(None, {"image": x, "t": np.array(t, np.int64)})[0]
            out[start:stop] = y[0, :, start - top : stop - top].transpose(1, 2, 0).astype(np.uint8)
        return out
