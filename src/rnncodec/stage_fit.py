"""Fitting a block stage (:mod:`rnncodec.block_stage`) for a network weights file on training images
(never Kodak), with the entropy coder's tables for the codes they make together."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .block_stage import BlockStage, fit_block_stage
from .coder_fit import image_codes, spread
from .data import CropSampler, is_validation, list_images, load_rgb
from .entropy import fit_tables, ideal_bits
from .model import Model
from .weights import STAGE_STORAGE, load_network, save_block_stage

BATCH = 50  # crops per network run while fitting


def rounded(stage: BlockStage, storage: str) -> BlockStage:
    """The stage as a file storing it as ``storage`` gives it back."""
    dtype = STAGE_STORAGE[storage]
    return replace(stage, basis=stage.basis.astype(dtype).astype(np.float32), alpha=stage.alpha.astype(dtype).astype(np.float32))


@torch.no_grad()
def network_residuals(model, crops: torch.Tensor, after: int) -> tuple[np.ndarray, np.ndarray]:
    """Residuals x − x̂_K and last increments x̂_K − x̂_{K−1} of the crops after the network's K iterations."""
    residuals, increments = [], []
    for x in crops.split(BATCH):
        recons = [recon for _, recon in model.iterate(x, after)]
        residuals.append((x - recons[-1]).numpy())
        increments.append((recons[-1] - (recons[-2] if after > 1 else 0)).numpy())
    return np.concatenate(residuals), np.concatenate(increments)


def fit_stage_file(network: str | Path, data: str | Path, out: str | Path, after: int, crops: int = 400,
                   crop: int = 128, images: int = 80, seed: int = 0, levels: int | None = None,
                   storage: str = "float32") -> dict:
    """Fit a stage after the network's first ``after`` iterations on ``crops`` seeded random crops of
    the training split, fit the coder tables on ``images`` training images coded by network and
    stage, measure them on the validation split, and write the block stage file ``out`` (beside
    ``network``) with the stage stored as ``storage`` (float32 or float16; a float16 stage is
    rounded before the tables are fitted, so tables and validation see the stage the file holds).
    Returns the facts stored with it."""
    paths = list_images(data)
    train_paths = [p for p in paths if not is_validation(p)]
    val_paths = [p for p in paths if is_validation(p)]
    if not train_paths:
        raise ValueError(f"{data}: no training images outside the validation split")
    model = load_network(network)
    cfg = model.cfg
    if not 1 <= after < cfg.max_iterations:
        raise ValueError(f"the stage must start after 1 to {cfg.max_iterations - 1} network iterations")
    sampler = CropSampler([load_rgb(p) for p in train_paths], crop, seed)
    residuals, increments = network_residuals(model, sampler.batch(crops), after)
    levels = levels or cfg.max_iterations - after
    if levels < cfg.max_iterations - after:
        raise ValueError(f"a stage after {after} iterations needs at least {cfg.max_iterations - after} levels")
    stage = rounded(fit_block_stage(residuals, increments, after, levels, code_channels=cfg.code_channels), storage)
    engine = Model.of(model, stage)
    tables = fit_tables(image_codes(engine, spread(train_paths, images), "fit"))
    coder_facts = {"images": min(images, len(train_paths))}
    if val_paths:
        val_codes = image_codes(engine, val_paths, "validation")
        coder_facts["validation_images"] = len(val_paths)
        coder_facts["validation_bits_per_code_bit"] = round(ideal_bits(val_codes, tables), 4)
    stage_facts = {"crops": crops, "crop": crop, "seed": seed, "levels": levels, "storage": storage,
                   "training_images": len(train_paths)}
    save_block_stage(out, network, stage, tables, storage, block_stage_fit=stage_facts, coder_fit=coder_facts)
    return {**stage_facts, **coder_facts}
