"""The decoder's post-filter (rnncodec.postfilter): carried by a block stage file, run by ONNX Runtime on
every decoded picture as its PyTorch definition computes it, fitted by ``rnncodec fit-postfilter``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from rnncodec import postfilter
from rnncodec.cli.main import cli
from rnncodec.codec import ModelPipeline
from rnncodec.errors import WeightsError
from rnncodec.images import Picture
from rnncodec.model import load_model
from rnncodec.postfilter_training import PostFilterNet, save_with_postfilter

from conftest import smooth_image


def random_filter(seed: int = 0) -> PostFilterNet:
    """A post-filter whose every parameter is random, so it visibly changes pictures."""
    generator = torch.Generator().manual_seed(seed)
    net = PostFilterNet(channels=8, layers=3, iterations=16)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return net.eval()


@pytest.fixture
def filtered_model(stage_file):
    """The tiny staged model's stage file with a random post-filter added, and that filter."""
    net = random_filter()
    out = stage_file.with_name("net-stage-filtered.safetensors")
    save_with_postfilter(stage_file, out, net)
    return out, net


def torch_filtered(net: PostFilterNet, rgb: np.ndarray, t: int) -> np.ndarray:
    with torch.no_grad():
        y = net(torch.from_numpy(rgb).permute(2, 0, 1)[None].float(), torch.tensor([t]))
    return torch.clamp(torch.round(y), 0, 255).byte()[0].permute(1, 2, 0).numpy()


def test_every_decoded_picture_is_filtered_as_the_pytorch_filter_computes(filtered_model):
    path, net = filtered_model
    model = load_model(path)
    assert model.postfilter is not None
    with_filter, without = ModelPipeline(model), ModelPipeline(replace(model, postfilter=None))
    data = with_filter.encode(Picture(smooth_image(40, 56, seed=3), "RGB"), 6)
    pictures = [p.rgb for p in with_filter.decode(data, keep_all=True).pictures]
    raw = [p.rgb for p in without.decode(data, keep_all=True).pictures]
    assert len(pictures) == 6
    for t, (picture, unfiltered) in enumerate(zip(pictures, raw), start=1):
        expected = torch_filtered(net, unfiltered, t)
        assert np.abs(picture.astype(int) - expected).max() <= 1 and (picture == expected).mean() > 0.99
        assert (picture != unfiltered).mean() > 0.1  # the filter is not a no-op: this test can fail
    assert np.array_equal(with_filter.decode(data, iterations=4).picture.rgb, pictures[3])  # the last picture too


def test_strips_give_the_whole_pictures_result(filtered_model, monkeypatch):
    model = load_model(filtered_model[0])
    rgb = smooth_image(100, 40, seed=5)
    whole = model.postfilter.apply(rgb, 3)
    monkeypatch.setattr(postfilter, "STRIP_PIXELS", 16 * 40)
    assert len(postfilter.strips(100, 40)) == 7
    assert np.array_equal(model.postfilter.apply(rgb, 3), whole)


def test_a_missing_graph_is_refused_naming_it(filtered_model):
    path, _ = filtered_model
    postfilter.graph_path(path).unlink()
    with pytest.raises(WeightsError, match=r"net-stage-filtered\.postfilter\.onnx"):
        load_model(path)


def test_non_finite_parameters_are_refused(stage_file):
    net = random_filter()
    with torch.no_grad():
        net.convs[1].bias[0] = float("nan")
    out = stage_file.with_name("bad.safetensors")
    save_with_postfilter(stage_file, out, net)
    with pytest.raises(WeightsError, match="post-filter"):
        load_model(out)


def test_fit_postfilter_writes_a_model_that_decodes(stage_file, tmp_path):
    data = tmp_path / "photos"
    data.mkdir()
    for name, seed in [("photo0.png", 0), ("photo1.png", 1), ("photo69.png", 2)]:  # photo69: the validation split
        Image.fromarray(smooth_image(256, 272, seed=seed)).save(data / name)
    out = stage_file.with_name("fitted.safetensors")
    result = CliRunner().invoke(cli, ["fit-postfilter", str(stage_file), "--data", str(data), "-o", str(out),
                                      "--crops", "4", "--steps", "3", "--channels", "4", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "validation split (1 centre crops): PSNR gain per iteration count" in result.output
    model = load_model(out)
    assert model.postfilter is not None and model.stage is not None
    again = CliRunner().invoke(cli, ["fit-postfilter", str(stage_file), "--data", str(data), "-o", str(out), "--steps", "1"])
    assert again.exit_code == 1 and "exists" in again.output
