"""The model as one value: loading it (by id or file, each file read once), and the commands that
need network weights refusing a block stage file."""

import builtins
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import smooth_image
from rnncodec import registry
from rnncodec.errors import UnknownModelError
from rnncodec.model import load_model


def test_loading_the_default_model_opens_each_file_once(monkeypatch):
    folder = registry.models_folder().resolve()
    opened = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and Path(file).resolve().parent == folder:
            opened.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    registry.load.cache_clear()
    monkeypatch.setattr(builtins, "open", counting_open)
    model = load_model(engine="onnx")
    assert model.stage is not None and model.network_path != model.path  # the default has a block stage
    assert model.postfilter is not None  # and a post-filter
    expected = {"registry.json", model.path.name, model.network_path.name, f"{model.path.stem}.postfilter.onnx",
                *(f"{model.network_path.stem}.{graph}.onnx" for graph in ("encoder-first", "encoder", "decoder-first", "decoder"))}
    assert sorted(opened) == sorted(expected)  # each once, nothing else


@pytest.mark.parametrize("engine", ["onnx", "torch"])
def test_loading_the_default_model_calls_down_the_layers_only(engine):
    """No module that loading calls calls back into a module below which it was called."""
    callers, climbs = [], []  # the package module of each frame (None outside the package); calls back up

    def watch(frame, event, arg):
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            inside = module.startswith("rnncodec") or None
            above = [m for m in callers if m]
            if inside and above and module != above[-1] and module in above:
                climbs.append(f"{above[-1]} → {module}.{frame.f_code.co_name}")
            callers.append(module if inside else None)
        elif event == "return" and callers:
            callers.pop()

    registry.load.cache_clear()
    sys.setprofile(watch)
    try:
        load_model(engine=engine)
    finally:
        sys.setprofile(None)
    assert climbs == []


def test_a_shipped_model_loads_by_id_bytes_or_hex(monkeypatch):
    default = registry.load().default
    by_bytes, by_hex = load_model(default.id, engine="onnx"), load_model(default.id.hex(), engine="onnx")
    assert by_bytes.id == by_hex.id == default.id and by_bytes.path == by_hex.path == default.path
    with pytest.raises(UnknownModelError):
        load_model("00" * 8)


def test_a_weights_file_loads_under_the_id_of_its_bytes(stage_file):
    model = load_model(stage_file, engine="torch")
    assert model.id == registry.load().id_of(stage_file) and model.network_path == stage_file.with_name("net.safetensors")
    x = np.zeros((1, 3, 32, 48), np.float32)
    assert len(list(model.encode_bits(x, model.config.max_iterations))) == model.config.max_iterations


def test_fit_coder_refuses_a_block_stage_file_naming_its_network(stage_file, image_folder, tmp_path, capsys):
    from test_cli import run

    code, err = run(["fit-coder", str(stage_file), "--data", str(image_folder), "-o", str(tmp_path / "out.safetensors")], capsys)
    network = stage_file.with_name("net.safetensors")
    assert code == 1 and err.count("\n") == 1 and f"give the network weights it extends: {network}" in err
    assert not (tmp_path / "out.safetensors").exists()


def test_train_init_refuses_a_block_stage_file_naming_its_network(stage_file, image_folder, tmp_path, capsys):
    from test_cli import run

    code, err = run(["train", "--data", str(image_folder), "--out", str(tmp_path / "run"), "--init", str(stage_file), "--steps", "1"], capsys)
    assert code == 1 and err.count("\n") == 1 and str(stage_file.with_name("net.safetensors")) in err


def test_export_refuses_a_block_stage_file_naming_its_network(stage_file):
    run = subprocess.run([sys.executable, "-m", "rnncodec.export", str(stage_file)], capture_output=True, text=True)
    network = stage_file.with_name("net.safetensors")
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert f"give the network weights it extends: {network}" in run.stderr
    assert not list(stage_file.parent.glob("*.onnx"))


def test_a_model_encodes_its_stage_iterations_after_the_networks(tiny_staged):
    from rnncodec.pixels import image_to_network

    network, staged = tiny_staged
    x = image_to_network(smooth_image(32, 48, seed=3))
    after = staged.network_iterations
    alone = [bits for bits, _ in zip(staged.encode_bits(x, after), range(after))]
    together = list(staged.encode_bits(x, staged.config.max_iterations))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together[:after]))
    assert {b.shape for b in together} == {(1, network.cfg.code_channels, 2, 3)}


def test_the_api_takes_a_loaded_model(tiny_weights):
    import rnncodec

    image = smooth_image(32, 48, seed=5)
    model = rnncodec.load_model(tiny_weights, engine="onnx")
    data = rnncodec.Codec(model).encode(image, 3)
    assert data == rnncodec.Codec(tiny_weights).encode(image, 3) == rnncodec.encode(image, 3, model=model)
    assert rnncodec.decode(data, model=model).info["iterations"] == 3
    with pytest.raises(TypeError, match="a weights file or a Model"):
        rnncodec.Codec(42)
