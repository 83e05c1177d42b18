"""Rate–distortion and speed of Pillow's JPEG, WebP, JPEG 2000 and AVIF on a folder of PNG images.

    python benchmarks/conventional.py [DIR] --json OUT [--repeats N] [--resume]

For each codec and quality setting: mean real bpp (file bytes * 8 / pixels), mean
PSNR and MS-SSIM, and per-image encode and decode seconds in this process (the
median over --repeats runs of each image, averaged over the images; decode means
bytes to RGB pixels). Then, for each codec at the setting nearest 1 bpp, the
whole-process cost of the first image as a command-line tool would pay it: the
median wall seconds of a fresh ``python -c`` that reads the PNG and writes the
compressed file, and of one that reads that file and writes a PNG, with each
process's peak resident memory as GNU time (/usr/bin/time -f %M) reports it.
(getrusage or wait4 in this process would not do: a child's ru_maxrss starts
from the parent's resident size at fork, hundreds of MiB here with PyTorch.)

Everything runs on one thread: libavif is capped to one (it would take every
core), Pillow's other codecs are single-threaded, and MS-SSIM uses one PyTorch thread.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import AvifImagePlugin, Image, features
from tqdm import tqdm

from rnncodec.metrics import ms_ssim, psnr

from rnncodec.image_folders import add_image_folder

PROCESS_BPP = 1.0  # whole-process timing uses the setting whose mean bpp is nearest this
GNU_TIME = "/usr/bin/time"
ONE_AVIF_THREAD = "from PIL import AvifImagePlugin\nAvifImagePlugin.DEFAULT_MAX_THREADS = 1\n"


@dataclass(frozen=True)
class Codec:
    name: str
    pil_format: str
    feature: str  # PIL.features name that says whether this Pillow build has the codec
    suffix: str
    settings: tuple  # quality knob values, chosen to span about 0.1–2.5 bpp on photographs
    options: Callable[[float], dict]  # Pillow save options for one setting


CODECS = (
    Codec("JPEG", "JPEG", "jpg", ".jpg", (3, 5, 8, 12, 20, 30, 45, 60, 75, 85, 90, 94),
          lambda q: {"quality": q, "optimize": True, "subsampling": 2}),  # 4:2:0
    Codec("WebP", "WEBP", "webp", ".webp", (0, 5, 12, 25, 40, 55, 70, 80, 88, 92, 95),
          lambda q: {"quality": q, "method": 6}),
    # Setting: compression ratio against 24-bit RGB, so 24 / ratio is the target bpp.
    # mct=1 (RGB → YCbCr) is OpenJPEG's usual choice for colour; Pillow's default 0 costs about 4 dB.
    Codec("JPEG 2000", "JPEG2000", "jpg_2000", ".j2k", (240, 160, 120, 80, 60, 40, 30, 24, 19.2, 15, 12, 9.6),
          lambda r: {"quality_mode": "rates", "quality_layers": [r], "irreversible": True, "mct": 1, "no_jp2": True}),
    Codec("AVIF", "AVIF", "avif", ".avif", (10, 20, 30, 40, 50, 60, 70, 78, 85, 90, 94),
          lambda q: {"quality": q}),
)


def encode(rgb: Image.Image, codec: Codec, setting) -> bytes:
    buffer = io.BytesIO()
    rgb.save(buffer, codec.pil_format, **codec.options(setting))
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def median_seconds(action: Callable, repeats: int):
    """Run action ``repeats`` times; return its last result and the median seconds."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - start)
    return result, statistics.median(seconds)


def rd_point(images: list[np.ndarray], codec: Codec, setting, repeats: int, progress: tqdm) -> dict:
    """One setting of one codec over all images: means of bpp, PSNR, MS-SSIM and per-image seconds."""
    rows = []
    for original in images:
        picture = Image.fromarray(original)
        data, encode_s = median_seconds(lambda: encode(picture, codec, setting), repeats)
        decoded, decode_s = median_seconds(lambda: decode(data), repeats)
        rows.append((len(data) * 8 / (original.shape[0] * original.shape[1]),
                     psnr(original, decoded), ms_ssim(original, decoded), encode_s, decode_s))
        progress.update()
    means = np.mean(rows, axis=0)
    return {"setting": setting, **dict(zip(("bpp", "psnr", "ms_ssim", "encode_s", "decode_s"), map(float, means)))}


def timed_process(cmd: list[str], scratch: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MiB (GNU time) of one run of the command ``cmd``."""
    report = scratch / "peak_kib.txt"
    start = time.perf_counter()
    subprocess.run([GNU_TIME, "-f", "%M", "-o", str(report), *cmd], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return seconds, int(report.read_text().split()[-1]) / 1024


def median_process_cost(commands: dict[str, list[str]], repeats: int, scratch: Path) -> dict:
    """For each named command in order (e.g. "encode", then "decode"): median wall seconds and peak MiB."""
    result = {}
    for step, cmd in commands.items():
        runs = [timed_process(cmd, scratch) for _ in range(repeats)]
        result[f"{step}_wall_s"] = statistics.median(seconds for seconds, _ in runs)
        result[f"{step}_peak_mib"] = statistics.median(mib for _, mib in runs)
    return result


def process_cost(png: Path, codec: Codec, setting, repeats: int, scratch: Path) -> dict:
    """Median wall seconds and peak MiB of fresh processes that encode ``png`` and decode the result to PNG."""
    compressed, restored = scratch / f"encoded{codec.suffix}", scratch / "decoded.png"
    prelude = ONE_AVIF_THREAD + "from PIL import Image\n"
    save_options = f"{codec.pil_format!r}, **{codec.options(setting)!r}"
    encode_code = prelude + f"Image.open({str(png)!r}).convert('RGB').save({str(compressed)!r}, {save_options})"
    decode_code = prelude + f"Image.open({str(compressed)!r}).convert('RGB').save({str(restored)!r}, 'PNG')"
    commands = {"encode": [sys.executable, "-c", encode_code], "decode": [sys.executable, "-c", decode_code]}
    return {"setting": setting, **median_process_cost(commands, repeats, scratch)}


def available_codecs() -> list[Codec]:
    codecs = []
    for codec in CODECS:
        if features.check(codec.feature):
            codecs.append(codec)
        else:
            print(f"note: this Pillow build lacks {codec.name} ({codec.feature}); skipping it", file=sys.stderr)
    return codecs


def measure(paths: list[Path], codecs: list[Codec], repeats: int, scratch: Path) -> Iterator[tuple[str, dict]]:
    """Yield each codec's name and results (its points and its process cost) as it finishes."""
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    with tqdm(total=sum(len(c.settings) for c in codecs) * len(images), unit="image", file=sys.stderr) as progress:
        for codec in codecs:
            progress.set_description(codec.name)
            points = [rd_point(images, codec, setting, repeats, progress) for setting in codec.settings]
            points.sort(key=lambda p: p["bpp"])
            process_setting = min(points, key=lambda p: abs(p["bpp"] - PROCESS_BPP))["setting"]
            process = process_cost(paths[0], codec, process_setting, repeats, scratch)
            yield codec.name, {"points": points, "process": process}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_image_folder(parser, "folder", "kodak", "folder of PNG images")
    parser.add_argument("--json", type=Path, required=True, metavar="OUT", help="where to write the results")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per measurement; the median is kept")
    parser.add_argument("--resume", action="store_true", help="keep the codecs OUT already has; measure the rest")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not Path(GNU_TIME).exists():
        parser.error(f"{GNU_TIME} (GNU time) is needed to measure peak memory")
    paths = sorted(args.folder.glob("*.png"))
    if not paths:
        parser.error(f"no PNG images in {args.folder}")
    torch.set_num_threads(1)
    AvifImagePlugin.DEFAULT_MAX_THREADS = 1  # as ONE_AVIF_THREAD does in the child processes
    dataset = args.folder.resolve().name
    finished = {}
    if args.resume and args.json.exists():
        previous = json.loads(args.json.read_text())
        if (previous["dataset"], previous["images"]) != (dataset, len(paths)):
            parser.error(f"{args.json} holds results for another dataset")
        finished = previous["codecs"]
    codecs = [codec for codec in available_codecs() if codec.name not in finished]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name, codec_result in measure(paths, codecs, args.repeats, Path(scratch)):
            finished[name] = codec_result
            ordered = {c.name: finished[c.name] for c in CODECS if c.name in finished}
            result = {"dataset": dataset, "images": len(paths), "codecs": ordered}
            args.json.write_text(json.dumps(result, indent=1) + "\n")  # after each codec: an interrupted run keeps them

if __name__ == "__main__":
    main()
