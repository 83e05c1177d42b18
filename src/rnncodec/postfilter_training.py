"""Fitting a model's post-filter (:mod:`rnncodec.postfilter`) on its own decoded pictures, and its
ONNX graph. Needs PyTorch (the train extra).

    rnncodec fit-postfilter STAGE_FILE --data TRAIN_DIR -o OUT.safetensors

The data: random 128² crops of the training images (the validation split left out), each encoded
by the model to its last iteration through a real file and decoded at every iteration count. The
filter learns to map each decoded crop to its original (mean squared error, Adam, learning
rate: warm-up then cosine), on 64² patches at block-aligned offsets.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .export import unbind_parameters
from .files import atomic_write
from .limits import BLOCK
from .postfilter import GRAPH, GRAPH_FORMAT, METADATA, PREFIX, graph_path

OPSET = 17


def block_edges(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 2, H, W): 1 on the rows, then the columns, that lie on a 16×16 block's edge."""
    rows = torch.arange(height, device=like.device) % BLOCK
    cols = torch.arange(width, device=like.device) % BLOCK
    on_row = ((rows == 0) | (rows == BLOCK - 1)).to(like.dtype)[:, None].expand(height, width)
    on_col = ((cols == 0) | (cols == BLOCK - 1)).to(like.dtype)[None, :].expand(height, width)
    return torch.stack([on_row, on_col])[None]


class PostFilterNet(nn.Module):
    """The post-filter (see :mod:`rnncodec.postfilter`): pictures (B, 3, H, W) in 0–255 and iteration
    counts t (B,) → filtered pictures in 0–255, unrounded."""

    def __init__(self, channels: int = 16, layers: int = 4, iterations: int = 16):
        super().__init__()
        widths = [3 + 2] + [channels] * (layers - 1) + [3]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:]))
        self.film = nn.Embedding(iterations, 2 * channels)  # per iteration count: scale − 1 and shift
        for p in (self.film.weight, self.convs[-1].weight, self.convs[-1].bias):
            nn.init.zeros_(p)  # starts as the identity

    def forward(self, pictures: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = pictures / 255
        h = torch.cat([x, block_edges(x.shape[2], x.shape[3], x).expand(len(x), -1, -1, -1)], 1)
        scale, shift = self.film(t - 1)[:, :, None, None].chunk(2, 1)
        h = F.relu(self.convs[0](h) * (1 + scale) + shift)
        for conv in self.convs[1:-1]:
            h = F.relu(conv(h))
        return (x + self.convs[-1](h)) * 255

    def delivered(self, pictures: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The pictures as the decoder delivers them: filtered, rounded (half to even), clamped to 0–255."""
        return torch.clamp(torch.round(self(pictures, t)), 0, 255)


class PostFilterGraph(nn.Module):
    """What the graph computes: one picture (1, 3, H, W) in 0–255 and a scalar t → rounded, clamped."""

    def __init__(self, net: PostFilterNet):
        super().__init__()
        self.postfilter = net  # so the graph's parameters are named as in the stage file: postfilter.…

    def forward(self, image, t):
        return self.postfilter.delivered(image, t.reshape(1))


def export_graph(net: PostFilterNet) -> bytes:
    """The filter's ONNX graph without its weights: every parameter an initializer named as in the
    stage file (``postfilter.…``), its data bound at load."""
    import io
    import warnings

    import onnx

    buffer = io.BytesIO()
    example = (torch.full((1, 3, 32, 48), 128.0), torch.tensor(1))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(PostFilterGraph(net).eval(), example, buffer, input_names=["image", "t"], output_names=["filtered"],
                          dynamic_axes={"image": {2: "height", 3: "width"}, "filtered": {2: "height", 3: "width"}},
                          opset_version=OPSET, dynamo=False, do_constant_folding=False)
    proto = onnx.load_from_string(buffer.getvalue())
    expected = {PREFIX + name for name in net.state_dict()}
    unbound = unbind_parameters(proto, expected, prefix="")  # named as in the stage file already
    if unbound != expected:
        raise RuntimeError(f"the post-filter graph's parameters are not those bound at load: {sorted(unbound ^ expected)}")
    proto.metadata_props.add(key="format", value=GRAPH_FORMAT)
    proto.producer_version = ""  # the graph, not the torch release, decides the bytes
    return proto.SerializeToString()


def unfiltered_pipeline(stage_file: Path):
    """The pipeline of a block stage file's model without any post-filter: the pictures as the stage leaves them."""
    from .codec import ModelPipeline
    from .model import load_model

    return ModelPipeline(replace(load_model(stage_file), postfilter=None))


def crops_of(images: list[Path], crops_per_image: int = 2, side: int = 128, seed: int = 0, centre: bool = False):
    """Yield crops (side, side, 3) uint8 on the block grid: ``crops_per_image`` random ones (or the centre)
    of each image, images smaller than ``side`` skipped."""
    from .images import read_picture

    rng = np.random.default_rng(seed)
    for path in images:
        rgb = read_picture(path.read_bytes()).rgb
        h, w = rgb.shape[:2]
        if min(h, w) < side:
            continue
        for _ in range(crops_per_image):
            y, x = ((n - side) // 2 // BLOCK * BLOCK if centre else int(rng.integers(0, (n - side) // BLOCK + 1)) * BLOCK for n in (h, w))
            yield np.ascontiguousarray(rgb[y : y + side, x : x + side])


def decoded_crops(pipeline, images: list[Path], crops_per_image: int = 2, side: int = 128, seed: int = 0,
                  centre: bool = False):
    """(originals (N, side, side, 3), decoded (N, T, side, side, 3)) uint8: :func:`crops_of` coded by
    the ``pipeline``'s real files (:func:`unfiltered_pipeline`)."""
    from .images import Picture

    originals, decoded = [], []
    for crop in crops_of(images, crops_per_image, side, seed, centre):
        data = pipeline.encode(Picture(crop, "RGB"), pipeline.max_iterations)
        decoded.append(np.stack([p.rgb for p in pipeline.decode(data, keep_all=True).pictures]))
        originals.append(crop)
    return np.stack(originals), np.stack(decoded)


def train_postfilter(originals: np.ndarray, decoded: np.ndarray, channels: int = 16, layers: int = 4, steps: int = 6000,
                     batch: int = 32, patch: int = 64, lr: float = 2e-3, seed: int = 0, log=print,
                     net: PostFilterNet | None = None) -> PostFilterNet:
    """Fit a post-filter mapping each decoded crop (N, T, s, s, 3) to its original (N, s, s, 3). ``net``:
    the filter to fit, fed the decoded crops' channels as they are (default: a new
    :class:`PostFilterNet` of ``channels`` and ``layers``)."""
    torch.manual_seed(seed)
    net = net if net is not None else PostFilterNet(channels, layers, decoded.shape[1])
    optimizer = torch.optim.Adam(net.parameters(), lr)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then cosine decay to zero
        optimizer, lambda s: min((s + 1) / warmup, 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps))))
    inputs, targets = torch.from_numpy(decoded), torch.from_numpy(originals)
    n, iterations, side = decoded.shape[0], decoded.shape[1], decoded.shape[2]
    generator = torch.Generator().manual_seed(seed)
    for step in range(steps):
        i = torch.randint(0, n, (batch,), generator=generator)
        t = torch.randint(0, iterations, (batch,), generator=generator)
        y0, x0 = (torch.randint(0, (side - patch) // BLOCK + 1, (batch,), generator=generator) * BLOCK for _ in range(2))
        pick = [(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(i, t, y0, x0)]
        x = torch.stack([inputs[a, b, c : c + patch, d : d + patch] for a, b, c, d in pick]).permute(0, 3, 1, 2).float()
        y = torch.stack([targets[a, c : c + patch, d : d + patch] for a, _, c, d in pick]).permute(0, 3, 1, 2).float()
        loss = F.mse_loss(net(x, t + 1), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 500 == 0 or step == steps - 1:
            log(f"step {step}  loss (MSE, 8-bit levels²) {loss.item():.3f}")
    return net.eval()


def save_with_postfilter(stage_file: Path, out: Path, net: PostFilterNet, **facts) -> None:
    """Write ``out``: the block stage file ``stage_file`` (beside it) with the post-filter added, and its graph beside it."""
    from safetensors.numpy import save_file

    from .weights import read_weights_file

    source = read_weights_file(stage_file)
    if Path(out).resolve().parent != Path(stage_file).resolve().parent:
        raise ValueError(f"{out}: must lie beside {stage_file} (and its network weights)")
    tensors = {k: v for k, v in source.tensors.items() if not k.startswith(PREFIX)}
    tensors.update({PREFIX + k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()})
    metadata = {k: v if k == "format" else json.dumps(v) for k, v in source.metadata.items() if k != METADATA}
    layers = len(net.convs)
    metadata[METADATA] = json.dumps({"channels": net.convs[0].out_channels, "layers": layers, "graph": GRAPH})
    metadata.update({k: json.dumps(v) for k, v in facts.items()})
    graph = export_graph(net)
    atomic_write(graph_path(Path(out)), lambda tmp: Path(tmp).write_bytes(graph))
    atomic_write(Path(out), lambda tmp: save_file(tensors, tmp, metadata=metadata))


def psnr_gains(net: PostFilterNet, originals: np.ndarray, decoded: np.ndarray) -> list[float]:
    """Per iteration count, the mean PSNR the filter adds to decoded crops (as the decoder delivers them):
    ``decoded`` (N, T, s, s, ≥ 3), the pictures' channels first, every channel fed to the filter."""
    from .metrics import psnr

    gains = np.zeros(decoded.shape[1])
    with torch.no_grad():
        for original, pictures in zip(originals, decoded):
            x = torch.from_numpy(pictures).permute(0, 3, 1, 2).float()
            t = torch.arange(1, len(pictures) + 1)
            filtered = net.delivered(x, t).byte().permute(0, 2, 3, 1).numpy()
            gains += [psnr(original, f) - psnr(original, p[..., :3]) for f, p in zip(filtered, pictures)]
    return list(gains / len(originals))


def fit_postfilter_file(stage_file: str | Path, data: str | Path, output: str | Path, crops: int = 600, steps: int = 6000,
                        channels: int = 16, layers: int = 4, seed: int = 0, log=print) -> dict:
    """Fit a post-filter for a block stage file's model on ``crops`` training crops (2 per image,
    the validation split left out) and write the stage file with it as ``output``, beside it, with
    its graph. Returns facts, with the filter's PSNR gain per iteration count on the validation
    split's centre crops (256²)."""
    from .data import is_validation, list_images

    paths = list_images(data)
    train, validation = [p for p in paths if not is_validation(p)], [p for p in paths if is_validation(p)]
    if not train or not validation:
        raise ValueError(f"{data}: the post-filter needs training images and validation images (rnncodec.data.is_validation)")
    train = train[:: max(1, len(train) // max(1, crops // 2))][: max(1, crops // 2)]
    pipeline = unfiltered_pipeline(Path(stage_file))
    originals, decoded = decoded_crops(pipeline, train, 2, 128, seed)
    log(f"{len(originals)} training crops decoded at every iteration")
    net = train_postfilter(originals, decoded, channels, layers, steps, seed=seed, log=log)
    val_originals, val_decoded = decoded_crops(pipeline, validation, 1, 256, seed, centre=True)
    gains = psnr_gains(net, val_originals, val_decoded)
    facts = {"postfilter_crops": len(originals), "postfilter_steps": steps,
             "postfilter_validation_psnr_gain": [round(g, 4) for g in gains]}
    save_with_postfilter(Path(stage_file), Path(output), net, **facts)
    return facts | {"validation_images": len(val_originals)}
