"""One decoder step and its gradient with respect to the bits, written out operation by operation,
so that it exports to an ONNX graph (:mod:`rnncodec.export`) and the encoder's bit search
(:mod:`rnncodec.engines.search`) runs on ONNX Runtime without PyTorch's autograd.

The forward pass is :meth:`rnncodec.network.Network.decode_step`; the backward pass is its
vector–Jacobian product for the squared error against a target, with the decoder's state and the
iteration's parameters held fixed: a convolution's is the transposed convolution with the same
weights, depth-to-space's is space-to-depth, and the inverse GDN's and the LSTM gates' are their
derivatives, element by element.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import depth_to_space_after
from .network import Network


def conv_input_gradient(grad: torch.Tensor, conv: nn.Conv2d, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The gradient at the input of a stride-1 ``conv`` (or of one with ``weight`` and its padding)
    from the gradient at its output: the transposed convolution, written as a convolution with the
    kernel's input and output channels swapped and its taps reversed (ONNX Runtime runs a
    convolution faster than a ConvTranspose)."""
    kernel = (conv.weight if weight is None else weight).transpose(0, 1)
    if kernel.shape[-1] == 1:
        return F.conv2d(grad, kernel)
    return F.conv2d(grad, kernel.flip(2, 3), padding=kernel.shape[-1] - 1 - conv.padding[0])


def branch_input_gradient(grad: torch.Tensor, branch, relu_in: torch.Tensor) -> torch.Tensor:
    """The gradient at the input of a :class:`rnncodec.network.ConvBranch` (conv → ReLU → conv) from the
    gradient at its output; ``relu_in`` is what its ReLU read."""
    return conv_input_gradient(conv_input_gradient(grad, branch.conv2) * (relu_in > 0), branch.conv1)


def decode_with_gradient(network: Network, bits: torch.Tensor, t: int | torch.Tensor, state, target: torch.Tensor):
    """(Dec_t(bits), new state, squared error, its gradient) for one decoder step: the error is the mean
    over pixels and channels of (target − Dec_t(bits))², one per image, and the gradient is that of its
    sum with respect to ``bits`` (B, C, h, w), as autograd would give through ``network.decode_step``."""
    dec = network.decoder
    index = t - 1
    # forward, keeping what the backward pass reads
    x1 = dec.synthesis(dec.expand(bits))
    c = x1.shape[1]
    norm = F.conv2d(x1 * x1, dec.igdn.gamma.view(c, c, 1, 1), dec.igdn.beta)
    root = torch.sqrt(norm)
    x = x1 * root
    saved, new_state = [], []
    state = state or [None] * len(dec.cells)
    for level, (cell, s) in enumerate(zip(dec.cells, state)):
        tail = level - 2
        scale = None
        if tail >= 0 and dec.conditioning:
            scale = 1 + dec.tail_scale[tail][index].view(1, -1, 1, 1)
            x = x * scale + dec.tail_shift[tail][index].view(1, -1, 1, 1)
        gates = cell.conv_in(x)
        if s is not None:
            gates = gates + cell.conv_hidden(s[0])
        i, f, o, g = (a.tanh() if k == 3 else a.sigmoid() for k, a in enumerate(gates.chunk(4, dim=1)))
        cell_state = i * g if s is None else i * g + f * s[1]
        squashed = torch.tanh(cell_state)
        h = o * squashed
        new_state.append((h, cell_state))
        branch = relu_in = None
        if tail >= 0 and not isinstance(dec.branches[tail], nn.Identity):
            relu_in = dec.branches[tail].conv1(x)
            branch = dec.branches[tail].conv2(F.relu(relu_in))
            h = torch.cat([h + branch[:, : h.shape[1]], branch[:, h.shape[1]:]], 1)
        saved.append((scale, i, f, o, g, squashed, None if s is None else s[1], relu_in))
        if level < len(dec.cells) - 1:
            x = F.pixel_shuffle(h, 2)
    full_relu_in = None
    if isinstance(dec.full_resolution, nn.Identity):
        out = dec.rgb(h)
    else:
        full = F.pixel_shuffle(h, 2)
        full_relu_in = dec.full_resolution.conv1(full)
        out = dec.to_rgb(full + dec.full_resolution.conv2(F.relu(full_relu_in)))
    if dec.conditioning:
        out = out + dec.output_bias[index].view(1, 3, 1, 1)
    gain = network.gain(t)
    delta = out / gain
    difference = target - delta
    pixels = difference[0].numel()
    error = difference.pow(2).flatten(1).mean(dim=1)

    # backward: the gradient of error.sum() from the output back to the bits
    grad = (-2 / pixels) * difference / gain
    if full_relu_in is None:  # to_rgb as its equivalent before depth-to-space, at half resolution
        grad = conv_input_gradient(F.pixel_unshuffle(grad, 2), dec.to_rgb, depth_to_space_after(dec.to_rgb)[0])
    else:  # the full-resolution branch adds to its input
        grad = conv_input_gradient(grad, dec.to_rgb)
        grad = F.pixel_unshuffle(grad + branch_input_gradient(grad, dec.full_resolution, full_relu_in), 2)
    # (now at the last cell's output, with its extra channels)
    for level in reversed(range(len(dec.cells))):
        cell, (scale, i, f, o, g, squashed, previous_c, relu_in) = dec.cells[level], saved[level]
        tail = level - 2
        grad_x = None
        if relu_in is not None:  # the branch's output is added to h and gives the extra channels
            grad_x = branch_input_gradient(grad, dec.branches[tail], relu_in)
            grad = grad[:, : cell.hidden]
        grad_c = grad * o * (1 - squashed * squashed)
        gate_grads = [grad_c * g * i * (1 - i),
                      grad_c * previous_c * f * (1 - f) if previous_c is not None else torch.zeros_like(f),
                      grad * squashed * o * (1 - o),
                      grad_c * i * (1 - g * g)]
        grad_in = conv_input_gradient(torch.cat(gate_grads, 1), cell.conv_in)
        grad_x = grad_in if grad_x is None else grad_in + grad_x
        if scale is not None:
            grad_x = grad_x * scale
        grad = F.pixel_unshuffle(grad_x, 2) if level > 0 else grad_x
    # inverse GDN: y = x1·sqrt(β + γ·x1²)
    gamma = dec.igdn.gamma.view(c, c, 1, 1)
    grad = grad * root + x1 * F.conv2d(grad * x1 / root, gamma.transpose(0, 1))
    grad = conv_input_gradient(conv_input_gradient(grad, dec.synthesis), dec.expand)
    return delta, new_state, error, grad
