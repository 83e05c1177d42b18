import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"


def curve(rates, psnrs, with_speed: bool) -> list[dict]:
    """Points whose MS-SSIM in dB is half the PSNR, so both BD-rates agree."""
    return [{"setting": i, "bpp": r, "psnr": q, "ms_ssim": 1 - 10 ** (-q / 20),
             **({"encode_s": 0.01, "decode_s": 0.02} if with_speed else {})}
            for i, (r, q) in enumerate(zip(rates, psnrs))]


def test_report_writes_plot_tables_and_bd_numbers(tmp_path):
    rates = [0.125, 0.25, 0.5, 1.0, 2.0, 3.0]
    psnrs = [30 + 3 * np.log2(r) for r in rates]  # 3 dB per doubling
    conventional = {"dataset": "synthetic", "images": 2, "codecs": {
        "JPEG": {"points": curve(rates, psnrs, True),
                 "process": {"setting": 3, "encode_wall_s": 0.1, "decode_wall_s": 0.2,
                             "encode_peak_mib": 20.0, "decode_peak_mib": 21.0}},
        "WebP": {"points": curve(rates[:3], psnrs[:3], True)}}}  # too few points for a BD fit
    ours = {"dataset": "synthetic", "images": 2, "codecs": {
        "rnncodec": {"points": curve([r / 2 for r in rates], psnrs, False), "encode_s": 1.5, "decode_s": 0.5}}}
    paths = []
    for name, result in (("conv.json", conventional), ("ours.json", ours)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(result))
    out = tmp_path / "docs"
    run = subprocess.run([sys.executable, str(REPORT), "--json", *map(str, paths), "--out-dir", str(out)],
                         capture_output=True, text=True, check=True)

    assert (out / "rd.png").read_bytes().startswith(b"\x89PNG")
    markdown = (out / "results.md").read_text()
    assert markdown.startswith("Produced by `python benchmarks/report.py --json ")
    assert "conv.json (synthetic, 2 images), ours.json" in markdown
    jpeg_row = next(line for line in markdown.splitlines() if line.startswith("| JPEG | 0.125–1.500 |"))
    assert jpeg_row.endswith("| -50.0% | -50.0% | +3.00 dB |")
    assert jpeg_row in run.stdout
    assert "| WebP |" in run.stdout and "at least 4 points" in run.stdout
    assert "| JPEG | 3 | 1.000 | 0.100 | 0.200 | 20.0 | 21.0 |" in markdown
    assert "| 0 | 0.0625 | 21.00 | 0.9109 | – | – |" in markdown
    assert "encode 1.500, decode 0.500" in markdown
    # standings: each codec's point nearest to rnncodec's 1-iteration rate (setting 1: 0.125 bpp)
    assert "| codec | ~0.12 bpp |" in markdown
    assert "| JPEG | 21.00 dB, 0.911 @0.125 |" in markdown
    # against JPEG at equal bpp: rnncodec's curve is JPEG's at half the rate, so 3 dB above it
    assert "| 0.25 | 27.00 | 24.00 | +3.00 |" in markdown
    assert "| 1 | 33.00 | 30.00 | +3.00 |" in markdown
    assert "| 0 | 0.0625 | 0.9109 | – | – |" in markdown  # below JPEG's lowest rate
    assert "| 1 | 0.1250 | 0.9369 | 0.9109 | rnncodec |" in markdown
    assert "| 4 | 1.0000 | 0.9776 | 0.9684 | rnncodec |" in markdown
    assert "| 5 | 1.5000 | 0.9" not in markdown  # the MS-SSIM comparison stops at 1 bpp
