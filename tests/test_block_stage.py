import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncodec.block_stage import BLOCK, SHAPE_BITS, fit_block_stage, from_blocks, to_blocks


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
    enc_scale = dec_scale = stage.start_scale(last)
    steps = []
    for t in range(stage.after + 1, stage.after + stage.iterations + 1):
        bits, increment, enc_scale = stage.encode(residual, t, enc_scale)
        decoded, dec_scale = stage.decode(bits, t, dec_scale)
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
    assert stage.basis.shape == (3, 3 * BLOCK * BLOCK, SHAPE_BITS) and stage.alpha.shape == (3, SHAPE_BITS)
    assert np.all(stage.alpha > 0) and stage.exponent > 0
    basis = stage.basis[0].astype(np.float64)
    np.testing.assert_allclose(basis.T @ basis, np.eye(SHAPE_BITS), atol=1e-5)  # orthonormal components


def test_decoder_follows_encoder(fitted):
    stage, residual, last = fitted
    for bits, increment, decoded, _ in run(stage, residual, last):
        assert bits.shape == (8, SHAPE_BITS + 1, 4, 4) and set(np.unique(bits)) == {-1.0, 1.0}
        np.testing.assert_allclose(decoded, increment, atol=1e-6)


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
    assert np.mean(bits[:, SHAPE_BITS] < 0) > 0.95


def test_iterations_outside_the_stage_are_refused(fitted):
    stage, residual, last = fitted
    scale = stage.start_scale(last)
    for t in (stage.after, stage.after + stage.iterations + 1):
        with pytest.raises(ValueError, match="not in the block stage"):
            stage.encode(residual, t, scale)
