"""The model registry: every shipped model's weights are present, unchanged and packaged, and a file
names the model that decodes it."""

import json
import shutil
from pathlib import Path

import pytest

from rnncodec import registry
from rnncodec.errors import UnknownModelError, WeightsError

ROOT = Path(__file__).resolve().parent.parent


def test_every_registered_weights_file_is_present_and_unchanged():
    shipped = registry.load()
    assert shipped.default_id in shipped.models
    for model in shipped.models.values():
        assert model.path.is_file(), model.file
        assert registry.file_sha256(model.path) == model.sha256, f"{model.file} changed: register it again, keeping its id"


def test_the_wheel_carries_the_registry_and_every_registered_weights_file_with_its_graphs():
    """… and every network's step graphs and bit search graphs (--effort without PyTorch)."""
    from rnncodec.graphs import GRAPHS, SEARCH_GRAPHS, graph_paths
    from rnncodec.postfilter import graph_path, has_postfilter
    from rnncodec.weights import is_block_stage, network_weights, read_metadata

    tomllib = pytest.importorskip("tomllib")
    included = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    models = registry.load().models.values()
    stages = [m.path for m in models if is_block_stage(m.path)]
    networks = {m.path for m in models if not is_block_stage(m.path)} | {network_weights(p) for p in stages}
    graphs = [path.name for network in networks for path in graph_paths(network, GRAPHS + SEARCH_GRAPHS).values()]
    filters = [graph_path(p).name for p in stages if has_postfilter(read_metadata(p))]
    for name in [registry.REGISTRY_NAME] + [m.file for m in models] + [n.name for n in networks] + graphs + filters:
        assert included.get(f"models/{name}") == f"rnncodec/models/{name}", f"pyproject.toml must force-include models/{name}"


def test_a_shipped_file_has_its_registered_id_and_any_other_its_hash(tiny_weights):
    default = registry.load().default
    assert registry.load().id_of(default.path) == default.id
    assert registry.load().id_of(tiny_weights) == bytes.fromhex(registry.file_sha256(tiny_weights))[:8]


def test_an_unknown_model_id_is_an_error_naming_it():
    with pytest.raises(UnknownModelError, match="made by model 0102030405060708, which this release does not carry"):
        registry.load().find(bytes(range(1, 9)))


def test_add_registers_weights_under_the_hash_of_their_bytes(tmp_path, tiny_weights):
    (tmp_path / registry.REGISTRY_NAME).write_text((ROOT / "models" / registry.REGISTRY_NAME).read_text())
    weights = tmp_path / "new.safetensors"
    shutil.copy(tiny_weights, weights)
    shipped = len(registry.load(tmp_path).models)
    model = registry.add(weights, "tiny test model")
    loaded = registry.load(tmp_path)
    assert loaded.default_id == model.id == bytes.fromhex(registry.file_sha256(weights))[:8]
    assert loaded.models[model.id].file == "new.safetensors" and len(loaded.models) == shipped + 1
    shutil.copy(weights, tmp_path / "copy.safetensors")
    with pytest.raises(WeightsError, match="already registered"):
        registry.add(tmp_path / "copy.safetensors", "the same bytes again")


@pytest.mark.parametrize("text", ["{}", "not json", json.dumps({"default": "00", "models": {}})])
def test_a_broken_registry_is_a_weights_error(tmp_path, text):
    with pytest.raises(WeightsError, match="registry"):
        registry.parse_registry(tmp_path, text)
