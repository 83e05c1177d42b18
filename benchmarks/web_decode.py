"""The web decoder's speed against the Python decoder's, on one machine.

    python benchmarks/web_decode.py [IMAGE] [-q 8] [--repeats 3]
Encodes IMAGE (default: $RNNCODEC_DATA/kodak/kodim23.png) at -q Q with the default model, then
  - the browser: headless Chromium (web/test/browser.mjs) decodes it in <rgc-img> from rnncodec's
    local server: in a new browser (nothing cached: it fetches and compiles onnxruntime-web and
    loads the model), then ``repeats`` times in a page loaded again (the browser's caches kept, the
    model loaded anew), then ``repeats`` times in a page that has the model loaded. Times are from
    the element's creation to its first and last painted iteration (medians of the repeats);
    The times of every iteration of the last kind are printed too.
  - Python: ``rnncodec decode FILE -o x.png`` as a fresh process (wall seconds, median of ``repeats``),
    and ModelPipeline.decode in a process that has loaded the model (median of ``repeats``).
Needs what tests/test_web.py needs: Debian's chromium, node, and `npm ci` in web/.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inference_speed import compile_sources

ROOT = Path(__file__).resolve().parents[1]


def default_image() -> Path:
    data = Path(os.environ.get("RNNCODEC_DATA", ROOT.parent / "shared" / "datasets"))
    return data / "kodak" / "kodim23.png"


def browser_times(rgc: Path, repeats: int, scratch: Path) -> list[dict]:
    from rnncodec.web_server import WebServer

    with WebServer({rgc.name: rgc}) as server:
        job = {"src": f"/files/{rgc.name}", "capture": False}
        jobs = [{"name": "new", **job}, *({"name": f"again{i}", "reload": True, **job} for i in range(repeats)),
                *({"name": f"loaded{i}", **job} for i in range(repeats))]
        spec = {"chromium": shutil.which("chromium"), "page": f"{server.base}/web/", "jobs": jobs, "timeout": 300000}
        (scratch / "jobs.json").write_text(json.dumps(spec))
        run = subprocess.run(["node", str(ROOT / "web" / "test" / "browser.mjs"), str(scratch / "jobs.json"), str(scratch / "frames")],
                             capture_output=True, text=True, check=True)
    runs = {}
    for result in json.loads(run.stdout.strip().splitlines()[-1])["results"]:
        painted = [e for e in result["events"] if e["type"] == "iteration"]
        errors = [e for e in result["events"] if e["type"] in ("error", "timeout")]
        if errors:
            sys.exit(f"web_decode: the browser did not decode the file: {errors}")
        kind = result["name"].rstrip("0123456789")
        runs.setdefault(kind, []).append([event["ms"] / 1000 for event in painted])
    return {kind: [statistics.median(times) for times in zip(*found)] for kind, found in runs.items()}


def python_times(rgc: Path, repeats: int, scratch: Path) -> tuple[float, float]:
    from rnncodec import registry
    from rnncodec.codec import ModelPipeline

    compile_sources(ROOT)  # the rnncodec command runs this checkout's sources (an editable install)
    process = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(["rnncodec", "decode", str(rgc), "-o", str(scratch / "x.png"), "-f", "--quiet"], check=True)
        process.append(time.perf_counter() - start)
    codec = ModelPipeline.load(registry.load().default.path)
    data = rgc.read_bytes()
    loaded = []
    for _ in range(repeats):
        start = time.perf_counter()
        codec.decode(data)
        loaded.append(time.perf_counter() - start)
    return statistics.median(process), statistics.median(loaded)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path, nargs="?", default=None)
    ap.add_argument("-q", "--iterations", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    image = args.image or default_image()
    import rnncodec

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        rgc = scratch / f"{image.stem}.rgc"
        rgc.write_bytes(rnncodec.encode(str(image), iterations=args.iterations))
        size = rgc.stat().st_size
        runs = browser_times(rgc, args.repeats, scratch)
        process, loaded = python_times(rgc, args.repeats, scratch)
    chromium = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{image.name} -q {args.iterations} ({size} bytes), {os.cpu_count()} CPUs, {platform.machine()}, {chromium}")
    print("| decoder | first iteration (s) | last iteration (s) |")
    print("|---|---:|---:|")
    names = {"new": "browser, first visit (nothing cached)", "again": "browser, page loaded again (browser caches kept)",
             "loaded": "browser, page with the model loaded"}
    for kind, name in names.items():
        print(f"| {name} | {runs[kind][0]:.2f} | {runs[kind][-1]:.2f} |")
    print(f"| Python, `rnncodec decode` process | | {process:.2f} |")
    print(f"| Python, model loaded (ModelPipeline.decode) | | {loaded:.2f} |")
    print(f"browser / Python, whole decode: {runs['new'][-1] / process:.2f}× (first visit / process), "
          f"{runs['again'][-1] / process:.2f}× (page loaded again / process), {runs['loaded'][-1] / loaded:.2f}× (model loaded)")
    print("browser, model loaded: iteration k painted at " + ", ".join(f"{k}: {t:.2f} s" for k, t in enumerate(runs["loaded"], 1)))


if __name__ == "__main__":
    main()
