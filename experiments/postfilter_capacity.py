"""Would a larger post-filter, one at half resolution, or one that sees the block state, gain more? (Measured.)

    python experiments/postfilter_capacity.py [STAGE_FILE] [--data TRAIN_DIR] [--crops 600]
        [--steps 5000] [--filters 16x4 32x4 16x4+state h48x6@5e-4]

Codes 128² training crops (two per photo, the validation split left out) and the validation
photos' 256² centre crops through real files with STAGE_FILE's model (default: the default
model) without its post-filter, as `rnncodec fit-postfilter` does, then fits each filter of
--filters the same way (same crops, seed and batches; CHANNELSxLAYERS, "+state": the filter also
sees, broadcast over each 16×16 block, the log of the block's stage scale and its refinement
count, which the decoder knows; "hCHANNELSxLAYERS": a filter that convolves at half resolution;
"@LR": the filter's learning rate, 2e-3 unless given) and prints the PSNR each adds on the validation crops at every
iteration count, beside the model's own filter, with the multiply–accumulates per pixel and the
seconds each fit took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnncodec.block_stage import REFINEMENTS, from_blocks, layered_states
from rnncodec.data import is_validation, list_images
from rnncodec.image_folders import add_image_folder
from rnncodec.images import Picture
from rnncodec.limits import BLOCK
from rnncodec.model import load_model
from rnncodec.pixels import to_image
from rnncodec.postfilter import METADATA, PREFIX, has_postfilter
from rnncodec.postfilter_training import PostFilterNet, block_edges, crops_of, psnr_gains, train_postfilter, unfiltered_pipeline
from rnncodec.weights import read_weights_file

STATE_OFFSET, STATE_SCALE = 4.0, 32.0  # log scales (about −3 … 4) stored as uint8: (v + 4) · 32


def coded(pipeline, crop: np.ndarray) -> np.ndarray:
    """(T, s, s, 5) uint8: the crop decoded after each iteration (unfiltered), then each block's stage
    state at that iteration (log scale, refinement count) broadcast over its pixels. After a
    network iteration a block has no refinements and the scale the stage would start from there."""
    stage = pipeline.stage
    file = pipeline.read(pipeline.encode(Picture(crop, "RGB"), pipeline.max_iterations))
    pictures, states = [], []
    for recon, delta in pipeline.model.reconstructions(file.codes):
        scale = stage.start_scale(delta)[0]
        pictures.append(to_image(recon[0]))
        states.append((scale, np.zeros_like(scale)))
    _, _, H, W = recon.shape
    for rows, scale, level in layered_states(stage, recon, delta, file.layers.codes, file.layers.levels):
        pictures.append(to_image(from_blocks(rows[None], H, W)[0]))
        states.append((scale.copy(), level.copy()))
    maps = [np.stack([(np.log(scale) + STATE_OFFSET) * STATE_SCALE, level * 255 / REFINEMENTS], -1) for scale, level in states]
    maps = np.clip(np.round(np.stack(maps)), 0, 255).astype(np.uint8).reshape(len(maps), H // BLOCK, W // BLOCK, 2)
    return np.concatenate([np.stack(pictures), maps.repeat(BLOCK, 1).repeat(BLOCK, 2)], -1)


def coded_crops(pipeline, images: list[Path], per_image: int, side: int, centre: bool = False):
    """(originals (N, s, s, 3), decoded (N, T, s, s, 5)) uint8 of the crops rnncodec fit-postfilter takes."""
    crops = list(crops_of(images, per_image, side, centre=centre))
    return np.stack(crops), np.stack([coded(pipeline, crop) for crop in crops])


class PictureFilter(PostFilterNet):
    """The post-filter as the product has it, on the decoded crops' first three channels (the picture)."""

    def forward(self, pictures: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return super().forward(pictures[:, :3], t)


class StateInput(nn.Module):
    """The first convolution of a filter that also sees the block state: the state's two maps join its
    input channels (scaled to about 0–1). The maps come through :meth:`StateFilter.forward`."""

    def __init__(self, inputs: int, channels: int, owner: "StateFilter"):
        super().__init__()
        self.conv, self.owner = nn.Conv2d(inputs + 2, channels, 3, padding=1), [owner]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([h, self.owner[0].state / 255], 1))


class StateFilter(PostFilterNet):
    """The post-filter with the block state as two more input channels: takes (B, 5, H, W)."""

    def __init__(self, channels: int, layers: int, iterations: int):
        super().__init__(channels, layers, iterations)
        self.convs[0] = StateInput(3 + 2, channels, self)

    def forward(self, pictures: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.state = pictures[:, 3:]
        return super().forward(pictures[:, :3], t)


class HalfResolutionFilter(nn.Module):
    """A post-filter that convolves at half resolution: the picture and its block-edge maps folded into
    4 × 5 channels of half the size (space-to-depth), PostFilterNet's layers there (a scale and shift
    by t after the first), the last layer's 12 channels unfolded into the picture's correction. A
    layer costs a quarter of its work per pixel at full resolution and reaches twice as far.
    Crops only (even sides)."""

    def __init__(self, channels: int, layers: int, iterations: int):
        super().__init__()
        widths = [4 * (3 + 2)] + [channels] * (layers - 1) + [4 * 3]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:]))
        self.film = nn.Embedding(iterations, 2 * channels)
        for p in (self.film.weight, self.convs[-1].weight, self.convs[-1].bias):
            nn.init.zeros_(p)

    def forward(self, pictures: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = pictures[:, :3] / 255
        h = F.pixel_unshuffle(torch.cat([x, block_edges(x.shape[2], x.shape[3], x).expand(len(x), -1, -1, -1)], 1), 2)
        scale, shift = self.film(t - 1)[:, :, None, None].chunk(2, 1)
        h = F.relu(self.convs[0](h) * (1 + scale) + shift)
        for conv in self.convs[1:-1]:
            h = F.relu(conv(h))
        return (x + F.pixel_shuffle(self.convs[-1](h), 2)) * 255

    def delivered(self, pictures: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.round(self(pictures, t)), 0, 255)


def filter_of(spec: str, iterations: int) -> nn.Module:
    """A new filter from "CHANNELSxLAYERS[+state]", or "hCHANNELSxLAYERS" for one at half resolution."""
    size, _, state = spec.partition("+")
    if size.startswith("h"):
        channels, layers = (int(v) for v in size[1:].split("x"))
        return HalfResolutionFilter(channels, layers, iterations)
    channels, layers = (int(v) for v in size.split("x"))
    return StateFilter(channels, layers, iterations) if state == "state" else PictureFilter(channels, layers, iterations)


def macs_per_pixel(net: nn.Module) -> int:
    macs = sum(m.weight.numel() for m in net.modules() if isinstance(m, nn.Conv2d))
    return macs // 4 if isinstance(net, HalfResolutionFilter) else macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", nargs="?", help="block stage file (default: the default model's)")
    add_image_folder(parser, "--data", "train", "training images (fits on the training split, measures on the validation split)")
    parser.add_argument("--crops", type=int, default=600)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--filters", nargs="+", default=["16x4", "32x4", "16x4+state"])
    args = parser.parse_args()
    model = load_model(args.stage)
    pipeline = unfiltered_pipeline(model.path)
    paths = list_images(args.data)
    train = [p for p in paths if not is_validation(p)]
    train = train[:: max(1, len(train) // (args.crops // 2))][: args.crops // 2]
    start = time.time()
    originals, decoded = coded_crops(pipeline, train, 2, 128)
    val_originals, val_decoded = coded_crops(pipeline, [p for p in paths if is_validation(p)], 1, 256, centre=True)
    print(f"{len(originals)} training crops, {len(val_originals)} validation crops, coded in {time.time() - start:.0f} s", flush=True)
    rows = []
    stage_file = read_weights_file(model.path)
    if has_postfilter(stage_file.metadata):
        settings = stage_file.metadata[METADATA]
        own = PictureFilter(settings["channels"], settings["layers"], decoded.shape[1])
        own.load_state_dict({k.removeprefix(PREFIX): torch.from_numpy(np.asarray(v, np.float32))
                             for k, v in stage_file.tensors.items() if k.startswith(PREFIX)})
        rows.append(("the model's own", own, 0))
    for spec in args.filters:
        torch.manual_seed(0)
        start = time.time()
        shape, _, lr = spec.partition("@")
        net = train_postfilter(originals, decoded, steps=args.steps, lr=float(lr or 2e-3), log=lambda _: None,
                               net=filter_of(shape, decoded.shape[1]))
        rows.append((spec, net, time.time() - start))
    print("| filter | MAC/px | fit s | mean | " + " | ".join(f"at {t}" for t in range(1, decoded.shape[1] + 1)) + " |")
    print("|---|---:|---:|---:|" + "---:|" * decoded.shape[1])
    for name, net, seconds in rows:
        g = np.array(psnr_gains(net.eval(), val_originals, val_decoded))
        print(f"| {name} | {macs_per_pixel(net)} | {seconds:.0f} | {g.mean():+.3f} | " + " | ".join(f"{v:+.3f}" for v in g) + " |", flush=True)


if __name__ == "__main__":
    main()
