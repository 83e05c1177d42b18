"""Rate and quality targets: a size or bpp budget is never exceeded and is filled as far as whole
iterations allow; a PSNR target is met with the fewest iterations; decoding within a budget is what
a client holding only that many bytes decodes."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncodec
from conftest import smooth_image
from rnncodec import RnncodecWarning, TargetError
from rnncodec.bitstream import read
from rnncodec.metrics import psnr


@pytest.fixture(scope="module")
def codec(tiny_weights):
    return rnncodec.Codec(tiny_weights)


@pytest.fixture(scope="module")
def image():
    return smooth_image(40, 56, seed=11)


@pytest.fixture(scope="module")
def full(codec, image):
    """The 16-iteration file every target is cut from, and the size of each cut."""
    data = codec.encode(image, 16)
    return data, read(data).chunk_ends


def test_a_cut_is_the_file_that_many_iterations_encode(codec, image, full):
    data, ends = full
    for k in (1, 5, 16):
        cut = read(data).cut(k)
        assert cut == codec.encode(image, k) and len(cut) == ends[k - 1]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(budget=st.integers(1, 700))
def test_a_size_budget_is_never_exceeded_and_filled_by_whole_iterations(codec, image, full, budget):
    data, ends = full
    if budget < ends[0]:
        with pytest.raises(TargetError, match=f"1 iteration takes {ends[0]} bytes .* more than the budget of {budget} bytes"):
            codec.encode(image, size=budget)
        return
    out = codec.encode(image, size=budget)
    k = rnncodec.info(out).header.iterations
    assert len(out) <= budget and len(out) == ends[k - 1]
    assert k == 16 or ends[k] > budget  # one more iteration would not fit
    assert not rnncodec.info(out).truncated  # a complete file: its header declares what it holds


def test_a_bpp_budget_is_a_size_budget_in_bits_per_pixel(codec, image, full):
    data, ends = full
    pixels = image.shape[0] * image.shape[1]
    for bpp in (ends[0] * 8 / pixels, 0.5, 0.77, 10.0):
        out = codec.encode(image, bpp=bpp)
        assert len(out) * 8 / pixels <= bpp
        assert out == codec.encode(image, size=int(bpp * pixels // 8))


def test_a_psnr_target_is_met_with_the_fewest_iterations(codec, image, full):
    data, _ = full
    psnrs = codec.psnr_per_iteration(data, image)
    for target in sorted(set(psnrs))[:4]:
        out = codec.encode(image, psnr=target)
        k = rnncodec.info(out).header.iterations
        assert psnrs[k - 1] >= target and all(p < target for p in psnrs[: k - 1])
        assert out == codec.encode(image, k)
        decoded = np.asarray(codec.decode(out))
        assert psnr(decoded, image) == pytest.approx(psnrs[k - 1])


def test_a_psnr_target_no_iteration_reaches_keeps_all_with_a_warning(codec, image, full):
    with pytest.warns(RnncodecWarning, match="no iteration reaches 99 dB"):
        out = codec.encode(image, psnr=99)
    assert out == full[0]


@pytest.mark.parametrize("arguments, message", [
    ({"iterations": 4, "size": 100}, "at most one of iterations, size, bpp, psnr"),
    ({"size": 100, "psnr": 20}, "at most one"),
    ({"size": 0}, r"size must be a positive int \(bytes\), got 0"),
    ({"bpp": -1.0}, "bpp must be a positive number"),
    ({"psnr": float("nan")}, "psnr must be a positive number"),
])
def test_targets_are_checked(codec, image, arguments, message):
    with pytest.raises(ValueError, match=message):
        codec.encode(image, **arguments)


def test_decoding_within_a_size_is_decoding_the_prefix_a_client_holds(codec, full):
    data, ends = full
    steps = codec.decode_iterations(data)
    for budget in (ends[0], ends[0] + 3, ends[6] - 1, ends[15] - 1):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the budget is asked for: no "truncated" warning
            image = codec.decode(data, size=budget)
        k = sum(end <= budget for end in ends)
        assert image.info["iterations"] == k and np.array_equal(np.asarray(image), np.asarray(steps[k - 1]))
    assert codec.decode(data, 3, size=ends[6]).info["iterations"] == 3  # -n and --size: the fewer
    with pytest.raises(TargetError, match=f"1 iteration takes {ends[0]} bytes"):
        codec.decode(data, size=ends[0] - 1)
    pixels = 40 * 56
    assert codec.decode(data, bpp=ends[4] * 8 / pixels).info["iterations"] == 5


def test_decoding_within_a_size_refuses_damage_inside_the_budget_only(codec, full):
    data, ends = full
    damaged = bytearray(data)
    damaged[ends[5] - 2] ^= 1  # iteration 6's CRC
    damaged = bytes(damaged)
    assert codec.decode(damaged, size=ends[4]).info["iterations"] == 5
    assert codec.decode(damaged, size=ends[5] - 1).info["iterations"] == 5  # iteration 6 not all there: not seen
    with pytest.raises(rnncodec.DamageError, match="iteration 6"):
        codec.decode(damaged, size=ends[5])
