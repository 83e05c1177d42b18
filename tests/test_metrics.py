import math

import numpy as np
import pytest
from pytorch_msssim import ms_ssim as library_ms_ssim

from conftest import smooth_image
from rnncodec.metrics import (
    _few_scale_ms_ssim,
    _to_batch,
    bd_psnr,
    bd_rate,
    haar_octave_energies,
    ms_ssim,
    ms_ssim_db,
    ms_ssim_scales,
    psnr,
)

# A realistic, not exactly cubic, rate–distortion curve: bpp and PSNR (dB).
RATES = np.array([0.12, 0.25, 0.5, 1.0, 2.0])
PSNRS = np.array([24.1, 26.7, 29.3, 32.8, 36.6])


def test_psnr_of_a_constant_offset_of_one_is_20_log10_255():
    a = np.full((8, 10, 3), 100, np.uint8)
    assert psnr(a, a + 1) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert psnr(a, a + 1) == pytest.approx(48.1308, abs=1e-4)


def test_psnr_counts_every_channel_and_pixel():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 4  # mse = 16 / 48
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 * 3), abs=1e-12)
    assert psnr(np.zeros((5, 5), np.uint8), np.full((5, 5), 255, np.uint8)) == 0.0


def test_psnr_of_identical_images_is_infinite_and_shapes_must_match():
    a = smooth_image(16, 16)
    assert psnr(a, a.copy()) == float("inf")
    with pytest.raises(ValueError):
        psnr(a, a[:8])


def test_ms_ssim_scales_follow_the_library_bound():
    assert ms_ssim_scales(512, 768) == 5
    assert ms_ssim_scales(161, 400) == 5
    assert ms_ssim_scales(160, 400) == 4
    assert ms_ssim_scales(64, 64) == 3
    assert ms_ssim_scales(11, 11) == 1
    assert ms_ssim_scales(10, 40) == 0


def noisy_copy(image: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(1).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(64, 64), (176, 192)])
def test_ms_ssim_is_one_for_identical_and_falls_with_noise(shape):
    a = smooth_image(*shape)
    assert ms_ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-9)
    slightly, badly = ms_ssim(a, noisy_copy(a, 4)), ms_ssim(a, noisy_copy(a, 30))
    assert 0.3 < badly < slightly < 0.999


def test_ms_ssim_accepts_grayscale_and_rejects_tiny_images():
    a = smooth_image(48, 48, channels=1)[..., 0]
    assert 0.5 < ms_ssim(a, np.clip(a.astype(int) + 6, 0, 255).astype(np.uint8)) < 1
    with pytest.raises(ValueError):
        ms_ssim(a[:10], a[:10])


def test_few_scale_path_matches_the_library_at_five_scales():
    a, b = smooth_image(176, 192, seed=2), smooth_image(176, 192, seed=3)
    x, y = _to_batch(a), _to_batch(b)
    expected = float(library_ms_ssim(x, y, data_range=255))
    assert _few_scale_ms_ssim(x, y, 5) == pytest.approx(expected, abs=1e-6)
    assert ms_ssim(a, b) == expected


def test_ms_ssim_db():
    assert ms_ssim_db(0.99) == pytest.approx(20.0)
    assert ms_ssim_db(1.0) == float("inf")


def test_bd_rate_of_half_the_rate_everywhere_is_minus_50_percent():
    assert bd_rate(RATES, PSNRS, RATES / 2, PSNRS) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(RATES, PSNRS, RATES * 2, PSNRS) == pytest.approx(100.0, abs=1e-6)


def test_identical_curves_have_no_delta():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)


def test_bd_psnr_of_a_curve_one_db_higher_is_plus_one():
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS + 1) == pytest.approx(1.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS + 1, RATES, PSNRS) == pytest.approx(-1.0, abs=1e-9)


def test_deltas_on_a_curve_linear_in_log_rate():
    """PSNR rising 3 dB per doubling: half the rate is worth 3 dB, and 1 dB costs 2**(1/3) in rate."""
    rates = np.array([0.125, 0.25, 0.5, 1.0, 2.0])
    psnrs = 30 + 3 * np.log2(rates)
    assert bd_psnr(rates, psnrs, rates / 2, psnrs) == pytest.approx(3.0, abs=1e-9)
    assert bd_rate(rates, psnrs, rates, psnrs + 1) == pytest.approx((2 ** (-1 / 3) - 1) * 100, abs=1e-9)


def test_bd_psnr_averages_over_the_overlapping_rates_only():
    """Reference 30 + 3x, x = log2(rate) in [-3, 1]; test adds x**2, x in [-1, 3]: mean x**2 on [-1, 1] is 1/3."""
    x_ref, x_test = np.linspace(-3, 1, 6), np.linspace(-1, 3, 6)
    gain = bd_psnr(2**x_ref, 30 + 3 * x_ref, 2**x_test, 30 + 3 * x_test + x_test**2)
    assert gain == pytest.approx(1 / 3, abs=1e-9)


@pytest.mark.parametrize("delta", [bd_rate, bd_psnr])
def test_deltas_reject_bad_curves(delta):
    with pytest.raises(ValueError, match="at least 4"):
        delta(RATES[:3], PSNRS[:3], RATES, PSNRS)
    with pytest.raises(ValueError, match="at least 4"):
        delta(RATES, PSNRS, RATES[:3], PSNRS[:3])
    with pytest.raises(ValueError, match="equally long"):
        delta(RATES, PSNRS[:4], RATES, PSNRS)
    with pytest.raises(ValueError, match="positive"):
        delta(RATES - 0.12, PSNRS, RATES, PSNRS)
    with pytest.raises(ValueError, match="overlap"):
        delta(RATES, PSNRS, RATES * 100, PSNRS + 30)


def test_haar_octaves_split_the_energy_exactly_and_by_scale():
    import torch

    x = torch.randn(2, 3, 64, 64)
    assert torch.isclose(haar_octave_energies(x).sum(), x.pow(2).sum(), rtol=1e-5)
    checker = (torch.arange(64).view(1, 1, 64, 1) + torch.arange(64).view(1, 1, 1, 64)) % 2 * 2.0 - 1
    finest, *rest = haar_octave_energies(checker.expand(1, 3, 64, 64))
    assert finest > 0 and all(e.abs() < 1e-3 * finest for e in rest)  # pixel-level detail: all in the finest octave
    flat = haar_octave_energies(torch.full((1, 3, 64, 64), 0.3))
    assert flat[-1] > 0 and flat[:-1].abs().max() < 1e-3 * flat[-1]  # no detail: all in the approximation
