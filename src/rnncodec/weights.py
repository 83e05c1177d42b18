"""Shipped weights: safetensors files (no pickle) that carry the model config and training facts.

A network weights file holds the network's parameters (and may hold coder tables); a block stage
file (:func:`save_block_stage`) holds a block stage (:mod:`rnncodec.block_stage`) and the coder
tables for a network weights file beside it, which it names. :func:`read_weights_file` reads a
file once; the functions on a :class:`WeightsFile` take its parts apart. Reading needs numpy only;
building the PyTorch network (:func:`load_network`) and writing need torch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError, safe_open

from . import files, registry
from .block_stage import BlockStage
from .config import ModelConfig
from .entropy import CoderTables
from .errors import WeightsError
from .files import atomic_write
from .layered import ternary_contexts
from .limits import BLOCK

FORMAT_TAG = "rnncodec-weights-1"
STAGE_TAG = "rnncodec-block-stage-1"  # a block stage file
TABLES = ("coder.partners", "coder.prior")  # the entropy coder's fitted tables, when the file has them
STAGE_PRIOR = "coder.stage_prior"  # entropy coder 4's prior, in a ternary block stage's file
STAGE = ("block_stage.basis", "block_stage.alpha")
STAGE_STORAGE = {"float32": np.float32, "float16": np.float16}  # how a block stage file may store its stage
STORAGE = ("float32", "float16")  # how a file may store the parameters


def default_weights_path() -> Path:
    """The shipped weights that encode (the model registry's default)."""
    return registry.load().default.path


def default_network_path() -> Path:
    """The default model's network weights (what training warm-starts from and graphs are made for)."""
    return network_of(default_weights_path())


def network_of(path: str | Path) -> Path:
    """A model file's network weights: the network a block stage file extends, else the file itself."""
    return network_weights(path) if is_block_stage(path) else Path(path)


def save_weights(model, path: str | Path, tables: CoderTables | None = None, storage: str = "float32",
                 **facts) -> None:
    """Write the network's parameters with its config and training facts (step, seconds, …) as metadata.

    ``tables``: the entropy coder's tables fitted for these weights (see ``rnncodec fit-coder``).
    ``storage``: "float16" halves the file (the model card's float16 check measures what it costs);
    loading always gives float32 parameters. The coder tables are integers and stay as they are.
    """
    import torch
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in stored(model.state_dict(), storage).items()}
    tensors.update({k: torch.from_numpy(v) for k, v in table_tensors(tables).items()})
    metadata = {"format": FORMAT_TAG, "config": json.dumps(model.cfg.to_dict())}
    metadata.update({k: json.dumps(v) for k, v in facts.items()})
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata=metadata))


def table_tensors(tables: CoderTables | None) -> dict[str, np.ndarray]:
    """The coder tables as a file stores them (none without tables)."""
    if tables is None:
        return {}
    tables.check()
    tensors = {TABLES[0]: np.asarray(tables.partners, np.int16), TABLES[1]: np.asarray(tables.prior, np.uint8)}
    if tables.stage_prior is not None:
        tensors[STAGE_PRIOR] = np.asarray(tables.stage_prior, np.uint8)
    return tensors


def save_block_stage(path: str | Path, network: str | Path, stage: BlockStage, tables: CoderTables | None = None,
                     storage: str = "float32", **facts) -> None:
    """Write a block stage file: ``stage`` for the network weights file ``network``, its basis and
    magnitudes stored as ``storage`` (float32 or float16), and the coder tables fitted to the codes
    they make together. The file names its network and records that file's SHA-256, so it
    must lie beside it and the network may not change."""
    from safetensors.numpy import save_file

    path, network = Path(path), Path(network)
    if path.resolve().parent != network.resolve().parent:
        raise ValueError(f"{path}: a block stage file must lie beside its network weights ({network})")
    dtype = STAGE_STORAGE[storage]
    tensors = {STAGE[0]: np.ascontiguousarray(stage.basis, dtype), STAGE[1]: np.ascontiguousarray(stage.alpha, dtype)}
    tensors.update(table_tensors(tables))
    settings = {"after": stage.after, "step": stage.step, "exponent": stage.exponent, "center": stage.center}
    if stage.ternary:
        settings.update(dead_zone=stage.dead_zone, rate_weight=stage.rate_weight)
    metadata = {"format": STAGE_TAG, "config": json.dumps(read_config(network).to_dict()), "block_stage": json.dumps(settings),
                "network": json.dumps({"file": network.name, "sha256": registry.file_sha256(network)})}
    metadata.update({k: json.dumps(v) for k, v in facts.items()})
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def is_block_stage(path: str | Path) -> bool:
    """Whether a weights file is a block stage file."""
    try:
        return read_metadata(path).get("format") == STAGE_TAG
    except READ_ERRORS as e:
        raise WeightsError(f"cannot read weights {path}: {e}") from None


def network_weights(path: str | Path) -> Path:
    """The network weights file a block stage file extends: beside it, unchanged since the stage was made."""
    try:
        named = read_metadata(path)["network"]
    except READ_ERRORS as e:
        raise WeightsError(f"{path}: bad block stage file: {e}") from None
    network = named_network(path, named)
    check_network_digest(path, network, named, registry.file_sha256(network))
    return network


def named_network(path: str | Path, named) -> Path:
    """The network weights file that a block stage file's ``network`` entry names: beside it."""
    try:
        return Path(path).with_name(Path(named["file"]).name)
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"{path}: bad block stage file: {e}") from None


def check_network_digest(path: str | Path, network: Path, named, digest: str) -> None:
    """Refuse a network weights file whose SHA-256 is not the one the block stage file ``path`` names."""
    if digest != named.get("sha256"):
        raise WeightsError(f"{path}: its network weights {network.name} are not the file the stage was made for")


@dataclass(frozen=True)
class WeightsFile:
    """A weights file as read once: its SHA-256, metadata (format as text, the rest decoded) and tensors."""

    path: Path
    sha256: str
    metadata: dict
    tensors: dict[str, np.ndarray]

    @property
    def is_block_stage(self) -> bool:
        return self.metadata.get("format") == STAGE_TAG


def read_weights_file(path: str | Path, check: Callable[[str], None] | None = None) -> WeightsFile:
    """Read a weights file, opening it once; ``check`` is given its SHA-256 before its contents are read."""
    try:
        data = files.read_bytes(path)
    except OSError as e:
        raise WeightsError(f"cannot read weights {path}: {e.strerror or e}") from None
    digest = hashlib.sha256(data).hexdigest()
    if check is not None:
        check(digest)
    try:
        size = int.from_bytes(data[:8], "little")
        stored_metadata = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
        metadata = {k: v if k == "format" else json.loads(v) for k, v in stored_metadata.items()}
        tensors = safetensors.numpy.load(data)
    except (*READ_ERRORS, AttributeError) as e:
        raise WeightsError(f"cannot read weights {path}: {e}") from None
    return WeightsFile(Path(path), digest, metadata, tensors)


def config_of(file: WeightsFile) -> ModelConfig:
    """The model config a weights file records (a block stage file: its network's)."""
    return config_in(file.path, file.metadata)


def config_in(path: str | Path, metadata: dict) -> ModelConfig:
    """The model config in a weights file's metadata (a block stage file: its network's)."""
    if metadata.get("format") not in (FORMAT_TAG, STAGE_TAG):
        raise WeightsError(f"{path}: not an rnncodec weights file")
    try:
        return ModelConfig.from_dict(metadata["config"])
    except READ_ERRORS as e:
        raise WeightsError(f"cannot read weights {path}: {e}") from None


def refuse_block_stage(path: str | Path, metadata: dict) -> None:
    """Refuse a block stage file where network weights are needed, naming the network it extends."""
    if metadata.get("format") == STAGE_TAG:
        network = named_network(path, metadata.get("network"))
        raise WeightsError(f"{path} is a block stage file; give the network weights it extends: {network}")


def parameters_of(file: WeightsFile, expect: ModelConfig | None = None) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """The config of a network weights file and its parameters as float32 arrays.

    ``expect``: refuse a file whose config differs from this one."""
    refuse_block_stage(file.path, file.metadata)
    cfg = config_of(file)
    if expect is not None and cfg != expect:
        raise WeightsError(f"{file.path}: weights are for config {cfg}, expected {expect}")
    params = {name: value.astype(np.float32, copy=False) if value.dtype.kind == "f" else value
              for name, value in file.tensors.items() if name not in (*TABLES, STAGE_PRIOR)}
    return cfg, params


def network_file_of(stage_file: WeightsFile) -> WeightsFile:
    """The network weights file a block stage file extends, read: beside it, unchanged since the stage was made."""
    named = stage_file.metadata.get("network")
    network = named_network(stage_file.path, named)
    return read_weights_file(network, lambda digest: check_network_digest(stage_file.path, network, named, digest))


def stage_of(file: WeightsFile) -> BlockStage:
    """The block stage a block stage file holds (its shapes and settings checked)."""
    try:
        settings = file.metadata["block_stage"]
        basis, alpha = (file.tensors[name].astype(np.float32) for name in STAGE)
        stage = BlockStage(int(settings["after"]), float(settings["step"]), float(settings["exponent"]),
                           float(settings["center"]), basis, alpha, float(settings.get("dead_zone", 0)),
                           float(settings.get("rate_weight", 0)))
    except READ_ERRORS as e:
        raise WeightsError(f"{file.path}: bad block stage file: {e}") from None
    well_formed = (basis.ndim == 3 and basis.shape[1] == 3 * BLOCK * BLOCK and alpha.shape == (basis.shape[0], basis.shape[2])
                   and stage.after >= 1 and stage.step > 1 and np.isfinite([stage.exponent, stage.center]).all()
                   and 0 <= stage.dead_zone < 4 and 0 <= stage.rate_weight < 4
                   and np.isfinite(basis).all() and np.isfinite(alpha).all())
    if not well_formed:
        raise WeightsError(f"{file.path}: bad block stage file: its stage is malformed")
    return stage


def tables_of(file: WeightsFile, channels: int) -> CoderTables:
    """The entropy coder's tables stored in a weights file, or uniform ones if it has none."""
    stored = {name: file.tensors[name] for name in TABLES if name in file.tensors}
    if not stored:
        return CoderTables.uniform(channels)
    try:
        partners, prior = (stored[name].astype(np.int64) for name in TABLES)
        stage_prior = file.tensors[STAGE_PRIOR].astype(np.int64) if STAGE_PRIOR in file.tensors else None
        tables = CoderTables(partners, prior, stage_prior).check()
    except (KeyError, ValueError) as e:
        raise WeightsError(f"{file.path}: bad entropy coder tables: {e}") from None
    if tables.channels != channels:
        raise WeightsError(f"{file.path}: entropy coder tables are for {tables.channels} code channels, the model has {channels}")
    if tables.stage_prior is not None and tables.stage_prior.shape != (ternary_contexts(channels - 1), 2):
        raise WeightsError(f"{file.path}: bad entropy coder tables: the stage prior has {len(tables.stage_prior)} contexts, "
                           f"coder 4 has {ternary_contexts(channels - 1)}")
    return tables


def load_block_stage(path: str | Path) -> BlockStage:
    """The block stage a block stage file holds (see :func:`stage_of`)."""
    return stage_of(read_weights_file(path))


def load_coder_tables(path: str | Path, channels: int) -> CoderTables:
    """The entropy coder's tables stored in a weights file (see :func:`tables_of`)."""
    return tables_of(read_weights_file(path), channels)


def stored(tensors: dict, storage: str) -> dict:
    """The (torch) tensors as a file with ``storage`` holds them: floating-point ones converted, others as they are."""
    import torch

    dtype = getattr(torch, storage)
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}


def read_metadata(path: str | Path) -> dict:
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
    return {k: v if k == "format" else json.loads(v) for k, v in meta.items()}


def read_facts(path: str | Path) -> dict:
    """The facts a weights file records (step, training seconds, …): its metadata less format and config."""
    return {k: v for k, v in read_metadata(path).items() if k not in ("format", "config")}


READ_ERRORS = (OSError, SafetensorError, KeyError, TypeError, ValueError, json.JSONDecodeError)


def read_config(path: str | Path) -> ModelConfig:
    """The model config a weights file records (a block stage file: its network's)."""
    try:
        metadata = read_metadata(path)
    except READ_ERRORS as e:
        raise WeightsError(f"cannot read weights {path}: {e}") from None
    return config_in(path, metadata)


def read_parameters(path: str | Path | None = None, expect: ModelConfig | None = None) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """The config of a network weights file (default: the default model's) and its parameters as
    float32 arrays (numpy only); ``expect``: refuse a file whose config differs from this one."""
    return parameters_of(read_weights_file(default_network_path() if path is None else path), expect)


def network_from_parameters(cfg: ModelConfig, params: dict[str, np.ndarray], path: str | Path):
    """The PyTorch network (a Network, eval mode) with these parameters, read from ``path``."""
    import torch

    from .network import Network

    network = Network(cfg)
    try:
        network.load_state_dict({name: torch.from_numpy(value) for name, value in params.items()})
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise WeightsError(f"{path}: weights do not match their config: {first}") from None
    return network.eval()


def load_network(path: str | Path | None = None, expect: ModelConfig | None = None):
    """The PyTorch network (a Network, eval mode) of a network weights file (default: the default
    model's); ``expect``: refuse a file whose config differs from this one."""
    path = default_network_path() if path is None else path
    return network_from_parameters(*read_parameters(path, expect), path)


def convert_weights(source: str | Path, target: str | Path, storage: str) -> None:
    """Copy a weights file with its parameters stored as ``storage``; tables and facts unchanged."""
    file = read_weights_file(source)
    network = network_from_parameters(*parameters_of(file), source)
    tables = tables_of(file, network.cfg.code_channels) if TABLES[0] in file.tensors else None
    save_weights(network, target, tables, storage, **read_facts(source))
