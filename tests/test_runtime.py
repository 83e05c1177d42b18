"""The ONNX Runtime engine against the PyTorch network it is exported from, and the committed graphs."""

import os
import subprocess
import sys
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import TINY, smooth_image
from rnncodec.codec import ModelPipeline
from rnncodec.model import Model
from rnncodec.export import export_graphs, write_graphs
from rnncodec.images import Picture
from rnncodec.network import Network
from rnncodec.graphs import GRAPHS, SEARCH_GRAPHS, graph_paths
from rnncodec.engines.onnx import OnnxEngine
from rnncodec.engines.threads import EngineError
from rnncodec.engines.torch import TorchEngine
from rnncodec.registry import load as load_registry
from rnncodec.weights import default_network_path, is_block_stage, load_network, save_weights

TAIL = {"tail_branches": (8, 8), "full_resolution_channels": 4, "iteration_conditioning": True, "full_resolution_branch": 8}
SHIPPED = {model.path.stem: model.path for model in load_registry().models.values()
           if not is_block_stage(model.path)}  # every shipped network (a block stage file runs its network's graphs)
STAGES = {model.path.stem: model.path for model in load_registry().models.values() if is_block_stage(model.path)}


def with_live_tail(model: Network) -> Network:
    """The model with its tail capacity switched on: conditioning and branch outputs that start at
    (almost) zero get values that make each iteration's decoder step differ."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if name.startswith(("decoder.tail_", "decoder.output_bias", "decoder.branches", "decoder.full_resolution")):
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=generator))
    return model


def tiny_model(tail: bool) -> Network:
    torch.manual_seed(0)
    model = Network(replace(TINY, **TAIL) if tail else TINY)
    return (with_live_tail(model) if tail else model).eval()


MODELS = {"tiny": lambda: tiny_model(False), "tiny+tail": lambda: tiny_model(True),
          **{stem: (lambda path=path: load_network(path).eval()) for stem, path in SHIPPED.items()}}


@pytest.fixture(scope="module", params=list(MODELS))
def engines(request, tmp_path_factory):
    """(PyTorch engine, ONNX engine, weights file) of one model, the ONNX one loaded as the codec loads
    it: for shipped weights with the graphs committed beside them, else with graphs exported now."""
    model = MODELS[request.param]()
    if request.param in SHIPPED:
        path = SHIPPED[request.param]
        assert all(p.is_file() for p in graph_paths(path).values()), "the shipped weights' graphs are committed"
    else:
        path = tmp_path_factory.mktemp("weights") / f"{request.param}.safetensors"
        save_weights(model, path)
    return TorchEngine(model), OnnxEngine.load(path), path


def random_state(engine, side, height, width, rng):
    return [rng.normal(0, 0.3, shape).astype(np.float32) for shape in engine.state_shapes(side, height, width)]


def as_torch_state(flat):
    return [(torch.from_numpy(flat[i]), torch.from_numpy(flat[i + 1])) for i in range(0, len(flat), 2)]


@pytest.mark.parametrize("t", [1, 2, 7, 16])
def test_steps_match_the_model_on_random_inputs(engines, t):
    reference, onnx, _ = engines
    rng = np.random.default_rng(t)
    h, w = 48, 80
    bits = np.where(rng.random((1, reference.cfg.code_channels, h // 16, w // 16)) < 0.5, -1.0, 1.0).astype(np.float32)
    state = random_state(onnx, "decoder", h, w, rng)
    delta, new_state = onnx.decode_step(bits, t, state)
    expected, expected_state = reference.decode_step(bits, t, as_torch_state(state))
    np.testing.assert_allclose(delta, expected, atol=2e-5, rtol=1e-4)
    for got, want in zip(new_state, (s.numpy() for pair in expected_state for s in pair)):
        np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)

    residual = rng.uniform(-0.5, 0.5, (1, 3, h, w)).astype(np.float32)
    state = random_state(onnx, "encoder", h, w, rng)
    with torch.no_grad():
        features, expected_state = reference.network.encoder(torch.from_numpy(residual) * reference.network.gain(t), as_torch_state(state))
        logits = reference.network.binarizer.conv(features).numpy()
    bits, new_state = onnx.encode_step(residual, t, state)
    clear = np.abs(logits) > 1e-4  # a bit may flip only where the network's output is this close to 0
    assert np.array_equal((bits > 0)[clear], (logits >= 0)[clear])
    for got, want in zip(new_state, (s.numpy() for pair in expected_state for s in pair)):
        np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)


def test_codec_on_onnx_writes_the_same_file_and_decodes_within_one_level(engines):
    reference, onnx, path = engines
    picture = Picture(smooth_image(40, 90, seed=7), "RGB")
    ids = load_registry().id_of(path)
    torch_codec, onnx_codec = ModelPipeline(Model.of(reference, id=ids), tile=48), ModelPipeline(Model.of(onnx, id=ids), tile=48)  # two tiles
    data = torch_codec.encode(picture, 8)
    assert onnx_codec.encode(picture, 8) == data
    expected = torch_codec.decode(data, keep_all=True).pictures
    got = onnx_codec.decode(data, keep_all=True).pictures
    assert len(got) == 8
    for a, b in zip(expected, got):
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max() <= 1


@pytest.mark.parametrize("weights", STAGES.values(), ids=STAGES.keys())
def test_shipped_block_stage_on_onnx_writes_the_same_file_and_decodes_within_one_level(weights):
    picture = Picture(smooth_image(40, 90, seed=7), "RGB")
    torch_codec, onnx_codec = (ModelPipeline.load(weights, tile=48, engine=engine) for engine in ("torch", "onnx"))
    data = torch_codec.encode(picture, 8)
    assert onnx_codec.encode(picture, 8) == data
    for a, b in zip(torch_codec.decode(data, keep_all=True).pictures, onnx_codec.decode(data, keep_all=True).pictures):
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max() <= 1


@pytest.mark.parametrize("weights", SHIPPED.values(), ids=SHIPPED.keys())
def test_committed_graphs_are_those_the_model_exports(weights):
    """The shipped weights' graphs are generated files: a change to the model must come with them
    re-made (python -m rnncodec.export). (The tests above run them against the model's outputs;
    this one also catches a change that the pinned exporter would write differently.)"""
    fresh = export_graphs(load_network(weights).cfg, GRAPHS + SEARCH_GRAPHS)
    for side, path in graph_paths(weights, GRAPHS + SEARCH_GRAPHS).items():
        assert path.read_bytes() == fresh[side], f"{path.name} is stale: run python -m rnncodec.export"


@pytest.mark.parametrize("side", ["encoder", "decoder"])
def test_gate_sums_have_the_shape_of_their_cell_state(side):
    """Both convolutions each recurrent LSTM gate sums are declared at the size of the cell's state,
    which lets ONNX Runtime fuse the sum and the gate's activation into a convolution."""
    import onnx

    graph = onnx.load(graph_paths(default_network_path())[side], load_external_data=False).graph
    declared = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.value_info}
    states = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    made_by = {output: node.op_type for node in graph.node for output in node.output}
    sums = [node for node in graph.node if node.op_type == "Add" and all(made_by.get(i) == "Conv" for i in node.input)]
    assert len(sums) == 4 * (3 if side == "encoder" else 4)  # four gates in each cell
    for node in sums:
        cell = node.name.split("/cells.")[1].split("/")[0]
        assert all(declared.get(i) == states[f"h{cell}"] for i in node.input), node.name


@pytest.mark.parametrize("weights", SHIPPED.values(), ids=SHIPPED.keys())
def test_graphs_hold_no_weights(weights):
    assert sum(p.stat().st_size for p in graph_paths(weights, GRAPHS + SEARCH_GRAPHS).values()) < weights.stat().st_size / 25


def test_graphs_of_another_config_are_refused(tiny_weights, tmp_path):
    other = tmp_path / "other.safetensors"
    torch.manual_seed(0)
    save_weights(Network(replace(TINY, code_channels=4)), other)
    copy = tmp_path / "tiny.safetensors"
    copy.write_bytes(tiny_weights.read_bytes())
    write_graphs(other)
    for side, path in graph_paths(other).items():
        path.rename(graph_paths(copy)[side])  # the tiny weights beside graphs of 4 code channels
    with pytest.raises(EngineError, match="another model config|does not load"):
        OnnxEngine.load(copy)


def test_a_broken_encoder_graph_stops_encoding_not_decoding(tiny_weights, tmp_path):
    """The encoder's sessions start at its first step: a decode never reads its graphs."""
    copy = tmp_path / "tiny.safetensors"
    copy.write_bytes(tiny_weights.read_bytes())
    write_graphs(copy)
    graph_paths(copy)["encoder-first"].write_bytes(b"not a graph")
    engine = OnnxEngine.load(copy)
    assert set(engine.sessions) == {"decoder-first", "decoder"}
    bits = np.ones((1, TINY.code_channels, 2, 2), np.float32)
    assert engine.decode_step(bits, 1)[0].shape == (1, 3, 32, 32)
    with pytest.raises(EngineError, match="the encoder-first graph does not load"):
        engine.encode_step(np.zeros((1, 3, 32, 32), np.float32), 1)


NO_TORCH = """
import sys, importlib.abc
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("no torch here")
sys.meta_path.insert(0, NoTorch())
"""


def test_encode_and_decode_run_without_pytorch(tmp_path):
    """The command line on the shipped weights with torch impossible to import: same file as with it
    (the encoder's bits; a searched file follows each engine's float arithmetic: tests/test_search.py)."""
    image = tmp_path / "in.png"
    from PIL import Image

    Image.fromarray(smooth_image(48, 64, seed=3)).save(image)
    script = NO_TORCH + "from rnncodec.cli import main\nmain(sys.argv[1:])\n"
    for command in (["encode", str(image), "-q", "3", "--effort", "0"], ["decode", str(tmp_path / "in.rgc"), "-o", str(tmp_path / "out.png")], ["info", str(tmp_path / "in.rgc")]):
        run = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    data = (tmp_path / "in.rgc").read_bytes()
    assert data == ModelPipeline.load(engine="torch").encode(Picture(smooth_image(48, 64, seed=3), "RGB"), 3)


def test_weights_without_graphs_need_pytorch_to_export_them(tiny_weights):
    script = NO_TORCH + f"from rnncodec.engines.onnx import OnnxEngine\nOnnxEngine.load(__import__('pathlib').Path({str(tiny_weights)!r}))\n"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode != 0 and "python -m rnncodec.export" in run.stderr
    assert all(not p.exists() for p in graph_paths(tiny_weights).values())


def test_golden_files_decode_within_one_level_on_onnx(tmp_path):
    """The version-1 golden file, decoded through ONNX Runtime, against the pixels PyTorch decoded it to."""
    from PIL import Image

    from rgc_fuzz import V1_GOLDEN
    from rnncodec.bitstream import parse_header

    path = tmp_path / "tiny.safetensors"
    save_weights(tiny_model(False), path)
    codec = ModelPipeline(Model.of(OnnxEngine.load(path), id=parse_header(V1_GOLDEN.read_bytes()).model_id))
    for iterations, png in ((None, "v1-tiny-rgba-8it.png"), (6, "v1-tiny-rgba-8it-n6.png")):
        decoded = np.asarray(codec.decode(V1_GOLDEN.read_bytes(), iterations=iterations).picture.to_pil()).astype(int)
        expected = np.asarray(Image.open(V1_GOLDEN.parent / png)).astype(int)
        assert np.abs(decoded - expected).max() <= 1


@pytest.mark.parametrize("variable, value, message", [
    ("RNNCODEC_ENGINE", "tensorflow", "unknown engine 'tensorflow'"),
    ("RNNCODEC_THREADS", "two", "rnncodec: error: RNNCODEC_THREADS=two: the threads per network call must be a "
                                "positive whole number, such as RNNCODEC_THREADS=2\n"),
    ("RNNCODEC_THREADS", "0", "rnncodec: error: RNNCODEC_THREADS=0: the threads"),
])
def test_bad_engine_settings_are_one_line_errors(tmp_path, variable, value, message):
    rgc = tmp_path / "x.rgc"
    rgc.write_bytes(next((Path(__file__).parent / "golden").glob("*.rgc")).read_bytes())  # a file the shipped model decodes
    run = subprocess.run([sys.executable, "-m", "rnncodec", "decode", str(rgc)], capture_output=True, text=True,
                         env={**os.environ, variable: value})
    assert run.returncode == 1 and message in run.stderr and "Traceback" not in run.stderr
    assert ".safetensors" not in run.stderr  # the setting is at fault, not the weights file


def test_the_engine_is_chosen_by_name_or_environment(tiny_weights, monkeypatch):
    assert isinstance(ModelPipeline.load(tiny_weights, engine="torch").model.network, TorchEngine)
    assert isinstance(ModelPipeline.load(tiny_weights).model.network, OnnxEngine)
    monkeypatch.setenv("RNNCODEC_ENGINE", "torch")
    assert isinstance(ModelPipeline.load(tiny_weights).model.network, TorchEngine)


def test_float16_weights_run_on_onnx_as_on_pytorch(tiny_weights, tmp_path):
    from rnncodec.weights import convert_weights

    half = tmp_path / "half.safetensors"
    convert_weights(tiny_weights, half, "float16")
    picture = Picture(smooth_image(32, 48, seed=2), "RGB")
    onnx_codec, torch_codec = ModelPipeline.load(half, engine="onnx"), ModelPipeline.load(half, engine="torch")
    assert onnx_codec.encode(picture, 4) == torch_codec.encode(picture, 4)


def test_pixel_conversions_compute_as_pytorch_does():
    from rnncodec.pixels import image_to_network, to_image, to_network

    rgb = np.arange(256 * 3, dtype=np.uint16).reshape(16, 16, 3).astype(np.uint8)
    expected = torch.from_numpy(rgb).float().div_(255).sub_(0.5).movedim(-1, -3)
    assert np.array_equal(image_to_network(rgb), expected[None].numpy())
    assert torch.from_numpy(to_network(rgb)).stride() == expected.stride()  # training's batches keep their layout
    x = np.random.default_rng(0).uniform(-0.6, 0.6, (2, 3, 16, 16)).astype(np.float32)
    x[0, 0, 0, :9] = (np.arange(9, dtype=np.float32) + 0.5) / 255 - 0.5  # exactly half-way between two levels
    rounded = torch.from_numpy(x).add(0.5).mul(255).round().clamp(0, 255).movedim(-3, -1).to(torch.uint8).numpy()
    assert np.array_equal(to_image(x), rounded)


def test_the_threads_setting_also_sets_pytorchs_threads(tiny_weights, monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("RNNCODEC_THREADS", "2")
        TorchEngine.load(tiny_weights)
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("RNNCODEC_THREADS", "1")
        TorchEngine.load(tiny_weights)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_network_calls_use_every_core_unless_told(monkeypatch):
    from rnncodec.engines.threads import available_cores, default_threads

    monkeypatch.delenv("RNNCODEC_THREADS", raising=False)
    assert default_threads() == available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("RNNCODEC_THREADS", "1")
    assert default_threads() == 1


def test_the_shipped_models_files_and_pictures_are_the_same_on_any_thread_count(monkeypatch):
    from PIL import Image

    from rnncodec.weights import default_weights_path

    rgb = np.asarray(Image.open(Path(__file__).parent.parent / "examples" / "sunset.png").convert("RGB"))[:96, :160]
    picture = Picture(np.ascontiguousarray(rgb), "RGB")
    files, pictures = [], []
    for threads in (1, 2, 3):
        monkeypatch.setenv("RNNCODEC_THREADS", str(threads))
        codec = ModelPipeline.load(default_weights_path(), tile=64, engine="onnx")  # several tiles, an edge one cut short
        files.append(codec.encode(picture, 8))
        pictures.append(codec.decode(files[-1]).picture.rgb)
    assert files[0] == files[1] == files[2]
    assert np.array_equal(pictures[0], pictures[1]) and np.array_equal(pictures[0], pictures[2])
