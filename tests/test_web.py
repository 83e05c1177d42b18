"""The web decoder (web/) in a real browser: headless Chromium, driven by puppeteer-core
(web/test/browser.mjs), decodes files served by rnncodec's own local server (rnncodec.web_server),
and its canvas is compared with the Python decoder's pictures after every iteration.

These tests fail, never skip, when the browser cannot run: Debian's ``chromium``, ``node`` and the
npm dependencies in web/ (``npm ci``) must be installed (.ci/run installs them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import rnncodec
from rnncodec import bitstream, registry
from rnncodec.web_server import Handler, WebServer

from conftest import smooth_image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.rgc"))
KODIM23 = [Path(os.environ.get("RNNCODEC_DATA", ROOT.parent / "shared" / "datasets")) / "kodak" / "kodim23.png",
           ROOT.parent / "shared" / "datasets" / "kodak" / "kodim23.png"]
TOLERANCE = 1  # per value: floating-point results differ between ONNX Runtime builds (docs/format.md)
HOLD_SECONDS = 180  # the slow server sends a held file's rest after this long if the page never asks


def _require(what: str, found: bool, fix: str) -> None:
    if not found:
        pytest.fail(f"the browser tests cannot run: {what} ({fix})")


def browser_tools() -> tuple[str, str]:
    chromium, node = shutil.which("chromium"), shutil.which("node")
    _require("Debian's chromium is not installed", chromium is not None, "apt-get install -y chromium")
    _require("node is not installed", node is not None, "apt-get install -y nodejs npm")
    for package in ("puppeteer-core", "onnxruntime-web"):
        _require(f"web/node_modules/{package} is missing", (ROOT / "web" / "node_modules" / package).is_dir(), "npm ci in web/")
    return chromium, node


class HoldingHandler(Handler):
    """Also serves /slow/NAME: the bytes up to the file's hold point at once, the rest only when the
    page fetches /release/NAME (or after HOLD_SECONDS); the times are kept in ``held``."""

    held: dict[str, dict] = {}

    def do_GET(self):
        kind, _, name = self.path.lstrip("/").partition("/")
        if kind == "release" and name in self.held:
            self.held[name]["released_by"] = self.held[name].get("released_by") or "page"
            self.held[name]["event"].set()
            self._reply(b"released")
        elif kind == "slow" and name in self.held:
            entry = self.held[name]
            data, hold = entry["data"], entry["hold"]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:hold])
            self.wfile.flush()
            if not entry["event"].wait(HOLD_SECONDS):
                entry["released_by"] = "timeout"
            try:
                self.wfile.write(data[hold:])
                self.wfile.flush()
            except OSError:  # the page stopped reading once it had the iterations it wanted
                pass
        else:
            super().do_GET()

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run_browser(files: dict[str, bytes], jobs: list[dict], folder: Path) -> dict[str, dict]:
    """Decode the jobs in one Chromium page; the results by job name (frames under folder/frames)."""
    chromium, node = browser_tools()
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    with WebServer({name: folder / name for name in files}, handler=HoldingHandler) as server:
        spec = {"chromium": chromium, "page": f"{server.base}/web/", "jobs": jobs, "timeout": 240000}
        (folder / "jobs.json").write_text(json.dumps(spec))
        run = subprocess.run([node, str(ROOT / "web" / "test" / "browser.mjs"), str(folder / "jobs.json"), str(folder / "frames")],
                             capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, f"the browser driver failed:\n{run.stderr[-4000:]}"
    out = json.loads(run.stdout.strip().splitlines()[-1])
    return {result["name"]: result for result in out["results"]}


def frames(folder: Path, name: str, k: int, kind: str, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    return np.frombuffer((folder / "frames" / f"{name}-{k}.{kind}").read_bytes(), np.uint8).reshape(height, width, 4)


def largest_difference(folder: Path, name: str, data: bytes, painted: int, model: Path | None = None) -> int:
    """The largest per-value difference between the browser's pictures of iterations 1..painted and
    rnncodec's: the canvas where the picture is opaque, the element's decoded RGBA everywhere."""
    with _quiet():
        pictures = rnncodec.decode_iterations(data, painted, model=model)
    worst = 0
    for k, picture in enumerate(pictures, start=1):
        expected = np.asarray(picture.convert("RGBA")).astype(np.int16)
        decoded = frames(folder, name, k, "decoded", picture.size).astype(np.int16)
        canvas = frames(folder, name, k, "canvas", picture.size).astype(np.int16)
        opaque = expected[..., 3] == 255
        worst = max(worst, int(np.abs(decoded - expected).max()), int(np.abs(canvas - expected)[opaque].max(initial=0)))
    print(f"{name}: iterations 1–{painted}, largest difference from rnncodec's {worst}")  # shown with pytest -s
    return worst


class _quiet:
    def __enter__(self):
        import warnings

        self.catch = warnings.catch_warnings()
        self.catch.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self.catch.__exit__(*exc)


def kodim23() -> Path | None:
    return next((path for path in KODIM23 if path.is_file()), None)


def chunk_ends(data: bytes) -> list[int]:
    return bitstream.read(data).chunk_ends


def with_payload_byte_flipped(data: bytes, iteration: int) -> bytes:
    """The file with a byte of iteration ``iteration``'s payload changed (its CRC no longer holds)."""
    chunk = bitstream.read(data).iterations[iteration - 1]
    at = chunk.start + 9
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]


def with_words_changed(data: bytes, iteration: int) -> bytes:
    """The file with iteration ``iteration``'s first payload words changed and its CRC recomputed."""
    contents = bitstream.read(data)
    header, chunk = contents.header, contents.iterations[iteration - 1]
    payload = bytes(b ^ 0xA5 for b in chunk.payload[:8]) + chunk.payload[8:]
    head = data[chunk.start: chunk.start + 7]
    crc = zlib.crc32(head + payload, zlib.crc32(header.body()))
    return data[:chunk.start] + head + payload + crc.to_bytes(4, "little") + data[chunk.end:]


V1_FILE = ROOT / "tests" / "data" / "v1-tiny-rgba-8it.rgc"  # format version 1, by release 0.1.0 with the tiny weights


def unshipped_stage_model(folder: Path, network: Path) -> dict[str, Path]:
    """A models folder of its own: a copy of ``network`` (the tiny test network) with its step graphs,
    and a block stage file for it unlike the shipped one's: after 2 iterations, 39 levels, its basis
    stored as float16, no coder tables; a ternary stage file (entropy coder 4) with its stage prior;
    and a registry listing them, and the network under the model id of the version-1 file the same
    weights wrote. Returns the folder's files by name."""
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open

    from conftest import TINY_AFTER, network_recons, tiny_staged_model
    from rnncodec.block_stage import REFINEMENTS, fit_block_stage
    from rnncodec.pixels import image_to_network
    from rnncodec.export import write_graphs
    from rnncodec.engines.onnx import OnnxEngine
    from rnncodec.weights import save_block_stage

    folder.mkdir()
    shutil.copyfile(network, folder / "net.safetensors")
    graphs = write_graphs(folder / "net.safetensors")
    engine = OnnxEngine.load(folder / "net.safetensors")
    images = [image_to_network(smooth_image(64, 64, seed)) for seed in range(8)]
    recons = [network_recons(engine, x, TINY_AFTER) for x in images]
    last, before = np.concatenate([r[-1] for r in recons]), np.concatenate([r[-2] for r in recons])
    stage = fit_block_stage(np.concatenate(images) - last, last - before, TINY_AFTER, REFINEMENTS,
                            code_channels=engine.cfg.code_channels)
    path = folder / "net-stage.safetensors"
    save_block_stage(path, folder / "net.safetensors", stage)
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    tensors["block_stage.basis"] = tensors["block_stage.basis"].astype(np.float16)
    save_file(tensors, str(path), metadata=metadata)
    ternary = tiny_staged_model(engine, dead_zone=0.5, rate_weight=0.6)
    ternary_path = folder / "net-ternary.safetensors"
    save_block_stage(ternary_path, folder / "net.safetensors", ternary.stage, ternary.tables)
    model_id = registry.file_sha256(path)[:16]
    entry = {"file": path.name, "sha256": registry.file_sha256(path), "description": "test stage"}
    ternary_entry = {"file": ternary_path.name, "sha256": registry.file_sha256(ternary_path), "description": "test ternary stage"}
    v1 = {"file": "net.safetensors", "sha256": registry.file_sha256(folder / "net.safetensors"), "description": "tiny"}
    models = {model_id: entry, ternary_entry["sha256"][:16]: ternary_entry, bitstream.parse_header(V1_FILE.read_bytes()).model_id.hex(): v1}
    (folder / "registry.json").write_text(json.dumps({"default": model_id, "models": models}))
    return {p.name: p for p in [folder / "registry.json", folder / "net.safetensors", path, ternary_path, *graphs]}


def random_postfilter(seed: int):
    """A post-filter unlike any fitted one: PostFilterNet(8, 3) with every parameter drawn from a seeded
    generator. It moves values by tens of levels, differently at each iteration count and on the block
    grid's edges; its weights on the picture are small, so the level by which the browser's unfiltered
    pictures may differ from rnncodec's changes its output little."""
    import torch

    from rnncodec.postfilter_training import PostFilterNet

    net = PostFilterNet(8, 3)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            spread = 0.1 if name.endswith("bias") else 0.5 if name.startswith("film") else 0.03
            p.copy_(torch.randn(p.shape, generator=generator) * spread)
        net.convs[0].weight[:, 3:] *= 0.5 / 0.03  # the block-edge maps' weights, as large as FiLM's
    return net.eval()


def add_postfilter(folder: Path, stage: Path, name: str, seed: int, half: bool = False) -> tuple[Path, Path]:
    """Write ``name`` in the models folder: the block stage file ``stage`` with random_postfilter(seed)
    (its tensors stored as float16 if ``half``) and its graph beside it, listed in the folder's
    registry. Returns the stage file and the graph."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    from rnncodec.postfilter import PREFIX, graph_path
    from rnncodec.postfilter_training import save_with_postfilter

    path = folder / name
    save_with_postfilter(stage, path, random_postfilter(seed))
    if half:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata()
        tensors = load_file(str(path))
        save_file({k: v.astype(np.float16) if k.startswith(PREFIX) else v for k, v in tensors.items()}, str(path), metadata=metadata)
    listing = json.loads((folder / "registry.json").read_text())
    digest = registry.file_sha256(path)
    listing["models"][digest[:16]] = {"file": name, "sha256": digest, "description": "test post-filter"}
    (folder / "registry.json").write_text(json.dumps(listing))
    return path, graph_path(path)


def filtered_test_image() -> np.ndarray:
    """RGBA, 45 × 70 (not whole blocks: the filter sees the picture cropped), partly transparent."""
    alpha = np.full((45, 70), 255, np.uint8)
    alpha[:, :16] = np.arange(16, dtype=np.uint8) * 16
    return np.dstack([smooth_image(45, 70, seed=5), alpha])


@pytest.fixture(scope="module")
def session(tmp_path_factory, tiny_weights):
    """One browser session over every case: the golden files, fresh files of each shipped model,
    kodim23 at -q 8 (also served slowly), truncated, damaged and unknown-model files, and files of
    unshipped tiny models (a block stage, a post-filter, a post-filter whose graph is missing)."""
    folder = tmp_path_factory.mktemp("web")
    files: dict[str, bytes] = {}
    jobs: list[dict] = []

    def add(name: str, data: bytes, **job) -> None:
        files[name] = data
        jobs.append({"name": name, "src": f"/files/{name}", **job})

    for path in GOLDEN:
        add(path.name, path.read_bytes())
    image = smooth_image(40, 72, seed=3)
    for model in registry.load().models.values():
        add(f"fresh-{model.id.hex()}.rgc", rnncodec.encode(image, iterations=6, model=model.path))
    default = registry.load().default.path
    rgba = np.dstack([image, np.linspace(0, 255, 40 * 72).astype(np.uint8).reshape(40, 72)])
    add("fresh-rgba.rgc", rnncodec.encode(rgba, iterations=5, model=default))
    add("fresh-gray.rgc", rnncodec.encode(image[..., 0], iterations=5, model=default))
    with_profile = Image.fromarray(image)
    with_profile.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "rnncodec test"  # Make
    with_profile.info["exif"] = exif.tobytes()
    add("fresh-icc-exif.rgc", rnncodec.encode(with_profile, iterations=4, model=default, metadata="all"))
    fresh = files[f"fresh-{registry.load().default_id.hex()}.rgc"]
    ends = chunk_ends(fresh)
    add("truncated.rgc", fresh[: ends[2] + 5])
    add("damaged.rgc", with_payload_byte_flipped(fresh, 4))
    add("damaged-codes.rgc", with_words_changed(fresh, 5))
    add("first-two.rgc", fresh, iterations=2)
    add("trailing.rgc", fresh + b"more")
    add("not-rgc.rgc", b"hello, world")
    add("empty.rgc", b"")
    unknown = bytearray(fresh[: bitstream.header_size(fresh[8])])
    unknown[25:33] = bytes.fromhex("0123456789abcdef")
    unknown[-4:] = zlib.crc32(bytes(unknown[:-4])).to_bytes(4, "little")
    add("unknown-model.rgc", bytes(unknown) + fresh[len(unknown):])
    source = kodim23()
    if source is not None:
        kodak = rnncodec.encode(str(source), iterations=8)
        add("kodim23.rgc", kodak)
        HoldingHandler.held["kodim23-slow.rgc"] = {"data": kodak, "hold": chunk_ends(kodak)[0] + 100, "event": threading.Event()}
        jobs.append({"name": "kodim23-slow", "src": "/slow/kodim23-slow.rgc", "release": "/release/kodim23-slow.rgc", "iterations": 1})
    models = unshipped_stage_model(folder / "tiny-models", tiny_weights)
    filtered = add_postfilter(folder / "tiny-models", models["net-stage.safetensors"], "net-filtered.safetensors", seed=1, half=True)
    no_graph, missing_graph = add_postfilter(folder / "tiny-models", models["net-stage.safetensors"], "net-no-graph.safetensors", seed=2)
    add("tiny-filtered.rgc", rnncodec.encode(filtered_test_image(), iterations=8, model=filtered[0]), models="/files/tiny-models/")
    add("tiny-no-graph.rgc", rnncodec.encode(filtered_test_image(), iterations=3, model=no_graph), models="/files/tiny-models/")
    missing_graph.unlink()
    for path in [*models.values(), *filtered, no_graph]:
        files[f"tiny-models/{path.name}"] = path.read_bytes()
    tiny = rnncodec.encode(smooth_image(48, 80, seed=11), iterations=8, model=models["net-stage.safetensors"])
    add("tiny-stage.rgc", tiny, models="/files/tiny-models/")
    add("tiny-ternary.rgc", rnncodec.encode(smooth_image(48, 80, seed=11), iterations=8, model=models["net-ternary.safetensors"]),
        models="/files/tiny-models/")
    add("v1-tiny.rgc", V1_FILE.read_bytes(), models="/files/tiny-models/")
    results = run_browser(files, jobs, folder)
    return folder, files, results


def _events(result: dict, kind: str) -> list[dict]:
    return [event for event in result["events"] if event["type"] == kind]


def _assert_complete(result: dict, iterations: int) -> None:
    assert [e["iteration"] for e in _events(result, "iteration")] == list(range(1, iterations + 1)), result
    assert [e["painted"] for e in _events(result, "iteration")] == [str(k) for k in range(1, iterations + 1)]
    assert _events(result, "load") and not _events(result, "error"), result


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_files_decode_as_in_python(session, path):
    folder, files, results = session
    result = results[path.name]
    declared = bitstream.parse_header(path.read_bytes()).iterations
    _assert_complete(result, declared)
    assert largest_difference(folder, path.name, files[path.name], declared) <= TOLERANCE


@pytest.mark.parametrize("name", ["fresh-rgba.rgc", "fresh-gray.rgc", "fresh-icc-exif.rgc", *(f"fresh-{key.hex()}.rgc" for key in registry.load().models)])
def test_fresh_files_of_each_model_decode_as_in_python(session, name):
    folder, files, results = session
    declared = bitstream.parse_header(files[name]).iterations
    _assert_complete(results[name], declared)
    assert largest_difference(folder, name, files[name], declared) <= TOLERANCE


def test_a_stage_model_unlike_the_shipped_one_decodes_as_in_python(session):
    """Stage start, level count, dtype and tables come from the files: after 2, 39 levels, float16."""
    folder, files, results = session
    from rnncodec.weights import load_block_stage

    stage_file = folder / "tiny-models" / "net-stage.safetensors"
    stage = load_block_stage(stage_file)
    assert (stage.after, stage.iterations) == (2, 39)
    assert bitstream.parse_header(files["tiny-stage.rgc"]).coder_id == 3
    _assert_complete(results["tiny-stage.rgc"], 8)
    assert largest_difference(folder, "tiny-stage.rgc", files["tiny-stage.rgc"], 8, model=stage_file) <= TOLERANCE


def test_a_ternary_stage_file_of_coder_4_decodes_as_in_python(session):
    folder, files, results = session
    stage_file = folder / "tiny-models" / "net-ternary.safetensors"
    assert bitstream.parse_header(files["tiny-ternary.rgc"]).coder_id == 4
    _assert_complete(results["tiny-ternary.rgc"], 8)
    assert largest_difference(folder, "tiny-ternary.rgc", files["tiny-ternary.rgc"], 8, model=stage_file) <= TOLERANCE


def test_a_model_with_a_post_filter_paints_every_iteration_filtered_as_in_python(session):
    """Every iteration's picture goes through the model's post-filter (cropped to the picture's size,
    alpha untouched, its parameters stored as float16), as rnncodec decodes it."""
    from rnncodec.weights import read_weights_file

    folder, files, results = session
    models = folder / "tiny-models"
    stored = read_weights_file(models / "net-filtered.safetensors").tensors
    assert {t.dtype for name, t in stored.items() if name.startswith("postfilter.")} == {np.dtype(np.float16)}
    data = files["tiny-filtered.rgc"]
    unfiltered = rnncodec.encode(filtered_test_image(), iterations=8, model=models / "net-stage.safetensors")
    with _quiet():
        with_filter = rnncodec.decode_iterations(data, model=models / "net-filtered.safetensors")
        without = rnncodec.decode_iterations(unfiltered, model=models / "net-stage.safetensors")
    for a, b in zip(with_filter, without):
        a, b = np.asarray(a).astype(np.int16), np.asarray(b).astype(np.int16)
        assert np.array_equal(a[..., 3], b[..., 3])
        # more than twice the tolerance: a browser that skipped the filter would fail the comparison below
        assert np.abs(a[..., :3] - b[..., :3]).max() > 2 * TOLERANCE
    _assert_complete(results["tiny-filtered.rgc"], 8)
    assert largest_difference(folder, "tiny-filtered.rgc", data, 8, model=models / "net-filtered.safetensors") <= TOLERANCE


def test_a_stage_file_whose_post_filter_graph_is_missing_is_refused_in_the_element(session):
    folder, _, results = session
    result = results["tiny-no-graph.rgc"]
    (error,) = _events(result, "error")
    assert error["kind"] == "weights" and error["painted"] == 0 and not _events(result, "iteration")
    assert "net-no-graph.postfilter.onnx" in error["message"] and error["message"] == result["message"]
    with pytest.raises(rnncodec.WeightsError) as refused:
        rnncodec.load_model(folder / "tiny-models" / "net-no-graph.safetensors")
    assert "net-no-graph.postfilter.onnx" in str(refused.value)


def test_a_version_1_file_decodes_as_the_release_that_wrote_it_did(session):
    """Format version 1 (no chunk index, CRCs of the chunks alone), RGBA: the pictures release 0.1.0
    decoded it to, after 6 and 8 iterations."""
    folder, files, results = session
    _assert_complete(results["v1-tiny.rgc"], 8)
    for k, png in ((6, "v1-tiny-rgba-8it-n6.png"), (8, "v1-tiny-rgba-8it.png")):
        expected = np.asarray(Image.open(V1_FILE.parent / png).convert("RGBA")).astype(np.int16)
        decoded = frames(folder, "v1-tiny.rgc", k, "decoded", (expected.shape[1], expected.shape[0])).astype(np.int16)
        assert np.abs(decoded - expected).max() <= TOLERANCE


def test_iterations_attribute_stops_after_k(session):
    folder, files, results = session
    _assert_complete(results["first-two.rgc"], 2)
    assert largest_difference(folder, "first-two.rgc", files["first-two.rgc"], 2) <= TOLERANCE


def test_truncated_file_paints_complete_iterations_and_says_so(session):
    folder, files, results = session
    result = results["truncated.rgc"]
    assert [e["iteration"] for e in _events(result, "iteration")] == [1, 2, 3]
    (error,) = _events(result, "error")
    assert error["kind"] == "truncated" and error["painted"] == 3
    assert error["message"] == "truncated file: decoded 3 of 6 iterations" == result["message"]
    assert largest_difference(folder, "truncated.rgc", files["truncated.rgc"], 3) <= TOLERANCE


@pytest.mark.parametrize("name, intact", [("damaged.rgc", 3), ("damaged-codes.rgc", 4)])
def test_damaged_file_paints_intact_iterations_and_names_the_damage(session, name, intact):
    folder, files, results = session
    result = results[name]
    assert [e["iteration"] for e in _events(result, "iteration")] == list(range(1, intact + 1))
    (error,) = _events(result, "error")
    assert error["kind"] == "damaged" and error["painted"] == intact
    with pytest.raises(rnncodec.DamageError) as refused:
        rnncodec.decode(files[name])
    python_message = str(refused.value)
    assert error["message"].startswith(f"iteration {intact + 1}: ")
    if name == "damaged.rgc":  # the container's check: the same words
        assert error["message"] == python_message
    else:  # the range decoder's: the same damage, its own exception text
        assert python_message.startswith(f"iteration {intact + 1}: its codes do not decode")
        assert error["message"].startswith(f"iteration {intact + 1}: its codes do not decode")
    assert largest_difference(folder, name, files[name], intact) <= TOLERANCE


def test_bytes_after_the_last_chunk_are_damage_after_every_iteration_is_painted(session):
    folder, files, results = session
    result = results["trailing.rgc"]
    assert [e["iteration"] for e in _events(result, "iteration")] == list(range(1, 7))
    (error,) = _events(result, "error")
    with pytest.raises(rnncodec.DamageError) as refused:
        rnncodec.decode(files["trailing.rgc"])
    assert error["kind"] == "damaged" and error["message"] == str(refused.value) == "4 bytes of trailing data after the last chunk"


@pytest.mark.parametrize("name, message", [("not-rgc.rgc", "not an .rgc file (bad magic bytes)"), ("empty.rgc", "empty file")])
def test_a_file_that_is_not_rgc_is_refused_in_the_element(session, name, message):
    _, files, results = session
    result = results[name]
    (error,) = _events(result, "error")
    assert error["kind"] == "format" and error["message"] == message == result["message"]
    assert not _events(result, "iteration")
    with pytest.raises(rnncodec.FormatError) as refused:
        rnncodec.decode(files[name])
    assert str(refused.value) == message


def test_unknown_model_is_refused_in_the_element(session):
    _, _, results = session
    result = results["unknown-model.rgc"]
    (error,) = _events(result, "error")
    assert error["kind"] == "unknown-model" and error["painted"] == 0 and not _events(result, "iteration")
    assert result["message"].startswith("made by model 0123456789abcdef, which this release does not carry")


def test_kodim23_paints_iterations_1_to_8_within_one_level(session):
    folder, files, results = session
    if "kodim23.rgc" not in files:
        pytest.skip("kodim23.png not found ($RNNCODEC_DATA/kodak or ../shared/datasets/kodak)")
    result = results["kodim23.rgc"]
    _assert_complete(result, 8)
    worst = largest_difference(folder, "kodim23.rgc", files["kodim23.rgc"], 8)
    print(f"kodim23: largest difference {worst}; iteration 1 at {_events(result, 'iteration')[0]['ms']:.0f} ms, "
          f"8 at {_events(result, 'iteration')[-1]['ms']:.0f} ms")
    assert worst <= TOLERANCE


def test_slowly_served_file_paints_iteration_1_before_its_last_byte(session):
    _, files, results = session
    if "kodim23.rgc" not in files:
        pytest.skip("kodim23.png not found ($RNNCODEC_DATA/kodak or ../shared/datasets/kodak)")
    result = results["kodim23-slow"]
    held = HoldingHandler.held["kodim23-slow.rgc"]
    assert held["released_by"] == "page"  # the page painted iteration 1 while the server held the rest
    first = _events(result, "iteration")[0]
    assert first["iteration"] == 1 and first["received"] < len(held["data"])
    _assert_complete(result, 1)


def test_rnncodec_view_serves_the_page_the_models_and_the_file(tmp_path):
    import sys
    import urllib.error
    import urllib.request

    rgc = tmp_path / "photo.rgc"
    rgc.write_bytes(GOLDEN[-1].read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    server = subprocess.Popen([sys.executable, "-m", "rnncodec", "view", str(rgc), "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/web/?src=/files/photo.rgc"), url
        base = url.split("/web/")[0]
        with urllib.request.urlopen(url) as page:
            assert b"rgc-img.js" in page.read()
            assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        with urllib.request.urlopen(f"{base}/files/photo.rgc") as served:
            assert served.read() == rgc.read_bytes()
        with urllib.request.urlopen(f"{base}/models/registry.json") as served:
            assert json.loads(served.read())["default"] == registry.load().default_id.hex()
        with urllib.request.urlopen(f"{base}/web/rgc-img.js") as served:
            assert served.headers["Content-Type"].startswith("text/javascript")
        for outside in ("/README.md", "/web/../README.md", "/files/other.rgc"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + outside)
            assert refused.value.code == 404
    finally:
        server.terminate()
        server.wait(10)


def test_rnncodec_view_refuses_a_file_that_is_not_rgc_in_one_line(tmp_path):
    import sys

    (tmp_path / "x.rgc").write_bytes(b"hello")
    out = subprocess.run([sys.executable, "-m", "rnncodec", "view", str(tmp_path / "x.rgc")], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=60)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == f"rnncodec: error: {tmp_path / 'x.rgc'}: not an .rgc file (bad magic bytes)"
