"""Write the golden files of a shipped model: small .rgc files it made, what they decode to, and
the SHA-256 of their entropy-decoded codes (tests/test_golden.py decodes them with every release).

    PYTHONPATH=src python tests/golden/make.py            # the default model
    PYTHONPATH=src python tests/golden/make.py MODEL_ID   # another shipped model

Run it once when a model ships, and once for every shipped model when the format or the entropy
coder gains a version (files of format version 3 on are named MODEL-vVERSION-cCODER-NAME); it
never replaces golden files that exist (they are the record).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # conftest.smooth_image

from conftest import smooth_image  # noqa: E402
from rnncodec import __version__, bitstream, registry  # noqa: E402
from rnncodec.codec import ModelPipeline  # noqa: E402
from rnncodec.images import Picture  # noqa: E402

MANIFEST = HERE / "manifest.json"


def golden_pictures() -> dict[str, tuple[Picture, int, int]]:
    """name → (picture, iterations, tile): every colour kind, padding, one tile and many."""
    gray = smooth_image(21, 37, seed=12)[..., :1].repeat(3, axis=2)
    alpha = (np.arange(21 * 37) % 239).astype(np.uint8).reshape(21, 37)
    return {
        "rgb-8it": (Picture(smooth_image(40, 48, seed=11), "RGB"), 8, 1024),
        "la-5it-tile16": (Picture(gray, "LA", alpha), 5, 16),
    }


def codes_sha256(file) -> str:
    """The SHA-256 of a file's entropy-decoded codes (:class:`rnncodec.codec.FileCodes`): the network's
    iterations, and in a layered file each layer's block levels and the refinement bits they sent."""
    digest = hashlib.sha256(np.ascontiguousarray(file.codes, np.uint8).tobytes())
    if file.layers is not None:
        sent = np.arange(len(file.layers.codes))[:, None, None] < file.layers.levels[-1]
        digest.update(np.ascontiguousarray(file.layers.levels, np.int64).tobytes())
        digest.update(np.ascontiguousarray(file.layers.codes * sent[:, None], np.uint8).tobytes())
    return digest.hexdigest()


def make(model_id: bytes) -> list[dict]:
    shipped = registry.load().find(model_id)
    entries = []
    for name, (picture, iterations, tile) in golden_pictures().items():
        codec = ModelPipeline.load(shipped.path, tile, shipped.id)
        data = codec.encode(picture, iterations)
        header = bitstream.parse_header(data)
        stem = f"{model_id.hex()}-v{header.version}-c{header.coder_id}-{name}"
        rgc, png = HERE / f"{stem}.rgc", HERE / f"{stem}.png"
        if rgc.exists() or png.exists():
            raise SystemExit(f"{rgc.name} exists: golden files are never replaced")
        decoded = codec.decode(data)
        rgc.write_bytes(data)
        decoded.picture.to_pil().save(png)
        entries.append({"file": rgc.name, "expected": png.name, "model_id": model_id.hex(), "iterations": iterations,
                        "codes_sha256": codes_sha256(codec.read(data)), "made_by": f"rnncodec {__version__}"})
    return entries


def main() -> None:
    model_id = bytes.fromhex(sys.argv[1]) if len(sys.argv) > 1 else registry.load().default_id
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else []
    manifest += make(model_id)
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(golden_pictures())} golden files of model {model_id.hex()} and their entries in {MANIFEST.name}")


if __name__ == "__main__":
    main()
