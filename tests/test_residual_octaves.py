import importlib.util
import sys
from pathlib import Path

import torch
from PIL import Image

from conftest import smooth_image

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark():
    sys.path.insert(0, str(BENCHMARKS))  # for its `folders` import
    spec = importlib.util.spec_from_file_location("residual_octaves", BENCHMARKS / "residual_octaves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_haar_bands_split_the_energy_exactly_and_by_scale():
    octaves = load_benchmark()
    x = torch.randn(2, 3, 64, 64)
    assert torch.isclose(octaves.band_energies(x).sum(), x.pow(2).sum(), rtol=1e-5)
    checker = (torch.arange(64).view(1, 1, 64, 1) + torch.arange(64).view(1, 1, 1, 64)) % 2 * 2.0 - 1
    finest, *rest = octaves.band_energies(checker.expand(1, 3, 64, 64))
    assert finest > 0 and all(e.abs() < 1e-3 * finest for e in rest)  # pixel-level detail: all in the finest octave
    flat = octaves.band_energies(torch.full((1, 3, 64, 64), 0.3))
    assert flat[-1] > 0 and flat[:-1].abs().max() < 1e-3 * flat[-1]  # no detail: all in the approximation


def test_measure_reports_psnr_and_removed_shares_per_iteration(tiny_weights, tmp_path):
    octaves = load_benchmark()
    crops = torch.from_numpy(smooth_image(64, 64)).float().div(255).sub(0.5).permute(2, 0, 1)[None]
    rows = octaves.measure(str(tiny_weights), crops, 3)
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    assert all(set(r["removed"]) == set(octaves.BANDS) and all(v <= 1 for v in r["removed"].values()) for r in rows)
