import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rnncodec.entropy import CoderTables
from rnncodec.network import ModelConfig, Network
from rnncodec.weights import WeightsError, load_coder_tables, load_network, read_metadata, save_weights


def test_save_and_load_round_trip_without_pickle(tmp_path, tiny_config, monkeypatch):
    model = Network(tiny_config)
    path = tmp_path / "w.safetensors"
    save_weights(model, path, step=7)
    # loading must never unpickle anything
    monkeypatch.setattr("pickle.loads", lambda *a, **k: pytest.fail("pickle used"))
    monkeypatch.setattr("torch.load", lambda *a, **k: pytest.fail("torch.load used"))
    loaded = load_network(path)
    assert read_metadata(path)["step"] == 7
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert not loaded.training


def test_config_mismatch_is_a_clear_error(tmp_path, tiny_config):
    path = tmp_path / "w.safetensors"
    save_weights(Network(tiny_config), path)
    with pytest.raises(WeightsError, match="expected"):
        load_network(path, expect=ModelConfig())


def test_tensors_not_matching_config_are_refused(tmp_path, tiny_config):
    state = {k: v.contiguous() for k, v in Network(tiny_config).state_dict().items()}
    path = tmp_path / "w.safetensors"
    save_file(state, path, metadata={"format": "rnncodec-weights-1", "config": json.dumps(ModelConfig().to_dict())})
    with pytest.raises(WeightsError, match="do not match"):
        load_network(path)


@pytest.mark.parametrize("content", [b"", b"not a weights file at all", b"\x00" * 100])
def test_garbage_file_is_refused(tmp_path, content):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError):
        load_network(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(WeightsError):
        load_network(tmp_path / "nope.safetensors")


def test_coder_tables_travel_in_the_weights_file(tmp_path, tiny_config):
    model = Network(tiny_config)
    channels = tiny_config.code_channels
    plain, with_tables = tmp_path / "plain.safetensors", tmp_path / "tables.safetensors"
    save_weights(model, plain)
    assert np.all(load_coder_tables(plain, channels).prior == 1)
    uniform = CoderTables.uniform(channels)
    partners = uniform.partners.copy()
    partners[3, 0] = 1
    tables = CoderTables(partners, np.arange(len(uniform.prior) * 2).reshape(-1, 2) % 200 + 1)
    save_weights(model, with_tables, tables=tables, step=3)
    loaded = load_coder_tables(with_tables, channels)
    assert np.array_equal(loaded.partners, partners) and np.array_equal(loaded.prior, tables.prior)
    assert load_network(with_tables).state_dict().keys() == model.state_dict().keys()
    with pytest.raises(WeightsError, match="tables"):
        load_coder_tables(with_tables, channels * 2)


def test_weights_with_half_the_coder_tables_are_refused(tmp_path, tiny_config):
    state = {k: v.contiguous() for k, v in Network(tiny_config).state_dict().items()}
    state["coder.prior"] = torch.ones(10, 2, dtype=torch.uint8)
    path = tmp_path / "w.safetensors"
    save_file(state, path, metadata={"format": "rnncodec-weights-1", "config": json.dumps(tiny_config.to_dict())})
    load_network(path)  # the network itself loads
    with pytest.raises(WeightsError, match="tables"):
        load_coder_tables(path, tiny_config.code_channels)


def test_float16_storage_loads_as_float32_with_tables_and_facts(tmp_path, tiny_config):
    from safetensors import safe_open

    from rnncodec.weights import convert_weights

    model = Network(tiny_config)
    tables = CoderTables.uniform(tiny_config.code_channels)
    full, half, copy = tmp_path / "full.safetensors", tmp_path / "half.safetensors", tmp_path / "copy.safetensors"
    save_weights(model, full, tables=tables, step=5)
    convert_weights(full, half, "float16")
    assert half.stat().st_size < full.stat().st_size
    with safe_open(str(half), framework="pt") as f:
        assert f.get_tensor("decoder.to_rgb.weight").dtype == torch.float16
        assert f.get_tensor("coder.prior").dtype == torch.uint8  # the coder's integer tables stay as they are
    loaded = load_network(half)
    for name, value in model.state_dict().items():
        assert loaded.state_dict()[name].dtype == torch.float32
        assert torch.allclose(loaded.state_dict()[name], value, rtol=1e-3, atol=1e-4)
    assert read_metadata(half)["step"] == 5
    assert np.array_equal(load_coder_tables(half, tiny_config.code_channels).prior, tables.prior)
    convert_weights(half, copy, "float16")  # float16 → float32 → float16 is exact
    again = load_network(copy).state_dict()
    assert all(torch.equal(again[name], value) for name, value in loaded.state_dict().items())
