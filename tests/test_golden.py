"""Files decode forever: the golden files every shipped model made decode with this release, to the
same codes (exactly) and the same pixels (within one level: float results may differ across CPUs).
A change to the entropy coder's contexts without a new coder id changes the codes and fails here."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import rnncodec
from golden.make import codes_sha256
from rnncodec import registry
from rnncodec.codec import ModelPipeline

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


@pytest.fixture(scope="module")
def shipped_codecs():
    models = registry.load().models
    return {model_id: ModelPipeline.load(model.path, model_id=model_id) for model_id, model in models.items()}


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_golden_file_decodes_to_its_codes_and_pixels(shipped_codecs, entry):
    data = (GOLDEN / entry["file"]).read_bytes()
    file_codes = shipped_codecs[bytes.fromhex(entry["model_id"])].read(data)
    assert not file_codes.warnings
    assert file_codes.iterations == entry["iterations"]
    assert codes_sha256(file_codes) == entry["codes_sha256"], "entropy decoding changed: a new coder needs a new coder id"
    expected = Image.open(GOLDEN / entry["expected"])
    decoded = rnncodec.decode(data)  # picks the shipped model the file names
    assert (decoded.mode, decoded.size) == (expected.mode, expected.size)
    difference = np.abs(np.asarray(decoded, np.int16) - np.asarray(expected, np.int16))
    assert difference.max() <= 1


def test_every_shipped_model_has_golden_files():
    with_golden = {bytes.fromhex(e["model_id"]) for e in MANIFEST}
    missing = [m.id.hex() for m in registry.load().models.values() if m.id not in with_golden]
    assert not missing, f"run `python tests/golden/make.py ID` for shipped models {missing}"


def code_pattern(channels=32, h=64, w=64, iterations=16) -> np.ndarray:
    """Fixed sparse codes (no random generator): enough bits per context for the counts to be halved."""
    c, y, x = np.meshgrid(np.arange(channels), np.arange(h), np.arange(w), indexing="ij")
    mixed = [(c * 7919 + y * 104729 + x * 1299709 + t * 15485863) * 2654435761 % (1 << 32) for t in range(iterations)]
    return np.stack([((m >> 7) % 10 < 1 + c % 3).astype(np.uint8) for m in mixed])


@pytest.mark.parametrize("tables, expected", [
    ("uniform", "e35e5560b091148678f507452358f397a4d156c44c888ab0955938483f37ac66"),
    ("486eedcde52870ce", "4e7b2a4f83585b3d506d44799756609d4e9310037c3f06eeb0c9d6563c8d9c0d"),
])
def test_entropy_coder_output_is_unchanged_for_its_coder_id(tables, expected):
    """Coder 2's bytes for fixed codes, with uniform tables and with a shipped model's. If this
    fails, the coder changed: give it a new CODER_ID and keep decoding coder 2."""
    from rnncodec.entropy import CODER_ID, GridCoder, CoderTables
    from rnncodec.weights import load_coder_tables

    assert CODER_ID == 2
    codes = code_pattern()
    if tables == "uniform":
        table = CoderTables.uniform(32)
    else:
        table = load_coder_tables(registry.load().find(bytes.fromhex(tables)).path, 32)
    encoder, decoder = GridCoder(*codes.shape[1:], table), GridCoder(*codes.shape[1:], table)
    chunks = [encoder.encode(bits) for bits in codes]
    assert hashlib.sha256(b"".join(bytes([mode]) + payload for mode, payload in chunks)).hexdigest() == expected
    assert all(np.array_equal(decoder.decode(*chunk), bits) for chunk, bits in zip(chunks, codes))


def test_layered_coder_output_is_unchanged_for_its_coder_id():
    """Coder 3's bytes for fixed codes and fixed refinement counts (three network iterations, then
    layers), with the default model's tables. If this fails, coder 3 changed: give it a new id."""
    from rnncodec.layered import LAYERED_CODER_ID, LayeredCoder
    from rnncodec.weights import load_coder_tables

    assert LAYERED_CODER_ID == 3
    after, levels = 3, 39
    codes = code_pattern(h=24, w=24, iterations=after + levels)
    counts = [(code_pattern(channels=1, h=24, w=24, iterations=13)[j, 0] * 3 + j % 2) for j in range(13)]
    table = load_coder_tables(registry.load().find(bytes.fromhex("fb3768c9d1268a3b")).path, 32)
    encoder, decoder = LayeredCoder(32, 24, 24, table, after, levels), LayeredCoder(32, 24, 24, table, after, levels)
    grid = [encoder.encode_grid(bits) for bits in codes[:after]]
    given, layers = np.zeros((24, 24), np.int64), []
    for count in counts:
        count = np.minimum(count, levels - given)
        layers.append(encoder.encode_layer(count, codes[after:]))
        given += count
    blob = b"".join(bytes([mode]) + payload for mode, payload in grid) + b"".join(layers)
    assert hashlib.sha256(blob).hexdigest() == "d6d74f89781b1c1e213a1689b4b1821e01634ba1d867e30f2b5a5f61f78ca364"
    for (mode, payload), bits in zip(grid, codes[:after]):
        assert np.array_equal(decoder.decode_grid(mode, payload), bits)
    assert all(len(decoder.decode_layer(payload)) for payload in layers)
    sent = np.arange(levels)[:, None, None] < given
    assert np.array_equal(decoder.codes * sent[:, None], codes[after:] * sent[:, None])
