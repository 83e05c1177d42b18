"""Fitting the entropy coder's tables for a weights file on training images (never Kodak).

The tables (partner channels and prior counts, see :mod:`rnncodec.entropy`) depend on what the
network's bits mean, so they are fitted for each weights file and stored in it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .codec import model_codes
from .data import is_validation, list_images, load_rgb
from .entropy import fit_tables, ideal_bits
from .model import Model
from .weights import load_network, read_facts, save_weights, stored

FIT_CROP = (512, 768)  # the central crop of each image that is coded: Kodak-sized, bounded time


def central_crop(rgb: np.ndarray, size: tuple[int, int] = FIT_CROP) -> np.ndarray:
    h, w = rgb.shape[:2]
    ch, cw = min(h, size[0]), min(w, size[1])
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(rgb[y : y + ch, x : x + cw])


def spread(items: list, count: int) -> list:
    """``count`` items evenly spaced through the list (all of them if it is shorter)."""
    if count >= len(items):
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def image_codes(model: Model, paths: list[Path], label: str) -> list[np.ndarray]:
    """All iterations' codes of each image's central crop: (T, C, h, w) 0/1 arrays."""
    iterations = model.config.max_iterations
    return [model_codes(model, central_crop(load_rgb(p)), iterations) for p in tqdm(paths, desc=label, unit="image")]


def fit_coder(weights: str | Path, data: str | Path, out: str | Path, images: int, storage: str = "float32") -> dict:
    """Fit the tables on ``images`` training images, measure them on the validation split, and
    write the weights with the tables to ``out``, parameters stored as ``storage`` (the tables are
    fitted to the codes of the parameters as stored). Returns the facts stored with them."""
    paths = list_images(data)
    train_paths = spread([p for p in paths if not is_validation(p)], images)
    val_paths = [p for p in paths if is_validation(p)]
    if not train_paths:
        raise ValueError(f"{data}: no training images outside the validation split")
    network = load_network(weights)  # the tables of the file, if any, play no part
    network.load_state_dict(stored(network.state_dict(), storage))  # the values the written file holds
    model = Model.of(network)
    tables = fit_tables(image_codes(model, train_paths, "fit"))
    facts = {"images": len(train_paths), "crop": list(FIT_CROP)}
    if val_paths:
        val_codes = image_codes(model, val_paths, "validation")
        facts["validation_images"] = len(val_paths)
        facts["validation_bits_per_code_bit"] = round(ideal_bits(val_codes, tables), 4)
        facts["validation_bits_per_code_bit_without_tables"] = round(ideal_bits(val_codes), 4)
    meta = {**read_facts(weights), "coder_fit": facts}
    save_weights(network, out, tables, storage, **meta)
    return facts
