import pytest
import torch
from safetensors.torch import save_file

from rnncodec.model import ModelConfig, RNNCodec
from rnncodec.weights import WeightsError, load_model, read_metadata, save_weights


def test_save_and_load_round_trip_without_pickle(tmp_path, tiny_config, monkeypatch):
    model = RNNCodec(tiny_config)
    path = tmp_path / "w.safetensors"
    save_weights(model, path, step=7)
    # loading must never unpickle anything
    monkeypatch.setattr("pickle.loads", lambda *a, **k: pytest.fail("pickle used"))
    monkeypatch.setattr("torch.load", lambda *a, **k: pytest.fail("torch.load used"))
    loaded = load_model(path)
    assert read_metadata(path)["step"] == 7
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert not loaded.training


def test_config_mismatch_is_a_clear_error(tmp_path, tiny_config):
    path = tmp_path / "w.safetensors"
    save_weights(RNNCodec(tiny_config), path)
    with pytest.raises(WeightsError, match="expected"):
        load_model(path, expect=ModelConfig())


def test_tensors_not_matching_config_are_refused(tmp_path, tiny_config):
    import json

    state = {k: v.contiguous() for k, v in RNNCodec(tiny_config).state_dict().items()}
    path = tmp_path / "w.safetensors"
    save_file(state, path, metadata={"format": "rnncodec-weights-1", "config": json.dumps(ModelConfig().to_dict())})
    with pytest.raises(WeightsError, match="do not match"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"not a weights file at all", b"\x00" * 100])
def test_garbage_file_is_refused(tmp_path, content):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError):
        load_model(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(WeightsError):
        load_model(tmp_path / "nope.safetensors")
