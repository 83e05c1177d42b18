"""Evaluation through the real file path: encode to .rgc bytes, decode every iteration, measure."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .bitstream import CHUNK_OVERHEAD
from .codec import ModelPipeline
from .data import list_images
from .images import read_picture
from .limits import BLOCK, DEFAULT_TUNE
from .metrics import ms_ssim, psnr
from .weights import read_metadata


def evaluate_folder(folder: str | Path, iteration_counts: list[int], weights: str | Path | None = None,
                    paths: list[Path] | None = None, allocation: str = "rd", tune: str = DEFAULT_TUNE,
                    effort: int = 0) -> dict:
    """Mean real bpp, PSNR and MS-SSIM over the images of folder for each iteration count.

    One encode at the largest count per image; the file cut after chunk k is the k-iteration file
    (it decodes to exactly what ``decode -n k`` gives), so its size is the k-iteration size.
    ``paths``: these images of the folder only; ``allocation``, ``tune``, ``effort``: see :class:`rnncodec.codec.ModelPipeline`.
    """
    codec = ModelPipeline.load(weights, allocation=allocation, tune=tune, effort=effort)
    top = max(iteration_counts)
    paths = list_images(folder) if paths is None else paths
    rows = {k: {"bpp": [], "raw_bpp": [], "psnr": [], "ms_ssim": []} for k in iteration_counts}
    encode_s, decode_s = [], []
    for path in tqdm(paths, desc="eval", file=sys.stderr, disable=None):
        picture = read_picture(path.read_bytes())
        h, w = picture.rgb.shape[:2]
        t0 = time.perf_counter()
        data = codec.encode(picture, top)
        t1 = time.perf_counter()
        decoded = codec.decode(data, keep_all=True)
        decode_s.append(time.perf_counter() - t1)
        encode_s.append(t1 - t0)
        raw_chunk = CHUNK_OVERHEAD + decoded.header.raw_code_bytes
        for k in iteration_counts:
            out = decoded.pictures[k - 1].rgb
            rows[k]["bpp"].append(decoded.chunk_ends[k - 1] * 8 / (h * w))
            rows[k]["raw_bpp"].append((decoded.header.size + k * raw_chunk) * 8 / (h * w))
            rows[k]["psnr"].append(psnr(picture.rgb, out))
            rows[k]["ms_ssim"].append(ms_ssim(picture.rgb, out))
    meta = read_metadata(codec.model.network_path)  # training facts: the network's
    points = [
        {"setting": k, "nominal_bpp": k * codec.cfg.code_channels / (BLOCK * BLOCK),
         **{name: float(np.mean(values)) for name, values in rows[k].items()}}
        for k in iteration_counts
    ]
    return {
        "dataset": Path(folder).name,
        "images": len(paths),
        "tune": tune,
        "effort": effort,
        "model": {"weights": codec.model.path.name, "model_id": codec.model_id.hex(), "step": meta.get("step"),
                  "train_seconds": meta.get("train_seconds")},
        "codecs": {"rnncodec": {"points": points, "encode_s": statistics.median(encode_s),
                                "decode_s": statistics.median(decode_s), "encode_iterations": top}},
    }


def format_table(result: dict) -> str:
    """The evaluation as a Markdown table (the model card's table)."""
    codec = result["codecs"]["rnncodec"]
    lines = [
        f"{result['images']} images of {result['dataset']}; weights {result['model']['weights']} "
        f"(step {result['model']['step']}, id {result['model']['model_id']}); tune {result['tune']}"
        + (f", effort {result['effort']}" if result.get("effort") else ""),
        "",
        "| iterations | nominal bpp | real bpp | saved vs raw codes | PSNR (dB) | MS-SSIM |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for p in codec["points"]:
        saved = 100 * (1 - p["bpp"] / p["raw_bpp"])
        lines.append(f"| {p['setting']} | {p['nominal_bpp']:.3f} | {p['bpp']:.4f} | {saved:.1f}% | {p['psnr']:.2f} | {p['ms_ssim']:.4f} |")
    lines.append("")
    lines.append(f"median seconds per image: encode {codec['encode_s']:.2f} ({codec['encode_iterations']} iterations), "
                 f"decode {codec['decode_s']:.2f} (all iterations, progressively)")
    return "\n".join(lines)
