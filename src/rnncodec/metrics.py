"""Image-quality metrics (PSNR, MS-SSIM) and Bjøntegaard rate–distortion deltas."""

from __future__ import annotations

import math

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _library_ms_ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim  # private: pyproject pins pytorch-msssim exactly

from .pixels import to_image

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, finest scale first
MS_SSIM_WINDOW = 11
MS_SSIM_SIGMA = 1.5


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB (peak 255) over all pixels and channels of two uint8 images; inf if identical."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def batch_psnr(x: torch.Tensor, recon: torch.Tensor) -> list[float]:
    """:func:`psnr` of each image of two (B, 3, H, W) network-range batches, both rounded to 8 bits."""
    originals, decoded = (to_image(t.detach().float().cpu().numpy()) for t in (x, recon))
    return [psnr(a, b) for a, b in zip(originals, decoded)]


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales an image supports: all 5 once its smaller side exceeds 160 px.

    Each scale halves the image, and the last must still be larger than the
    window less one (10 px): the bound pytorch_msssim asserts, 160 = 10 * 2**4.
    """
    side, scales = min(height, width), 0
    while scales < len(MS_SSIM_WEIGHTS) and side > (MS_SSIM_WINDOW - 1) * 2**scales:
        scales += 1
    return scales


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (data range 255) of two uint8 images, (H, W, 3) RGB or (H, W) grayscale.

    Channels are scored separately and averaged. Images whose smaller side
    exceeds 160 px get the standard five scales via ``pytorch_msssim.ms_ssim``.
    Smaller images, which that function rejects, use as many scales as fit
    (see :func:`ms_ssim_scales`) with the standard weights truncated and
    renormalised, computed with pytorch_msssim's per-scale SSIM; such scores
    are not comparable with five-scale ones.
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    x, y = (_to_batch(image) for image in (a, b))
    scales = ms_ssim_scales(*a.shape[:2])
    if scales == 0:
        raise ValueError(f"image {a.shape[:2]} too small for MS-SSIM (smaller side must exceed 10 px)")
    if scales == len(MS_SSIM_WEIGHTS):
        return float(_library_ms_ssim(x, y, data_range=255, weights=list(MS_SSIM_WEIGHTS)))
    return _few_scale_ms_ssim(x, y, scales)


def _to_batch(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W[, C]) → float32 (1, C, H, W)."""
    t = torch.from_numpy(np.array(image, dtype=np.float32))
    return (t[None] if t.ndim == 2 else t.movedim(-1, 0))[None]


def _few_scale_ms_ssim(x: torch.Tensor, y: torch.Tensor, scales: int) -> float:
    """MS-SSIM over the first ``scales`` scales, as ``pytorch_msssim.ms_ssim`` computes all five."""
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=x.dtype)
    weights *= sum(MS_SSIM_WEIGHTS) / weights.sum()  # the standard weights total 1.0001, not 1
    window = _fspecial_gauss_1d(MS_SSIM_WINDOW, MS_SSIM_SIGMA).to(x.dtype).repeat(x.shape[1], 1, 1, 1)
    factors = []
    for scale in range(scales):
        ssim_per_channel, contrast_structure = _ssim(x, y, data_range=255, win=window, size_average=False)
        if scale < scales - 1:
            factors.append(torch.relu(contrast_structure))
            padding = [s % 2 for s in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=padding)
    factors.append(torch.relu(ssim_per_channel))
    per_channel = torch.prod(torch.stack(factors) ** weights.view(-1, 1, 1), dim=0)
    return float(per_channel.mean())


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on a decibel scale, -10·log10(1 - MS-SSIM), as papers plot it."""
    return float("inf") if value >= 1 else -10 * math.log10(1 - value)


def bd_rate(rate_ref, dist_ref, rate_test, dist_test) -> float:
    """Bjøntegaard delta rate in percent: the test's average rate change at equal distortion.

    Negative means the test needs fewer bits. Distortion is a higher-is-better
    score (PSNR, MS-SSIM in dB). Fits log-rate as a cubic in distortion for each
    curve and averages their gap over the distortion interval both curves cover.
    """
    log_ref, dist_ref, log_test, dist_test = _log_rate_curves(rate_ref, dist_ref, rate_test, dist_test)
    return float((10 ** _mean_gap(dist_ref, log_ref, dist_test, log_test) - 1) * 100)


def bd_psnr(rate_ref, dist_ref, rate_test, dist_test) -> float:
    """Bjøntegaard delta distortion (dB for PSNR): the test's average gain at equal rate.

    Positive means the test is better. Fits distortion as a cubic in log-rate
    for each curve and averages their gap over the log-rate interval both cover.
    """
    return float(_mean_gap(*_log_rate_curves(rate_ref, dist_ref, rate_test, dist_test)))


def _log_rate_curves(rate_ref, dist_ref, rate_test, dist_test) -> tuple[np.ndarray, ...]:
    """Validate two rate–distortion curves; return (log10 rate, distortion) of each as float arrays."""
    curves = []
    for rate, dist in ((rate_ref, dist_ref), (rate_test, dist_test)):
        rate, dist = np.asarray(rate, dtype=np.float64), np.asarray(dist, dtype=np.float64)
        if rate.ndim != 1 or rate.shape != dist.shape:
            raise ValueError("each curve needs equally long 1-D rate and distortion sequences")
        if len(rate) < 4:
            raise ValueError(f"a Bjøntegaard fit needs at least 4 points per curve, got {len(rate)}")
        if not (np.isfinite(rate).all() and np.isfinite(dist).all() and (rate > 0).all()):
            raise ValueError("rates must be positive and finite, distortions finite")
        curves += [np.log10(rate), dist]
    return tuple(curves)


def _mean_gap(x_ref: np.ndarray, y_ref: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Mean of (test − reference) between cubic fits y(x), over the x interval both curves span."""
    low, high = max(x_ref.min(), x_test.min()), min(x_ref.max(), x_test.max())
    if not low < high:
        raise ValueError("the two curves do not overlap")
    integrals = []
    for x, y in ((x_ref, y_ref), (x_test, y_test)):
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        integrals.append(np.polyval(antiderivative, high) - np.polyval(antiderivative, low))
    return (integrals[1] - integrals[0]) / (high - low)


def haar_octave_energies(x: torch.Tensor, octaves: int = 4) -> torch.Tensor:
    """Energy of each orthonormal Haar octave's detail bands, finest first, then of the final
    approximation, summed over a (B, C, H, W) batch: (octaves + 1,); together the whole energy."""
    energies = []
    for _ in range(octaves):
        approx = torch.nn.functional.avg_pool2d(x, 2) * 2  # orthonormal Haar low-pass
        energies.append(x.pow(2).sum() - approx.pow(2).sum())  # what the three detail bands hold
        x = approx
    energies.append(x.pow(2).sum())
    return torch.stack(energies)
