import json

import pytest
from PIL import Image

from conftest import smooth_image
from rnncodec.evaluate import evaluate_folder, format_table


def test_eval_on_two_tiny_images(tmp_path, tiny_weights):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, (h, w) in enumerate([(40, 56), (33, 17)]):
        Image.fromarray(smooth_image(h, w, seed=i)).save(folder / f"im{i}.png")
    result = evaluate_folder(folder, [1, 3], tiny_weights)
    points = result["codecs"]["rnncodec"]["points"]
    assert result["images"] == 2 and [p["setting"] for p in points] == [1, 3]
    one, three = points
    assert 0 < one["bpp"] < three["bpp"] <= three["raw_bpp"]  # real bytes, never above raw codes
    assert one["nominal_bpp"] == pytest.approx(1 * 8 / 256)  # the tiny model codes 8 channels
    assert all(0 < p["psnr"] < 60 and 0 < p["ms_ssim"] <= 1 for p in points)
    table = format_table(result)
    assert "| 3 |" in table and "PSNR" in table
    json.dumps(result)  # the --json output is plain JSON
