"""Fitting what a weights file holds besides the network, on training images (never Kodak): the
entropy coder's tables (:func:`fit_coder`) and a block stage with its tables (:func:`fit_stage_file`).

Both split the folder the same way (its validation split measures, the rest fits), code the
central crops of the images the tables are fitted on, and measure the tables on the validation
split. The tables (partner channels and prior counts, see :mod:`rnncodec.entropy`) depend on what
the model's bits mean, so they are fitted for each weights file and stored in it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .block_stage import BlockStage, fit_block_stage, refinements
from .codec import model_codes
from .data import CropSampler, is_validation, list_images, load_rgb
from .entropy import CoderTables, fit_tables, ideal_bits
from .layered import fit_stage_prior, refinement_costs
from .model import Model
from .limits import BLOCK
from .pixels import to_network
from .weights import STAGE_STORAGE, load_network, read_facts, save_block_stage, save_weights, stored

FIT_CROP = (512, 768)  # the central crop of each image that is coded: Kodak-sized, bounded time
BATCH = 50  # crops per network run while fitting a stage


# --- what both fits share: the split, the codes, the tables and their measure ---------------------
def training_split(data: str | Path) -> tuple[list[Path], list[Path]]:
    """A folder's training images and its validation split (ValueError if no training image is left)."""
    paths = list_images(data)
    train = [p for p in paths if not is_validation(p)]
    if not train:
        raise ValueError(f"{data}: no training images outside the validation split")
    return train, [p for p in paths if is_validation(p)]


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
    """All iterations' codes of each image's central crop that coder 2's counts code: (T, C, h, w) 0/1
    arrays (with a ternary stage, the network's iterations only: coder 4 has its own counts)."""
    ternary = model.stage is not None and model.stage.ternary
    iterations = model.network_iterations if ternary else model.config.max_iterations
    return [model_codes(model, central_crop(load_rgb(p)), iterations) for p in tqdm(paths, desc=label, unit="image")]


def fit_model_tables(model: Model, train: list[Path], validation: list[Path], images: int, facts: dict | None = None,
                     against_uniform: bool = False) -> tuple[CoderTables, dict]:
    """The coder tables fitted to the model's codes of ``images`` training images, and the facts of
    the fit: the images, then ``facts``, then the tables' bits per code bit on the validation split
    (and with ``against_uniform``, the uniform tables' too)."""
    fitted_on = spread(train, images)
    tables = fit_tables(image_codes(model, fitted_on, "fit"))
    facts = {"images": len(fitted_on), **(facts or {})}
    if validation:
        codes = image_codes(model, validation, "validation")
        facts["validation_images"] = len(validation)
        facts["validation_bits_per_code_bit"] = round(ideal_bits(codes, tables), 4)
        if against_uniform:
            facts["validation_bits_per_code_bit_without_tables"] = round(ideal_bits(codes), 4)
    return tables, facts


# --- coder tables for network weights --------------------------------------------------------------
def fit_coder(weights: str | Path, data: str | Path, out: str | Path, images: int, storage: str = "float32") -> dict:
    """Fit the tables on ``images`` training images, measure them on the validation split, and
    write the weights with the tables to ``out``, parameters stored as ``storage`` (the tables are
    fitted to the codes of the parameters as stored). Returns the facts stored with them."""
    train, validation = training_split(data)
    network = load_network(weights)  # the tables of the file, if any, play no part
    network.load_state_dict(stored(network.state_dict(), storage))  # the values the written file holds
    tables, facts = fit_model_tables(Model.of(network), train, validation, images, {"crop": list(FIT_CROP)},
                                     against_uniform=True)
    save_weights(network, out, tables, storage, **{**read_facts(weights), "coder_fit": facts})
    return facts


# --- a block stage, and its coder tables, for network weights -------------------------------------
def rounded(stage: BlockStage, storage: str) -> BlockStage:
    """The stage as a file storing it as ``storage`` gives it back."""
    dtype = STAGE_STORAGE[storage]
    return replace(stage, basis=stage.basis.astype(dtype).astype(np.float32), alpha=stage.alpha.astype(dtype).astype(np.float32))


@torch.no_grad()
def network_residuals(network, crops: torch.Tensor, after: int) -> tuple[np.ndarray, np.ndarray]:
    """Residuals x − x̂_K and last increments x̂_K − x̂_{K−1} of the crops after the network's K iterations."""
    residuals, increments = [], []
    for x in crops.split(BATCH):
        recons = [recon for _, recon in network.iterate(x, after)]
        residuals.append((x - recons[-1]).numpy())
        increments.append((recons[-1] - (recons[-2] if after > 1 else 0)).numpy())
    return np.concatenate(residuals), np.concatenate(increments)


def stage_refinement_codes(network, stage: BlockStage, paths: list[Path], label: str) -> list[np.ndarray]:
    """Every refinement's codes (L, C, N) of each image's central crop, cut to whole blocks, after the network's iterations."""
    out = []
    for path in tqdm(paths, desc=label, unit="image"):
        rgb = central_crop(load_rgb(path))
        x = torch.from_numpy(to_network(rgb[: len(rgb) // BLOCK * BLOCK, : rgb.shape[1] // BLOCK * BLOCK]))[None]
        residual, increment = network_residuals(network, x, stage.after)
        codes, _ = refinements(stage, residual, increment)
        out.append(codes.reshape(*codes.shape[:2], -1))
    return out


def fit_stage_prior_facts(network, stage: BlockStage, train: list[Path], validation: list[Path], images: int) -> tuple[np.ndarray, dict]:
    """Coder 4's stage prior fitted to a ternary stage's refinements of ``images`` training images,
    and the facts of the fit: the images, and on the validation split the static bits per
    refinement with the prior and with uniform counts."""
    fitted_on = spread(train, images)
    prior = fit_stage_prior(stage_refinement_codes(network, stage, fitted_on, "fit stage prior"), stage.sign_bits)
    facts = {"images": len(fitted_on)}
    if validation:
        codes = stage_refinement_codes(network, stage, validation, "validation")
        facts["validation_bits_per_refinement"] = round(float(np.mean([refinement_costs(prior, c).mean() for c in codes])), 3)
        facts["validation_bits_per_refinement_without_prior"] = round(float(np.mean([refinement_costs(None, c).mean() for c in codes])), 3)
    return prior, facts


def fit_stage_file(network: str | Path, data: str | Path, out: str | Path, after: int, crops: int = 400,
                   crop: int = 128, images: int = 80, seed: int = 0, levels: int | None = None,
                   storage: str = "float32", dead_zone: float = 0.0, rate_weight: float = 0.0) -> dict:
    """Fit a stage after the network's first ``after`` iterations on ``crops`` seeded random crops of
    the training split, fit the coder tables on ``images`` training images coded by network and
    stage, measure them on the validation split, and write the block stage file ``out`` (beside
    ``network``) with the stage stored as ``storage`` (float32 or float16; a float16 stage is
    rounded before the tables are fitted, so tables and validation see the stage the file holds).
    With ``dead_zone`` > 0 the stage is ternary (``rate_weight``: see :class:`BlockStage`) and coder
    4's stage prior is fitted too. Returns the facts stored with it."""
    train, validation = training_split(data)
    model = load_network(network)
    cfg = model.cfg
    if not 1 <= after < cfg.max_iterations:
        raise ValueError(f"the stage must start after 1 to {cfg.max_iterations - 1} network iterations")
    sampler = CropSampler([load_rgb(p) for p in train], crop, seed)
    residuals, increments = network_residuals(model, sampler.batch(crops), after)
    levels = levels or cfg.max_iterations - after
    if levels < cfg.max_iterations - after:
        raise ValueError(f"a stage after {after} iterations needs at least {cfg.max_iterations - after} levels")
    stage = rounded(fit_block_stage(residuals, increments, after, levels, code_channels=cfg.code_channels,
                                    dead_zone=dead_zone, rate_weight=rate_weight), storage)
    tables, coder_facts = fit_model_tables(Model.of(model, stage), train, validation, images)
    stage_facts = {"crops": crops, "crop": crop, "seed": seed, "levels": levels, "storage": storage,
                   "training_images": len(train)}
    if stage.ternary:
        prior, prior_facts = fit_stage_prior_facts(model, stage, train, validation, images)
        tables = replace(tables, stage_prior=prior)
        stage_facts.update(dead_zone=dead_zone, rate_weight=rate_weight, stage_prior_fit=prior_facts)
    save_block_stage(out, network, stage, tables, storage, block_stage_fit=stage_facts, coder_fit=coder_facts)
    return {**stage_facts, **coder_facts}
