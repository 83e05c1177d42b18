"""The encoder's bit search (``effort``): the decoder's gradient as autograd gives it, on ONNX Runtime
as on PyTorch; never a worse iteration than the encoder's bits; files any decoder reads."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import smooth_image
from rnncodec.codec import ModelPipeline
from rnncodec.decoder_gradient import decode_with_gradient
from rnncodec.engines.onnx import OnnxEngine
from rnncodec.engines.search import SearchingEngine
from rnncodec.engines.torch import TorchEngine
from rnncodec.images import Picture
from rnncodec.pixels import image_to_network
from rnncodec.weights import default_network_path
from test_runtime import NO_TORCH, tiny_model


def autograd_gradient(network, bits, t, state, target):
    bits = bits.clone().requires_grad_(True)
    delta, _ = network.decode_step(bits, t, state)
    (target - delta).pow(2).flatten(1).mean(dim=1).sum().backward()
    return delta.detach(), bits.grad


@pytest.mark.parametrize("tail", [False, True], ids=["tiny", "tiny+tail"])
def test_the_decoders_gradient_is_autograds(tail):
    """Written out layer by layer (the inverse GDN, the LSTM gates, the tail branches and conditioning,
    the full-resolution branch), the gradient is what autograd gives, in iteration 1 and after."""
    network = tiny_model(tail).requires_grad_(False)
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 32, 48, generator=generator) - 0.5
    first, _ = network.encode_step(x, 1)
    delta, state = network.decode_step(first, 1)
    for t, previous, target in [(1, None, x), (2, state, x - delta)]:
        bits = torch.where(torch.rand(2, network.cfg.code_channels, 2, 3, generator=generator) < 0.5, 1.0, -1.0)
        expected_delta, expected = autograd_gradient(network, bits, t, previous, target)
        got_delta, _, errors, got = decode_with_gradient(network, bits, t, previous, target)
        torch.testing.assert_close(got_delta, expected_delta, rtol=0, atol=1e-6)
        torch.testing.assert_close(errors, (target - expected_delta).pow(2).flatten(1).mean(dim=1))
        assert expected.abs().max() > 0
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))


def test_the_search_graphs_compute_what_pytorch_does():
    """The default's network: on ONNX Runtime its search graphs (tests/test_runtime.py checks them against
    a fresh export) give PyTorch's pre-activations, decoder output, gradient and state."""
    weights = default_network_path()
    onnx, torch_engine = OnnxEngine.load(weights), TorchEngine.load(weights)
    x = image_to_network(smooth_image(48, 64, seed=4))
    state = onnx_state = None
    target = x
    for t in (1, 2):
        activations, _ = torch_engine.encoder_activations(target, t)
        np.testing.assert_allclose(onnx.encoder_activations(target, t)[0], activations, atol=1e-4)
        bits = np.where(activations >= 0, np.float32(1), np.float32(-1))
        delta, gradient, state_after = torch_engine.decode_with_gradient(bits, t, state, target)
        onnx_delta, onnx_gradient, onnx_after = onnx.decode_with_gradient(bits, t, onnx_state, target)
        np.testing.assert_allclose(onnx_delta, delta, atol=1e-5)
        np.testing.assert_allclose(onnx_gradient, gradient, atol=1e-4 * np.abs(gradient).max())
        np.testing.assert_allclose(onnx_after[-1], state_after[-1][1].numpy(), atol=1e-4)  # the last cell's c
        target, state, onnx_state = target - delta, state_after, onnx_after


class BlockwiseDecoder:
    """A decoder whose every 16×16 block is a linear function of that block's bits alone."""

    def __init__(self, channels: int = 6, seed: int = 0):
        from rnncodec.config import ModelConfig

        self.cfg = ModelConfig(code_channels=channels)
        self.mix = np.random.default_rng(seed).normal(size=(3, channels)).astype(np.float32) * 0.1

    def decode_step(self, bits, t, state=None):
        return np.einsum("kc,bchw->bkhw", self.mix, bits).repeat(16, axis=2).repeat(16, axis=3), state

    def decode_with_gradient(self, bits, t, state, target):
        delta, _ = self.decode_step(bits, t, state)
        per_block = (target - delta).reshape(*target.shape[:2], bits.shape[2], 16, bits.shape[3], 16).sum(axis=(3, 5))
        return delta, np.einsum("kc,bkhw->bchw", self.mix, per_block) * (-2 / target[0].size), state


def test_each_block_keeps_its_closest_candidate():
    """With blocks that do not interact, the searched bits draw every block at least as close as the
    encoder's bits and every candidate do, and the picture closer than any of them."""
    from rnncodec.engines.search import block_errors, flip_thresholds, search_bits, sign

    decoder, rng = BlockwiseDecoder(), np.random.default_rng(1)
    activations = rng.normal(scale=0.2, size=(2, 6, 3, 4)).astype(np.float32)
    target = rng.normal(scale=0.1, size=(2, 3, 48, 64)).astype(np.float32)
    bits, delta, state = search_bits(decoder, target, 1, None, activations, effort=3)
    np.testing.assert_array_equal(delta, decoder.decode_step(bits, 1)[0])
    _, gradient, _ = decoder.decode_with_gradient(sign(activations), 1, None, target)
    candidates = [sign(activations)] + [np.where((gradient * sign(activations) > 0) & (np.abs(activations) < threshold),
                                                 -sign(activations), sign(activations)) for threshold in flip_thresholds(3)]
    errors = np.stack([block_errors(target, decoder.decode_step(c, 1)[0]) for c in candidates])
    np.testing.assert_allclose(block_errors(target, delta), errors.min(axis=0), rtol=1e-6)
    image_errors = lambda d: np.square(target - d).mean(axis=(1, 2, 3))
    assert (image_errors(delta) < np.stack([image_errors(decoder.decode_step(c, 1)[0]) for c in candidates]).min(axis=0)).all()


def test_flip_thresholds_double_around_the_middle():
    from rnncodec.engines.search import flip_thresholds

    np.testing.assert_allclose(flip_thresholds(1), [0.1])
    np.testing.assert_allclose(flip_thresholds(3), [0.05, 0.1, 0.2])
    np.testing.assert_allclose(flip_thresholds(2), [0.1 / 2**0.5, 0.1 * 2**0.5])


def squared_error(engine, target, bits, t, state):
    delta, _ = engine.decode_step(bits, t, state)
    return float(np.mean((target - delta) ** 2))


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_the_search_never_codes_an_iteration_worse_than_the_encoders_bits(tiny_staged, tiny_weights, engine):
    network = tiny_staged[0] if engine == "torch" else OnnxEngine.load(tiny_weights)  # (its search graphs exported now)
    search = SearchingEngine(network, effort=4)
    x = image_to_network(smooth_image(64, 48, seed=3))
    residual, plain_state, decoder_state, flipped = x, None, None, 0.0
    for t in (1, 2, 3):
        plain, _ = network.encode_step(residual, t, plain_state)
        searched, plain_state = search.encode_step(residual, t, plain_state)
        assert set(np.unique(searched)) <= {-1.0, 1.0} and searched.shape == plain.shape
        assert squared_error(network, residual, searched, t, decoder_state) <= squared_error(network, residual, plain, t, decoder_state)
        flipped += float(np.mean(searched != plain))
        delta, after = search.decode_step(searched, t, decoder_state)  # as the codec asks: what the search computed
        np.testing.assert_allclose(delta, network.decode_step(searched, t, decoder_state)[0], atol=1e-6)
        residual, decoder_state = residual - delta, after
    assert flipped > 0  # the search moved something: a random network's encoder is far from its decoder's best


def test_searched_files_decode_with_the_plain_model(tiny_staged):
    _, model = tiny_staged
    plain, searching = ModelPipeline(model), ModelPipeline(model, effort=3)
    picture = Picture(smooth_image(48, 64, seed=5), "RGB")
    data = searching.encode(picture, 5)
    assert data != plain.encode(picture, 5)
    for keep in (plain.decode(data, keep_all=True), searching.decode(data, keep_all=True)):
        assert keep.iterations == 5
    np.testing.assert_array_equal(plain.decode(data).picture.rgb, searching.decode(data).picture.rgb)


def test_effort_is_a_count_of_search_steps():
    from rnncodec import api

    with pytest.raises(ValueError, match="effort"):
        api.Codec(effort=-1)
    with pytest.raises(TypeError, match="effort"):
        api.Codec(effort=1.5)


def test_effort_runs_without_pytorch(tmp_path):
    """The shipped default searches on ONNX Runtime alone: the same command with PyTorch impossible to
    import writes a file the plain decoder reads, closer at its network iterations than the encoder's bits."""
    from PIL import Image

    image = tmp_path / "in.png"
    Image.fromarray(smooth_image(64, 96, seed=6)).save(image)
    script = NO_TORCH + "from rnncodec.cli import main\nmain(sys.argv[1:])\n"
    for effort, name in ((0, "plain.rgc"), (2, "searched.rgc")):
        run = subprocess.run([sys.executable, "-c", script, "encode", str(image), "-q", "2", "--effort", str(effort),
                              "-o", str(tmp_path / name)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    pipeline = ModelPipeline.load()
    x = smooth_image(64, 96, seed=6).astype(float)
    errors = [np.mean((pipeline.decode((tmp_path / name).read_bytes()).picture.rgb - x) ** 2) for name in ("plain.rgc", "searched.rgc")]
    assert errors[1] <= errors[0]
