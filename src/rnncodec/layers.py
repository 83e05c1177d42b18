"""Building blocks: GDN / inverse GDN and a convolutional LSTM cell."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when it pushes x back above the bound."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return torch.clamp_min(x, bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        passes = (x >= ctx.bound) | (grad < 0)
        return grad * passes, None


class NonNegative(nn.Module):
    """Reparametrise a non-negative tensor p >= minimum as p = max(v, sqrt(minimum + eps))² - eps.

    Optimising v instead of p keeps p non-negative and lower-bounded, and the
    square gives small values a usable gradient (Ballé et al. 2016, CompressAI).
    """

    pedestal = 2.0**-36

    def __init__(self, minimum: float = 0.0):
        super().__init__()
        self.bound = (minimum + self.pedestal) ** 0.5

    def init(self, p: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.clamp_min(p + self.pedestal, self.pedestal))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return _LowerBound.apply(v, self.bound) ** 2 - self.pedestal


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al. 2016, arXiv:1511.06281).

    y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²) -- the paper form (α=2, ε=½), not the
    "simplified" one. ``inverse=True`` multiplies instead (IGDN, for synthesis).
    β and γ are stored through :class:`NonNegative`, so they stay ≥ 0 (β ≥ 1e-6).
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_param = NonNegative(beta_min)
        self.gamma_param = NonNegative(0.0)
        self.beta_raw = nn.Parameter(self.beta_param.init(torch.ones(channels)))
        self.gamma_raw = nn.Parameter(self.gamma_param.init(gamma_init * torch.eye(channels)))

    @property
    def beta(self) -> torch.Tensor:
        return self.beta_param(self.beta_raw)

    @property
    def gamma(self) -> torch.Tensor:
        return self.gamma_param(self.gamma_raw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        c = x.shape[1]
        norm = F.conv2d(x * x, self.gamma.view(c, c, 1, 1), self.beta)  # β_i + Σ_j γ_ij x_j²
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM (Shi et al. 2015) with a strided input convolution.

    gates = conv_in(x) + conv_hidden(h); state is the pair (h, c) at the
    output resolution, or None for the all-zero initial state.

    ``gate_by_gate`` (an inference setting, not part of the weights) computes the same cell with
    one convolution pair per gate, over the gate's rows of the weights, instead of one pair and
    four slices: the form the exported graphs take, where ONNX Runtime fuses each gate's sum and
    activation into its convolutions.
    """

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, stride: int = 1, hidden_kernel: int = 1):
        super().__init__()
        self.hidden = hidden
        self.stride = stride
        self.gate_by_gate = False
        self.conv_in = nn.Conv2d(in_channels, 4 * hidden, kernel, stride, padding=kernel // 2)
        self.conv_hidden = nn.Conv2d(hidden, 4 * hidden, hidden_kernel, padding=hidden_kernel // 2, bias=False)
        with torch.no_grad():  # forget gate starts open-ish so the memory is used from the start
            self.conv_in.bias.zero_()
            self.conv_in.bias[hidden : 2 * hidden].fill_(1.0)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        i, f, o, g = self._gates_one_by_one(x, state) if self.gate_by_gate else self._gates(x, state)
        c_new = torch.sigmoid(i) * torch.tanh(g)
        if state is not None:
            c_new = c_new + torch.sigmoid(f) * state[1]
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        return h_new, (h_new, c_new)

    def _gates(self, x, state):
        gates = self.conv_in(x)  # (B, 4H, h, w)
        if state is not None:
            gates = gates + self.conv_hidden(state[0])
        return gates.chunk(4, dim=1)

    def _gates_one_by_one(self, x, state):
        gates = []
        weights, biases, hidden_weights = (p.split(self.hidden) for p in (self.conv_in.weight, self.conv_in.bias, self.conv_hidden.weight))
        for weight, bias, hidden_weight in zip(weights, biases, hidden_weights):
            gate = F.conv2d(x, weight, bias, self.stride, self.conv_in.padding)
            if state is not None:
                gate = gate + F.conv2d(state[0], hidden_weight, None, 1, self.conv_hidden.padding)
            gates.append(gate)
        return gates


def depth_to_space_after(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias of a 3×3 convolution at half resolution that, followed by depth-to-space ×2,
    computes ``conv`` (3×3, stride 1, padding 1) applied after depth-to-space ×2: conv(d2s(z)) = d2s(conv'(z)).

    Output pixel (2y+a, 2x+b) of ``conv`` reads rows 2y+a-1 … 2y+a+1 of d2s(z), which are rows y-1 … y+1
    of z, sub-row p; so the half-resolution kernel holds each weight of ``conv`` once, at its
    (a, p, row) place, and zeros elsewhere. Depth-to-space is ONNX's CRD order (``F.pixel_shuffle``).
    """
    k = torch.arange(3)
    a_p = torch.arange(2)
    # place[a, p, D, K] = 1 where kernel row K of the full-resolution conv, for output sub-row a,
    # reads sub-row p of half-resolution row D - 1
    place = (k.view(1, 1, 1, 3) == 2 * k.view(1, 1, 3, 1) + a_p.view(1, 2, 1, 1) - a_p.view(2, 1, 1, 1) - 1).to(conv.weight.dtype)
    out, channels = conv.weight.shape[:2]
    weight = torch.einsum("ocKL,apDK,bqEL->oabcpqDE", conv.weight, place, place).reshape(4 * out, 4 * channels, 3, 3)
    return weight, conv.bias.repeat_interleave(4)
