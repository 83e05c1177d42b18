"""A model as one value: the network (on an engine), its optional block stage, the entropy coder's
tables, and the id the files it makes carry; :func:`load_model` loads one by id or weights file.

The model runs one tile's iterations: the network's first (all of them without a stage), then the
stage's, block by block (:mod:`rnncodec.block_stage`). Callers never need to know which runs when.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import registry
from .block_stage import BlockStage
from .config import ModelConfig
from .engines import Engine, as_engine, start_engine
from .entropy import CoderTables
from .errors import WeightsError
from .limits import MODEL_ID_BYTES
from .postfilter import PostFilter
from .weights import network_file_of, parameters_of, read_weights_file, stage_of, tables_of

MODEL_ID = re.compile(f"[0-9a-fA-F]{{{2 * MODEL_ID_BYTES}}}")  # a model id as text: its bytes in hex


@dataclass(frozen=True)
class Model:
    """What encodes and decodes: a network, optionally a block stage after its first iterations and a
    post-filter of the decoded pictures, coder tables, an id."""

    id: bytes  # the 8 bytes an .rgc header records
    network: Engine
    stage: BlockStage | None = None
    tables: CoderTables | None = None  # the entropy coder's fitted tables (None: uniform)
    path: Path | None = None  # the weights file it was loaded from: network weights or a block stage file
    network_path: Path | None = None  # the network weights file
    postfilter: PostFilter | None = None  # run on every decoded picture (:mod:`rnncodec.postfilter`)

    def __post_init__(self):
        if self.stage is not None:
            self.stage.check_fits(self.config)

    @classmethod
    def of(cls, network, stage: BlockStage | None = None, tables: CoderTables | None = None,
           id: bytes = bytes(MODEL_ID_BYTES)) -> "Model":
        """A model in memory: ``network`` an engine or a PyTorch Network (run as one)."""
        return cls(id, as_engine(network), stage, tables)

    @property
    def config(self) -> ModelConfig:
        return self.network.cfg

    @property
    def network_iterations(self) -> int:
        """The iterations the network codes: all of them, or those before the stage."""
        return self.config.max_iterations if self.stage is None else self.stage.after

    def encode_bits(self, x: np.ndarray, iterations: int) -> Iterator[np.ndarray]:
        """Yield the bits b_t (1, C, h, w) in ±1 of an image (1, 3, H, W) for t = 1..iterations, without
        the decoder step after the last, which nothing uses."""
        network, stage, gamma, after = self.network, self.stage, self.config.gamma, self.network_iterations
        recon = np.zeros_like(x)
        encoder = decoder = stage_state = None
        for t in range(1, iterations + 1):
            if t > after:
                bits, increment, stage_state = stage.encode(x - recon, t, stage_state)
                yield bits
                recon = increment + gamma * recon
                continue
            bits, encoder = network.encode_step(x - recon, t, encoder)
            yield bits
            if t < iterations:
                delta, decoder = network.decode_step(bits, t, decoder)
                recon = delta + gamma * recon
                if t == after:
                    stage_state = stage.start(delta)

    def finish(self, rgb: np.ndarray, t: int) -> np.ndarray:
        """A decoded picture uint8 (H, W, 3) after t iterations as the model delivers it: post-filtered, if it has a filter."""
        return rgb if self.postfilter is None else self.postfilter.apply(rgb, t)

    def reconstructions(self, codes: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield x̂_t and the increment that step added, both (1, 3, H, W), for each iteration's codes
        of one tile, (T, C, h, w) 0/1."""
        network, stage, gamma, after = self.network, self.stage, self.config.gamma, self.network_iterations
        recon = decoder = stage_state = None
        for t, code in enumerate(codes, start=1):
            bits = code[None].astype(np.float32) * 2 - 1
            if t <= after:
                delta, decoder = network.decode_step(bits, t, decoder)
            else:
                if t == after + 1:
                    stage_state = stage.start(delta)
                delta, stage_state = stage.decode(bits, t, stage_state)
            recon = delta if recon is None else delta + gamma * recon
            yield recon, delta


def load_model(model: str | bytes | os.PathLike | None = None, *, engine: str | None = None,
               model_id: bytes | None = None) -> Model:
    """A model: a shipped one by id (8 bytes, or their 16 hex digits), or a weights file (network
    weights, or a block stage file with the network it names); default: the shipped default.

    ``engine``: "onnx" or "torch" (see :func:`rnncodec.engines.engine_name`); ``model_id``: the id
    its files carry, if not the registry's. Each file is read once."""
    path, known_id = locate(model)
    file = read_weights_file(path)
    network_file = network_file_of(file) if file.is_block_stage else file
    cfg, params = parameters_of(network_file)
    stage = stage_of(file) if file.is_block_stage else None
    tables = tables_of(file, cfg.code_channels)
    model_id = model_id or known_id or registry.load().id_for_digest(file.sha256)
    postfilter = PostFilter.of_stage_file(path, file.metadata, file.tensors) if file.is_block_stage else None
    network = start_engine(network_file.path, cfg, params, engine)
    try:
        return Model(model_id, network, stage, tables, path, network_file.path, postfilter)  # it checks that the stage fits
    except ValueError as e:
        raise WeightsError(f"{path}: {e}") from None

def locate(model: str | bytes | os.PathLike | None) -> tuple[Path, bytes | None]:
    """A model's weights file and, for a shipped model, its id."""
    if model is None:
        shipped = registry.load().default
    elif isinstance(model, bytes):
        shipped = registry.load().find(model)
    elif isinstance(model, str) and MODEL_ID.fullmatch(model) and not os.path.exists(model):
        shipped = registry.load().find(bytes.fromhex(model))
    else:
        return Path(model), None
    return shipped.path, shipped.id
