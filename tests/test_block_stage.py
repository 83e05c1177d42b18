from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncodec.block_stage import fit_block_stage, from_blocks, to_blocks
from rnncodec.limits import BLOCK
from rnncodec.pixels import image_to_network

from conftest import TINY_AFTER, smooth_image

SIGNS = 31  # the default 32 code channels less the scale bit


PATTERNS = np.random.default_rng(99).normal(size=(20, 3 * BLOCK * BLOCK))  # the structure residual blocks share


def textured(n: int, size: int, seed: int) -> np.ndarray:
    """(n, 3, size, size) residual-like images: blocks mixing a few shared patterns, plus a little
    noise, with a strength that varies from block to block."""
    rng = np.random.default_rng(seed)
    blocks = (size // BLOCK) ** 2
    rows = rng.normal(size=(n, blocks, len(PATTERNS))) @ PATTERNS + rng.normal(0, 0.3, (n, blocks, PATTERNS.shape[1]))
    rows *= rng.uniform(0.005, 0.1, (n, blocks, 1))
    return from_blocks(rows, size, size).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    residual = textured(8, 64, seed=0)
    last = residual * 0.5 + textured(8, 64, seed=1) * 0.1  # an increment that tells the blocks' strength
    return fit_block_stage(residual, last, after=4, iterations=3), residual, last


def run(stage, residual, last):
    """The stage's encoder and decoder side by side: bits, both increments, the residual left."""
    encoder = decoder = stage.start(last)
    steps = []
    for t in range(stage.after + 1, stage.after + stage.iterations + 1):
        bits, increment, encoder = stage.encode(residual, t, encoder)
        decoded, decoder = stage.decode(bits, t, decoder)
        residual = residual - increment
        steps.append((bits, increment, decoded, residual))
    return steps


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_blocks_round_trip(batch, h, w, seed):
    images = np.random.default_rng(seed).normal(size=(batch, 3, h * BLOCK, w * BLOCK))
    rows = to_blocks(images)
    assert rows.shape == (batch, h * w, 3 * BLOCK * BLOCK)
    np.testing.assert_array_equal(from_blocks(rows, h * BLOCK, w * BLOCK), images)
    np.testing.assert_array_equal(rows[-1, -1], images[-1, :, -BLOCK:, -BLOCK:].ravel())  # raster order, channels first


def test_fitted_shapes(fitted):
    stage, _, _ = fitted
    assert stage.basis.shape == (3, 3 * BLOCK * BLOCK, SIGNS) and stage.alpha.shape == (3, SIGNS)
    assert np.all(stage.alpha > 0) and stage.exponent > 0
    basis = stage.basis[0].astype(np.float64)
    np.testing.assert_allclose(basis.T @ basis, np.eye(SIGNS), atol=1e-5)  # orthonormal components


def test_decoder_follows_encoder(fitted):
    stage, residual, last = fitted
    for bits, increment, decoded, _ in run(stage, residual, last):
        assert bits.shape == (8, SIGNS + 1, 4, 4) and set(np.unique(bits)) == {-1.0, 1.0}
        np.testing.assert_array_equal(decoded, increment)  # the encoder adds what the decoder will


def test_each_iteration_lowers_the_error(fitted):
    stage, residual, last = fitted
    errors = [np.mean(residual**2)] + [np.mean(r**2) for *_, r in run(stage, residual, last)]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    unseen = textured(4, 64, seed=2)
    errors = [np.mean(unseen**2)] + [np.mean(r**2) for *_, r in run(stage, unseen, unseen * 0.5)]
    assert errors[-1] < 0.9 * errors[0], errors


def test_scale_bit_tracks_block_strength(fitted):
    stage, residual, last = fitted
    quiet = residual * 0.01  # blocks far weaker than the start scale expects: the scale must go down
    bits, *_ = run(stage, quiet, last)[0]
    assert np.mean(bits[:, SIGNS] < 0) > 0.95


def test_iterations_outside_the_stage_are_refused(fitted):
    stage, residual, last = fitted
    state = stage.start(last)
    for t in (stage.after, stage.after + stage.iterations + 1):
        with pytest.raises(ValueError, match="not in the block stage"):
            stage.encode(residual, t, state)


# --- a model with a network and a stage, under the codec -----------------------------------------
def test_staged_codec_round_trip(tiny_staged):
    from rnncodec.codec import ModelPipeline, model_codes
    from rnncodec.images import Picture
    from rnncodec.model import Model

    network, staged = tiny_staged
    codec = ModelPipeline(staged)
    rgb = smooth_image(48, 80, seed=11)  # not a fitting image; 48×80: blocks of 16 in both directions
    data = codec.encode(Picture(rgb, "RGB"), network.cfg.max_iterations)
    decoded = codec.decode(data, keep_all=True)
    errors = [np.mean((p.rgb.astype(float) - rgb) ** 2) for p in decoded.pictures]
    assert errors[-1] < 0.8 * errors[TINY_AFTER - 1], errors  # the stage's iterations code the residual
    # up to K the file's codes are the network's own, and its prefixes decode as the network alone
    np.testing.assert_array_equal(model_codes(staged, rgb, TINY_AFTER), model_codes(Model.of(network), rgb, TINY_AFTER))
    plain = ModelPipeline(Model.of(network, id=staged.id)).reconstruct(codec.read(data, TINY_AFTER).codes, 48, 80)[0]
    np.testing.assert_array_equal(decoded.pictures[TINY_AFTER - 1].rgb, plain)


def test_stage_must_fit_the_network(tiny_staged):
    from dataclasses import replace

    from rnncodec.model import Model

    network, staged = tiny_staged
    stage = staged.stage
    with pytest.raises(ValueError, match="does not fit this network"):  # too few levels for the iterations after K
        Model.of(network, replace(stage, basis=stage.basis[:-1], alpha=stage.alpha[:-1]))
    more = replace(stage, basis=np.concatenate([stage.basis] * 2), alpha=np.concatenate([stage.alpha] * 2))
    assert Model.of(network, more).stage.iterations == 2 * stage.iterations  # more levels: layered files use them


def test_the_encoder_codes_what_the_decoders_picture_leaves(tiny_staged):
    _, staged = tiny_staged
    x = image_to_network(smooth_image(32, 48, seed=12))
    top = staged.config.max_iterations
    bits = list(staged.encode_bits(x, top))
    steps = list(staged.reconstructions(np.concatenate(bits) > 0))
    state = staged.stage.start(steps[TINY_AFTER - 1][1])
    for t in range(TINY_AFTER + 1, top + 1):
        expected, increment, state = staged.stage.encode(x - steps[t - 2][0], t, state)
        np.testing.assert_array_equal(bits[t - 1], expected)  # one reconstruction, one state on both sides
        np.testing.assert_array_equal(increment, steps[t - 1][1])


# --- block stage files ---------------------------------------------------------------------------
def test_block_stage_file_round_trip(stage_file, tiny_staged):
    from rnncodec.weights import is_block_stage, load_block_stage, network_weights, read_config, read_facts

    stage = tiny_staged[1].stage
    assert is_block_stage(stage_file) and not is_block_stage(network_weights(stage_file))
    loaded = load_block_stage(stage_file)
    assert (loaded.after, loaded.step, loaded.exponent, loaded.center) == (stage.after, stage.step, stage.exponent, stage.center)
    np.testing.assert_array_equal(loaded.basis, stage.basis)
    np.testing.assert_array_equal(loaded.alpha, stage.alpha)
    assert read_config(stage_file) == tiny_staged[0].cfg and read_facts(stage_file)["note"] == "test"


def test_float16_block_stage_file_holds_the_rounded_stage(tiny_staged, stage_file):
    from safetensors import safe_open

    from rnncodec.fitting import rounded
    from rnncodec.weights import STAGE, load_block_stage, network_weights, save_block_stage

    stage = tiny_staged[1].stage
    half = stage_file.with_name("net-stage16.safetensors")
    save_block_stage(half, network_weights(stage_file), stage, None, "float16")
    with safe_open(str(half), framework="numpy") as f:
        assert {f.get_tensor(name).dtype for name in STAGE} == {np.dtype(np.float16)}
    loaded, expected = load_block_stage(half), rounded(stage, "float16")
    np.testing.assert_array_equal(loaded.basis, expected.basis)
    np.testing.assert_array_equal(loaded.alpha, expected.alpha)
    assert not np.array_equal(expected.basis, stage.basis)  # the rounding is real
    assert half.stat().st_size < 0.6 * stage_file.stat().st_size


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_codec_runs_a_block_stage_file(stage_file, tiny_staged, engine):
    from rnncodec.codec import ModelPipeline
    from rnncodec.images import Picture

    codec = ModelPipeline.load(stage_file, engine=engine)
    assert codec.stage is not None and codec.model.network_path == stage_file.with_name("net.safetensors")
    rgb = smooth_image(32, 48, seed=13)
    data = codec.encode(Picture(rgb, "RGB"), codec.max_iterations)
    in_memory = ModelPipeline(replace(tiny_staged[1], id=codec.model_id)).decode(data).picture.rgb  # the PyTorch network
    assert np.abs(codec.decode(data).picture.rgb.astype(int) - in_memory).max() <= 1


def test_block_stage_file_refuses_a_changed_network(stage_file):
    from rnncodec.codec import ModelPipeline
    from rnncodec.errors import WeightsError

    network = stage_file.with_name("net.safetensors")
    network.write_bytes(network.read_bytes() + b" ")
    with pytest.raises(WeightsError, match="not the file the stage was made for"):
        ModelPipeline.load(stage_file, engine="torch")
    network.unlink()
    with pytest.raises(WeightsError, match="cannot read weights"):
        ModelPipeline.load(stage_file, engine="torch")


def test_block_stage_file_must_lie_beside_its_network(tiny_staged, tiny_weights, tmp_path):
    from rnncodec.weights import save_block_stage

    with pytest.raises(ValueError, match="beside its network"):
        save_block_stage(tmp_path / "stage.safetensors", tiny_weights, tiny_staged[1].stage)


def test_fit_block_stage_command(image_folder, tiny_weights, tmp_path, capsys):
    import shutil

    from rnncodec.cli.main import main
    from rnncodec.codec import ModelPipeline
    from rnncodec.images import Picture
    from rnncodec.weights import load_block_stage

    network = tmp_path / "net.safetensors"
    shutil.copyfile(tiny_weights, network)
    out = tmp_path / "net-stage.safetensors"
    args = ["fit-block-stage", str(network), "--data", str(image_folder), "-o", str(out), "--after", "3",
            "--crops", "8", "--crop", "64", "--images", "2", "--levels", "20"]
    main(args)
    assert "wrote" in capsys.readouterr().out
    assert (load_block_stage(out).after, load_block_stage(out).iterations) == (3, 20)  # more levels than iterations after 3
    with pytest.raises(SystemExit):
        main(args[:-1] + ["5", "-o", str(tmp_path / "few.safetensors")])
    assert "needs at least 13 levels" in capsys.readouterr().err
    codec = ModelPipeline.load(out, engine="torch")
    rgb = smooth_image(40, 56, seed=14)
    decoded = codec.decode(codec.encode(Picture(rgb, "RGB"), 6), keep_all=True)
    assert len(decoded.pictures) == 6
    with pytest.raises(SystemExit):
        main(args)  # the output exists: kept without -f
    assert "exists" in capsys.readouterr().err
    from PIL import Image

    Image.fromarray(rgb).save(tmp_path / "in.png")
    main(["encode", str(tmp_path / "in.png"), "-q", "6", "-o", str(tmp_path / "in.rgc"), "--model", str(out)])
    main(["decode", str(tmp_path / "in.rgc"), "-o", str(tmp_path / "out.png"), "--model", str(out)])
    expected = ModelPipeline.load(out).decode((tmp_path / "in.rgc").read_bytes()).picture.rgb  # the CLI's engine
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), expected)
    assert ModelPipeline.load(out).read((tmp_path / "in.rgc").read_bytes()).header.iterations == 6
    with pytest.raises(SystemExit):
        main(["fit-block-stage", str(out), "--data", str(image_folder), "-o", str(tmp_path / "again.safetensors")])
    assert "is a block stage file" in capsys.readouterr().err


def test_default_network_is_the_default_models_network():
    from rnncodec.weights import default_network_path, default_weights_path, is_block_stage, load_network, network_weights

    default, network = default_weights_path(), default_network_path()
    assert not is_block_stage(network)
    assert network == (network_weights(default) if is_block_stage(default) else default)
    assert load_network().cfg == load_network(network).cfg  # what training warm-starts from by default
