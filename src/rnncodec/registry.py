"""The models this release carries: model id (the 8 bytes an .rgc header records) → shipped weights.

``models/registry.json`` lists every weights file shipped from the step-15500 weights on, so that a
file made with any of them decodes with every later release; its ``default`` is the one that encodes. A model's id is
whatever the registry says: when shipped it is the first 8 bytes of the weights file's SHA-256,
and weights stored again later (float16, say) keep the id that files already carry.
Reading the registry needs neither PyTorch nor the weights themselves.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UnknownModelError, WeightsError
from . import files
from .files import atomic_write
from .limits import MODEL_ID_BYTES

REGISTRY_NAME = "registry.json"


@dataclass(frozen=True)
class ShippedModel:
    id: bytes
    file: str  # weights file name, in the registry's folder
    sha256: str  # of the weights file as it is stored now
    description: str
    path: Path
    default: bool = False  # the model that encodes


@dataclass(frozen=True)
class Registry:
    folder: Path
    models: dict[bytes, ShippedModel]
    default_id: bytes

    @property
    def default(self) -> ShippedModel:
        return self.models[self.default_id]

    def find(self, model_id: bytes) -> ShippedModel:
        """The shipped model with this id, or UnknownModelError naming the id."""
        if model_id not in self.models:
            raise UnknownModelError(model_id)
        return self.models[model_id]

    def id_of(self, path: str | Path) -> bytes:
        """The id files made with the weights at ``path`` carry: a shipped model's id when the file is
        one of them, else the first 8 bytes of the file's SHA-256."""
        return self.id_for_digest(file_sha256(path))

    def id_for_digest(self, digest: str) -> bytes:
        """The id files made with the weights file of this SHA-256 carry (see :meth:`id_of`)."""
        for model in self.models.values():
            if model.sha256 == digest:
                return model.id
        return bytes.fromhex(digest)[:MODEL_ID_BYTES]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise WeightsError(f"cannot read weights {path}: {e.strerror or e}") from None
    return digest.hexdigest()


def models_folder() -> Path:
    """The registry's folder: installed with the package, or, in a source checkout, the repository's models/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent.parent / "models"):
        if (candidate / REGISTRY_NAME).is_file():
            return candidate
    raise WeightsError(f"no shipped models found (looked for {REGISTRY_NAME} in the package and in models/)")


def parse_registry(folder: Path, text: str) -> Registry:
    try:
        raw = json.loads(text)
        models = {
            bytes.fromhex(key): ShippedModel(bytes.fromhex(key), entry["file"], entry["sha256"], entry.get("description", ""),
                                             folder / entry["file"], key == raw["default"])
            for key, entry in raw["models"].items()
        }
        default = bytes.fromhex(raw["default"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise WeightsError(f"{folder / REGISTRY_NAME}: not a valid model registry ({type(e).__name__}: {e})") from None
    if default not in models or any(len(key) != MODEL_ID_BYTES for key in models):
        raise WeightsError(f"{folder / REGISTRY_NAME}: ids must be {MODEL_ID_BYTES} bytes and the default one of them")
    return Registry(folder, models, default)


@functools.cache
def load(folder: Path | None = None) -> Registry:
    """The registry in ``folder`` (default: the one shipped with the package)."""
    folder = folder or models_folder()
    try:
        text = files.read_bytes(folder / REGISTRY_NAME).decode()
    except OSError as e:
        raise WeightsError(f"cannot read {folder / REGISTRY_NAME}: {e.strerror or e}") from None
    return parse_registry(folder, text)


def add(weights: str | Path, description: str, make_default: bool = True) -> ShippedModel:
    """Register a weights file that lies beside a registry.json, under the id of its current bytes."""
    weights = Path(weights).resolve()
    registry = load.__wrapped__(weights.parent)
    digest = file_sha256(weights)
    model_id = bytes.fromhex(digest)[:MODEL_ID_BYTES]
    if model_id in registry.models and registry.models[model_id].file != weights.name:
        raise WeightsError(f"model id {model_id.hex()} is already registered for {registry.models[model_id].file}")
    raw = json.loads((weights.parent / REGISTRY_NAME).read_text())
    raw["models"][model_id.hex()] = {"file": weights.name, "sha256": digest, "description": description}
    if make_default:
        raw["default"] = model_id.hex()
    atomic_write(weights.parent / REGISTRY_NAME, lambda tmp: Path(tmp).write_text(json.dumps(raw, indent=2) + "\n"))
    load.cache_clear()
    return ShippedModel(model_id, weights.name, digest, description, weights, make_default)
