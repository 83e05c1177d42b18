"""The GDN-RNN codec network (Islam et al. 2021 on Toderici et al. 2017), one iteration at a time.

Iteration t (1-based):  b_t = Bin(Enc_t(r_{t-1})),  x̂_t = Dec_t(b_t) + γ·x̂_{t-1},  r_t = x − x̂_t,
with r_0 = x and x̂_0 = 0. Images are float tensors in [-0.5, 0.5], shape (B, 3, H, W) with H, W
multiples of BLOCK. Each iteration emits ``code_channels`` bits per BLOCK×BLOCK block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig
from .limits import BLOCK, MAX_ITERATIONS
from .layers import GDN, ConvLSTMCell, depth_to_space_after


class Binarizer(nn.Module):
    """1×1 conv → tanh → ±1 with a straight-through gradient.

    In training the bits are stochastic (E[b] = tanh) unless ``stochastic`` is False; at inference
    they are the sign.
    """

    def __init__(self, in_channels: int, code_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, code_channels, 1)
        self.stochastic = True  # a training setting, not part of the weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(self.conv(x))
        if self.training and self.stochastic:
            b = torch.where(torch.rand_like(y) < (1 + y) / 2, 1.0, -1.0)
        else:
            b = torch.where(y >= 0, 1.0, -1.0)
        return y + (b - y).detach()


class Encoder(nn.Module):
    """Residual → features at 1/16: conv + GDN (1/2), then three strided ConvLSTM cells."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.analysis = nn.Conv2d(3, cfg.analysis_channels, 3, stride=2, padding=1)
        self.gdn = GDN(cfg.analysis_channels)
        widths = (cfg.analysis_channels, *cfg.encoder_hidden)
        self.cells = nn.ModuleList(ConvLSTMCell(widths[i], widths[i + 1], 3, stride=2) for i in range(len(cfg.encoder_hidden)))

    def forward(self, x, state):
        x = self.gdn(self.analysis(x))  # (B, A, H/2, W/2)
        state = state or [None] * len(self.cells)
        new_state = []
        for cell, s in zip(self.cells, state):
            x, s = cell(x, s)  # halves the resolution each time
            new_state.append(s)
        return x, new_state  # (B, E3, H/BLOCK, W/BLOCK)


NEW_WEIGHT_SCALE = 0.01  # outgoing weights of added capacity: small, so the function barely moves, but not zero


class ConvBranch(nn.Module):
    """Feed-forward 3×3 conv → ReLU → 3×3 conv beside a ConvLSTM cell; its output is added to the cell's.

    The last conv starts at NEW_WEIGHT_SCALE of its usual initialisation: the branch begins almost
    silent yet its first conv gets gradient from the first step (a zero start would give none).
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, out_channels, 3, padding=1)
        with torch.no_grad():
            self.conv2.weight.mul_(NEW_WEIGHT_SCALE)
            self.conv2.bias.zero_()

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x)))


class Decoder(nn.Module):
    """Bits at 1/16 → image: 1×1 conv, conv + inverse GDN, four ConvLSTM + depth-to-space, conv to RGB.

    Optional tail capacity (ModelConfig): feed-forward branches beside the 1/4 and 1/2 cells, extra
    channels to full resolution, a residual branch at full resolution before to_rgb, and
    per-iteration conditioning of the tail (FiLM-style scale and shift of the 1/4 and 1/2 cells'
    inputs, and an output bias per iteration), all starting at (almost) zero.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        s = cfg.synthesis_channels
        self.expand = nn.Conv2d(cfg.code_channels, s, 1)
        self.synthesis = nn.Conv2d(s, s, 3, padding=1)
        self.igdn = GDN(s, inverse=True)
        cells, inputs, in_ch = [], [], s
        for hidden, k in zip(cfg.decoder_hidden, cfg.decoder_hidden_kernels):
            cells.append(ConvLSTMCell(in_ch, hidden, 3, stride=1, hidden_kernel=k))
            inputs.append(in_ch)
            in_ch = hidden // 4  # after depth-to-space ×2
        self.cells = nn.ModuleList(cells)
        tail_in, tail_out = inputs[2:], cfg.decoder_hidden[2:]  # the 1/4 and 1/2 cells
        extra = 4 * (cfg.full_resolution_channels - in_ch) if cfg.full_resolution_channels else 0
        outs = (tail_out[0], tail_out[1] + extra)
        self.branches = nn.ModuleList(ConvBranch(i, w, o) if w else nn.Identity() for i, w, o in zip(tail_in, cfg.tail_branches, outs))
        full = in_ch + extra // 4  # channels at full resolution
        w = cfg.full_resolution_branch
        self.full_resolution = ConvBranch(full, w, full) if w else nn.Identity()  # adds to its input
        self.to_rgb = nn.Conv2d(full, 3, 3, padding=1)
        if cfg.iteration_conditioning:
            T = cfg.max_iterations
            self.tail_scale = nn.ParameterList(nn.Parameter(torch.zeros(T, c)) for c in tail_in)  # input × (1 + scale_t)
            self.tail_shift = nn.ParameterList(nn.Parameter(torch.zeros(T, c)) for c in tail_in)  # … + shift_t
            self.output_bias = nn.Parameter(torch.zeros(T, 3))  # added to to_rgb's shared bias
        self.conditioning = cfg.iteration_conditioning
        self.rgb_before_depth_to_space = False

    def forward(self, bits, state, t: int = 1):
        x = self.igdn(self.synthesis(self.expand(bits)))  # (B, S, H/BLOCK, W/BLOCK)
        state = state or [None] * len(self.cells)
        new_state = []
        for level, (cell, s) in enumerate(zip(self.cells, state)):
            tail = level - 2  # 0 for the 1/4 cell, 1 for the 1/2 cell, negative before
            if tail >= 0 and self.conditioning:
                x = x * (1 + self.tail_scale[tail][t - 1].view(1, -1, 1, 1)) + self.tail_shift[tail][t - 1].view(1, -1, 1, 1)
            h, s = cell(x, s)
            if tail >= 0 and not isinstance(self.branches[tail], nn.Identity):
                branch = self.branches[tail](x)
                h = torch.cat([h + branch[:, : h.shape[1]], branch[:, h.shape[1] :]], 1)  # extra channels beyond the cell's
            new_state.append(s)
            if level < len(self.cells) - 1:
                x = F.pixel_shuffle(h, 2)  # doubles the resolution, channels / 4
        out = self.rgb(h)  # (B, 3, H, W)
        if self.conditioning:
            out = out + self.output_bias[t - 1].view(1, 3, 1, 1)
        return out, new_state

    def rgb(self, h):
        """The last cell's output (at 1/2) → the decoder's output image: depth-to-space ×2, the full-resolution branch, to_rgb.

        With ``rgb_before_depth_to_space`` (an inference setting, not part of the weights) and no
        full-resolution branch, to_rgb runs before depth-to-space, at half resolution, as the
        equivalent convolution (:func:`depth_to_space_after`): the same image, from a rearrangement
        of 3 channels at full resolution instead of all of them.
        """
        if self.rgb_before_depth_to_space and isinstance(self.full_resolution, nn.Identity):
            return F.pixel_shuffle(F.conv2d(h, *depth_to_space_after(self.to_rgb), padding=1), 2)
        x = F.pixel_shuffle(h, 2)
        if not isinstance(self.full_resolution, nn.Identity):
            x = x + self.full_resolution(x)
        return self.to_rgb(x)


class Network(nn.Module):
    """The network: encoder, binarizer and decoder, with a learned gain per iteration on the residual.

    The gain g_t scales the encoder's input (r·g_t) and divides the decoder's output, so
    small late residuals reach the network at a useful magnitude (Toderici et al. 2017,
    "residual scaling"); it is a fixed number per iteration, known to both sides.
    """

    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.binarizer = Binarizer(cfg.encoder_hidden[-1], cfg.code_channels)
        self.decoder = Decoder(cfg)
        if cfg.learned_gain:
            t = torch.arange(1, cfg.max_iterations + 1, dtype=torch.float32)
            self.log_gain = nn.Parameter(0.5 * torch.log(t))  # starts at g_t = sqrt(t)
        else:
            self.register_buffer("log_gain", torch.zeros(cfg.max_iterations))

    def gain(self, t: int) -> torch.Tensor:
        return torch.exp(self.log_gain[t - 1])

    # --- one iteration at a time, with explicit state -----------------------------------
    def encode_step(self, residual: torch.Tensor, t: int, state=None):
        """Residual r_{t-1} (B,3,H,W) and encoder state → bits b_t (B,C,H/BLOCK,W/BLOCK) in ±1, new state."""
        features, state = self.encoder(residual * self.gain(t), state)
        return self.binarizer(features), state

    def encoder_activations(self, residual: torch.Tensor, t: int, state=None):
        """As :meth:`encode_step`, the binarizer's pre-activations (whose sign is the bits at inference) in place of the bits."""
        features, state = self.encoder(residual * self.gain(t), state)
        return self.binarizer.conv(features), state

    def decode_step(self, bits: torch.Tensor, t: int, state=None):
        """Bits b_t and decoder state → Dec_t(b_t) (B,3,H,W), new state. x̂_t = Dec_t(b_t) + γ·x̂_{t-1}."""
        out, state = self.decoder(bits, state, t)
        return out / self.gain(t), state

    def iterate(self, x: torch.Tensor, iterations: int, detach_previous: bool = False):
        """Run the encode/decode loop on x; yield (bits, reconstruction) for t = 1..iterations.

        ``detach_previous`` (training): x̂_{t-1} enters iteration t without gradient, so each
        iteration's output is trained on its own residual only, not on every later one's.
        """
        check_shape(x)
        if not 1 <= iterations <= self.cfg.max_iterations:
            raise ValueError(f"iterations must be in 1..{self.cfg.max_iterations}")
        recon = torch.zeros_like(x)
        enc_state = dec_state = None
        for t in range(1, iterations + 1):
            previous = recon.detach() if detach_previous else recon
            bits, enc_state = self.encode_step(x - previous, t, enc_state)
            delta, dec_state = self.decode_step(bits, t, dec_state)
            recon = delta + self.cfg.gamma * previous
            yield bits, recon

    def forward(self, x: torch.Tensor, iterations: int, detach_previous: bool = False, error: str = "l1") -> torch.Tensor:
        """Training loss terms, one per iteration t: the ``error`` of r_t (see RESIDUAL_ERRORS)."""
        measure = RESIDUAL_ERRORS[error]
        return torch.stack([measure(x - recon) for _, recon in self.iterate(x, iterations, detach_previous)])


RNNCodec = Network  # the earlier name (``rnncodec.RNNCodec``), kept for code that uses it


def _minus_psnr(residual: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of 10·log10(MSE + one 8-bit step²): minus the mean PSNR (peak 1).

    The floor, one 8-bit step squared, keeps flat crops (MSE → 0) from dominating."""
    mse = residual.pow(2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(mse + 1 / 255**2).mean()


RESIDUAL_ERRORS = {
    "l1": lambda r: r.abs().mean(),
    "mse": lambda r: r.pow(2).mean(),
    "psnr": _minus_psnr,  # weights each crop and iteration by 1/MSE: the mean-PSNR objective
}


WIDTHS = ("analysis_channels", "encoder_hidden", "synthesis_channels", "decoder_hidden")  # what widen may grow
TAIL = ("tail_branches", "full_resolution_channels", "iteration_conditioning", "full_resolution_branch")  # capacity widen may add


def widen(model: Network, cfg: ModelConfig) -> Network:
    """A copy of ``model`` with the wider layers and added tail capacity of ``cfg``, computing nearly the same function.

    Every old weight keeps its place (gate by gate in the ConvLSTM cells, whose four gates are
    stacked along the output channels). Weights from a new channel into an old one start at
    NEW_WEIGHT_SCALE of their fresh initialisation: small enough that the output barely moves,
    but not zero, so the new channels' own weights get gradient from the first step (with zeros
    they would get none until Adam had grown the outgoing ones). New modules keep their own
    initialisation, which starts them (almost) silent (:class:`ConvBranch`, the zero conditioning).
    """
    old = model.cfg  # (both configs have the same depth: ModelConfig insists on it)
    narrower = (cfg.analysis_channels < old.analysis_channels or cfg.synthesis_channels < old.synthesis_channels
                or any(n < o for n, o in zip(cfg.encoder_hidden + cfg.decoder_hidden, old.encoder_hidden + old.decoder_hidden)))
    others_equal = replace(cfg, **{k: getattr(old, k) for k in WIDTHS + TAIL}) == old
    if narrower or not others_equal:
        raise ValueError("widen: the new config may only add channels and tail capacity to the existing layers")
    wide = Network(cfg)
    gated = {name for name, m in wide.named_modules() if isinstance(m, ConvLSTMCell)}
    old_state = model.state_dict()
    with torch.no_grad():
        for name, new in wide.state_dict().items():
            if name not in old_state:  # a new module: its own initialisation
                continue
            old_value = old_state[name]
            if new.shape == old_value.shape:
                new.copy_(old_value)
                continue
            owner = name.rsplit(".", 2)[0]
            gates = 4 if owner in gated and name.endswith(("conv_in.weight", "conv_in.bias", "conv_hidden.weight")) else 1
            old_rows, new_rows = old_value.shape[0] // gates, new.shape[0] // gates
            for g in range(gates):  # rows that existed: old values, small weights from the new inputs
                # (a small GDN γ_raw is clamped to its bound and reads as γ ≈ 0: almost no cross-normalisation)
                rows = slice(g * new_rows, g * new_rows + old_rows)
                if new.dim() > 1:
                    new[rows] *= NEW_WEIGHT_SCALE
                new[rows][(slice(None), *(slice(0, n) for n in old_value.shape[1:]))] = old_value[g * old_rows : (g + 1) * old_rows]
    return wide.train(model.training)


NARROWABLE = ("tail_branches", "decoder_hidden")  # what narrow may thin: the decoder's most expensive layers


def is_narrower(old: ModelConfig, new: ModelConfig) -> bool:
    """Whether ``new`` thins any layer of ``old`` (the fields narrow may change)."""
    return any(n < o for n, o in zip(new.tail_branches + new.decoder_hidden, old.tail_branches + old.decoder_hidden))


@dataclass(frozen=True)
class KeptChannels:
    """Which channels :func:`narrow` keeps (ascending indices into the old layers)."""

    branch_hidden: tuple[torch.Tensor, ...]  # per tail branch: its hidden channels
    groups: torch.Tensor  # input channels of the 1/8 cell, each a group of four hidden channels of the 1/16 cell
    dropped_groups: torch.Tensor  # the 1/8 cell's other input channels

    def units(self, groups: torch.Tensor | None = None) -> torch.Tensor:
        """The 1/16 cell's hidden channels behind ``groups`` (default: the kept ones), four per group."""
        groups = self.groups if groups is None else groups
        return (4 * groups[:, None] + torch.arange(4)).flatten()


def kept_channels(model: Network, cfg: ModelConfig) -> KeptChannels:
    """The channels :func:`narrow` keeps: for each tail branch, the hidden channels with the largest
    product of incoming and outgoing weight norms; for the 1/16 cell, the groups of four hidden
    channels that depth-to-space turns into one input channel of the 1/8 cell, by the norm of the
    weights reading that input."""
    old, dec = model.cfg, model.decoder
    others_equal = replace(cfg, **{k: getattr(old, k) for k in NARROWABLE}) == old
    thinner = (cfg.decoder_hidden[1:] == old.decoder_hidden[1:] and cfg.decoder_hidden[0] <= old.decoder_hidden[0]
               and all(n == o or 0 < n < o for n, o in zip(cfg.tail_branches, old.tail_branches)))
    if not (others_equal and thinner):
        raise ValueError("narrow: the new config may only thin the tail branches and the 1/16 decoder cell of the old one")
    branch_hidden = []
    for branch, width in zip(dec.branches, cfg.tail_branches):
        if not width:  # no branch beside this cell
            branch_hidden.append(torch.arange(0))
            continue
        strength = branch.conv1.weight.flatten(1).norm(dim=1) * branch.conv2.weight.transpose(0, 1).flatten(1).norm(dim=1)
        branch_hidden.append(strength.argsort(descending=True)[:width].sort().values)
    strength = dec.cells[1].conv_in.weight.transpose(0, 1).flatten(1).norm(dim=1)  # one per input channel of the 1/8 cell
    order = strength.argsort(descending=True)
    keep = cfg.decoder_hidden[0] // 4
    return KeptChannels(tuple(branch_hidden), order[:keep].sort().values, order[keep:].sort().values)


def narrow(model: Network, cfg: ModelConfig) -> Network:
    """A copy of ``model`` with thinner tail branches and 1/16 decoder cell (``cfg``), keeping the
    channels :func:`kept_channels` picks, each with its weights, gate by gate.

    The start of a cheaper decoder, to be trained further: dropping channels changes the function,
    so a narrowed model decodes worse until it has trained (``experiments/thin_decoder.py`` measures
    how much, and folds what the 1/16 cell's dropped channels carried into the kept ones).
    """
    kept = kept_channels(model, cfg)
    hidden = model.cfg.decoder_hidden[0]
    units = kept.units()
    gate_rows = torch.cat([g * hidden + units for g in range(4)])
    slices = {"decoder.cells.0.conv_in": (gate_rows, None), "decoder.cells.0.conv_hidden": (gate_rows, units),
              "decoder.cells.1.conv_in": (None, kept.groups)}  # module → (kept output rows, kept input columns)
    for i, rows in enumerate(kept.branch_hidden):
        if len(rows):
            slices[f"decoder.branches.{i}.conv1"] = (rows, None)
            slices[f"decoder.branches.{i}.conv2"] = (None, rows)
    thin = Network(cfg)
    old_state = model.state_dict()
    with torch.no_grad():
        for name, new in thin.state_dict().items():
            value = old_state[name]
            rows, columns = slices.get(name.rsplit(".", 1)[0], (None, None))
            if rows is not None:
                value = value[rows]
            if columns is not None and value.dim() > 1:
                value = value[:, columns]
            new.copy_(value)
    return thin.train(model.training)


def new_parameters(model: Network, old_state: dict) -> set[str]:
    """Names of ``model``'s parameters that ``old_state`` (the weights it grew from) does not have."""
    return {name for name, _ in model.named_parameters() if name not in old_state}


def check_shape(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] % BLOCK or x.shape[3] % BLOCK:
        raise ValueError(f"expected (B, 3, H, W) with H, W multiples of {BLOCK}, got {tuple(x.shape)}")


def macs_per_pixel(model: Network) -> int:
    """Multiply-accumulates per input pixel for one encoder + decoder iteration (convolutions and GDN)."""
    size = 64
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * k * module.in_channels // module.groups
        elif isinstance(module, GDN):
            total += output.numel() * output.shape[1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, GDN))]
    try:
        with torch.no_grad():
            it = model.eval().iterate(torch.zeros(1, 3, size, size), 2)
            next(it)  # first iteration skips the hidden convs; count the second
            total = 0
            next(it)
    finally:
        for h in handles:
            h.remove()
    return math.ceil(total / size**2)
