"""Rate–distortion plot, Markdown tables and Bjøntegaard deltas from benchmark JSON files.

    python benchmarks/report.py --json A.json [B.json ...] --out-dir docs

Merges the codecs of every file (conventional.py's, rnncodec's evaluation) and
writes OUT_DIR/rd.png and OUT_DIR/results.md; prints the BD table. Every number
comes from the JSON, except the paper's published curve drawn for reference.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from rnncodec.metrics import bd_psnr, bd_rate, ms_ssim_db  # noqa: E402

SUBJECT = "rnncodec"  # the codec whose BD deltas against every other codec are reported
PAPER_LABEL = "Islam et al. 2021 (nominal bpp)"
PAPER = {"bpp": [0.125, 0.25, 0.5, 1, 2], "psnr": [24.15, 26.66, 29.32, 32.77, 36.62],
         "ms_ssim": [0.856, 0.927, 0.965, 0.985, 0.994]}
MAX_PLOT_BPP = 2.2


def load(paths: list[Path]) -> tuple[list[str], dict]:
    """Describe each file's dataset and merge the codecs of all files (a codec may appear once)."""
    sources, codecs = [], {}
    for path in paths:
        result = json.loads(path.read_text())
        sources.append(f"{path.name} ({result['dataset']}, {result['images']} images)")
        for name, codec in result["codecs"].items():
            if name in codecs:
                raise SystemExit(f"codec {name!r} appears in more than one input")
            codecs[name] = codec
    return sources, codecs


def column(codec: dict, key: str) -> list[float]:
    return [point[key] for point in codec["points"]]


def plot(codecs: dict, path: Path) -> None:
    """PSNR and MS-SSIM against bpp, one line per codec plus the paper's curve."""
    figure, axes = plt.subplots(1, 2, figsize=(13, 5))
    series = [(name, codec["points"], {"marker": "o", "linewidth": 2.5 if name == SUBJECT else 1.2})
              for name, codec in codecs.items()]
    paper_points = [dict(zip(PAPER, values)) for values in zip(*PAPER.values())]
    series.append((PAPER_LABEL, paper_points, {"marker": "x", "linestyle": "--", "color": "black"}))
    for ax, key, label in zip(axes, ("psnr", "ms_ssim"), ("PSNR (dB)", "MS-SSIM")):
        visible = []
        for name, points, style in series:
            ax.plot([p["bpp"] for p in points], [p[key] for p in points], label=name, markersize=4, **style)
            visible += [p[key] for p in points if p["bpp"] <= MAX_PLOT_BPP]
        margin = 0.03 * (max(visible) - min(visible))
        ax.set(xlim=(0, MAX_PLOT_BPP), ylim=(min(visible) - margin, max(visible) + margin),
               xlabel="bits per pixel", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def shown(value: float | None, spec: str) -> str:
    """A table cell: the value formatted, or a dash where there is none."""
    return "–" if value is None else format(value, spec)


def codec_table(name: str, codec: dict) -> list[str]:
    lines = [f"### {name}", "",
             "| setting | bpp | PSNR (dB) | MS-SSIM | encode s | decode s |", "|---:|---:|---:|---:|---:|---:|"]
    for p in codec["points"]:
        lines.append(f"| {p['setting']} | {p['bpp']:.4f} | {p['psnr']:.2f} | {p['ms_ssim']:.4f} | "
                     f"{shown(p.get('encode_s'), '.3f')} | {shown(p.get('decode_s'), '.3f')} |")
    if "encode_s" in codec or "decode_s" in codec:
        lines += ["", f"Seconds per image for the codec as a whole: encode {shown(codec.get('encode_s'), '.3f')}, "
                      f"decode {shown(codec.get('decode_s'), '.3f')}."]
    return lines + [""]


def delta(function, ref: tuple, test: tuple, unit: str) -> str:
    """One Bjøntegaard delta as table text, or why it cannot be computed."""
    try:
        value = function(*ref, *test)
    except ValueError as error:
        return f"n/a ({error})"
    return f"{value:+.1f}%" if unit == "%" else f"{value:+.2f} {unit}"


def bd_table(codecs: dict) -> list[str]:
    """BD-rate (PSNR and MS-SSIM dB) and BD-PSNR of SUBJECT against each other codec."""
    subject = codecs[SUBJECT]
    lines = [f"## Bjøntegaard deltas of {SUBJECT}", "",
             f"{SUBJECT} against each reference over the range both cover; negative BD-rate = fewer bits.", "",
             "| reference | shared bpp range | BD-rate (PSNR) | BD-rate (MS-SSIM dB) | BD-PSNR |",
             "|---|---|---:|---:|---:|"]
    for name, reference in codecs.items():
        if name == SUBJECT:
            continue
        shared = (max(min(column(c, "bpp")) for c in (reference, subject)),
                  min(max(column(c, "bpp")) for c in (reference, subject)))
        shared_text = f"{shared[0]:.3f}–{shared[1]:.3f}" if shared[0] < shared[1] else "none"
        by_psnr = [(column(c, "bpp"), column(c, "psnr")) for c in (reference, subject)]
        by_ms_ssim = [(column(c, "bpp"), [ms_ssim_db(v) for v in column(c, "ms_ssim")]) for c in (reference, subject)]
        lines.append(f"| {name} | {shared_text} | {delta(bd_rate, *by_psnr, '%')} | "
                     f"{delta(bd_rate, *by_ms_ssim, '%')} | {delta(bd_psnr, *by_psnr, 'dB')} |")
    return lines + [""]


STANDING_SETTINGS = ("1", "4", "8", "16")  # rnncodec iterations whose rates the standings table compares at


def standings_table(codecs: dict) -> list[str]:
    """Each codec's measured point nearest in bpp to SUBJECT's 1 / 4 / 8 / 16-iteration points."""
    anchors = [p for p in codecs[SUBJECT]["points"] if str(p["setting"]) in STANDING_SETTINGS]
    lines = ["## Standings at rnncodec's rates", "",
             f"For each codec, its measured point nearest in bpp to {SUBJECT} at "
             f"{' / '.join(STANDING_SETTINGS)} iterations: PSNR, MS-SSIM @ real bpp.", "",
             "| codec | " + " | ".join(f"~{p['bpp']:.2f} bpp" for p in anchors) + " |",
             "|---|" + "---|" * len(anchors)]
    for name, codec in codecs.items():
        cells = []
        for anchor in anchors:
            p = min(codec["points"], key=lambda q: abs(q["bpp"] - anchor["bpp"]))
            cells.append(f"{p['psnr']:.2f} dB, {p['ms_ssim']:.3f} @{p['bpp']:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


TARGET_REFERENCE = "JPEG"  # issue 5 measures rnncodec against Pillow JPEG at equal real bpp
TARGET_RATES = (0.25, 0.5, 1.0)  # where its PSNR target is checked


def along(codec: dict, key: str, bpp: float) -> float | None:
    """``key`` interpolated linearly in bpp between the codec's measured points; None outside them."""
    rates, values = zip(*sorted((p["bpp"], p[key]) for p in codec["points"]))
    return float(np.interp(bpp, rates, values)) if rates[0] <= bpp <= rates[-1] else None


def reference_table(codecs: dict) -> list[str]:
    """SUBJECT against TARGET_REFERENCE at equal bpp: PSNR at TARGET_RATES, MS-SSIM at SUBJECT's points."""
    if TARGET_REFERENCE not in codecs:
        return []
    subject, reference = codecs[SUBJECT], codecs[TARGET_REFERENCE]
    name = TARGET_REFERENCE
    lines = [f"## {SUBJECT} against {name} at equal bpp", "",
             "Each curve interpolated linearly in bpp between its measured points (– : outside them).", "",
             f"| bpp | {SUBJECT} PSNR (dB) | {name} PSNR (dB) | difference (dB) |", "|---:|---:|---:|---:|"]
    for bpp in TARGET_RATES:
        ours, theirs = along(subject, "psnr", bpp), along(reference, "psnr", bpp)
        gap = None if ours is None or theirs is None else ours - theirs
        lines.append(f"| {bpp:g} | {shown(ours, '.2f')} | {shown(theirs, '.2f')} | {shown(gap, '+.2f')} |")
    lines += ["", f"| {SUBJECT} setting | bpp | {SUBJECT} MS-SSIM | {name} MS-SSIM | higher |", "|---:|---:|---:|---:|---|"]
    for p in sorted(subject["points"], key=lambda p: p["bpp"]):
        if p["bpp"] > max(TARGET_RATES):
            break
        theirs = along(reference, "ms_ssim", p["bpp"])
        higher = "–" if theirs is None else SUBJECT if p["ms_ssim"] > theirs else name
        lines.append(f"| {p['setting']} | {p['bpp']:.4f} | {p['ms_ssim']:.4f} | {shown(theirs, '.4f')} | {higher} |")
    return lines + [""]


def process_table(codecs: dict) -> list[str]:
    lines = ["## Whole-process cost", "",
             "A fresh process encoding one image from PNG, and one decoding it to PNG: median wall seconds "
             "and peak resident memory. bpp is the setting's mean over the dataset.", "",
             "| codec | setting | bpp | encode s | decode s | encode peak MiB | decode peak MiB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, codec in codecs.items():
        if "process" not in codec:
            continue
        p = codec["process"]
        bpp = next((f"{q['bpp']:.3f}" for q in codec["points"] if q["setting"] == p["setting"]), "–")
        lines.append(f"| {name} | {p['setting']} | {bpp} | {p['encode_wall_s']:.3f} | {p['decode_wall_s']:.3f} | "
                     f"{p['encode_peak_mib']:.1f} | {p['decode_peak_mib']:.1f} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, nargs="+", required=True, help="benchmark result files")
    parser.add_argument("--out-dir", type=Path, required=True, help="where rd.png and results.md go")
    args = parser.parse_args(argv)
    sources, codecs = load(args.json)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    plot(codecs, args.out_dir / "rd.png")
    bd_lines = bd_table(codecs) if SUBJECT in codecs else []
    comparisons = standings_table(codecs) + reference_table(codecs) if SUBJECT in codecs else []
    lines = [f"Produced by `python benchmarks/report.py {shlex.join(argv)}` from {', '.join(sources)}.", "",
             "![rate–distortion curves](rd.png)", "", "## Rate–distortion and in-process speed", "",
             "Means over the images; seconds are per image.", ""]
    for name, codec in codecs.items():
        lines += codec_table(name, codec)
    lines += comparisons + bd_lines + process_table(codecs)
    (args.out_dir / "results.md").write_text("\n".join(lines))
    print("\n".join(bd_lines) if bd_lines else f"no {SUBJECT!r} codec in the inputs: no BD table")


if __name__ == "__main__":
    main()
