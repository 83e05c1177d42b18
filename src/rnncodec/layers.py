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
    """

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, stride: int = 1, hidden_kernel: int = 1):
        super().__init__()
        self.hidden = hidden
        self.stride = stride
        self.conv_in = nn.Conv2d(in_channels, 4 * hidden, kernel, stride, padding=kernel // 2)
        self.conv_hidden = nn.Conv2d(hidden, 4 * hidden, hidden_kernel, padding=hidden_kernel // 2, bias=False)
        with torch.no_grad():  # forget gate starts open-ish so the memory is used from the start
            self.conv_in.bias.zero_()
            self.conv_in.bias[hidden : 2 * hidden].fill_(1.0)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        gates = self.conv_in(x)  # (B, 4H, h, w)
        if state is not None:
            h, c = state
            gates = gates + self.conv_hidden(h)
        i, f, o, g = gates.chunk(4, dim=1)
        c_new = torch.sigmoid(i) * torch.tanh(g)
        if state is not None:
            c_new = c_new + torch.sigmoid(f) * c
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        return h_new, (h_new, c_new)
