"""An encoder that searches its bits (``effort``): each network iteration's bits refined by gradient
steps through the PyTorch decoder, so that the same decoder gives a closer picture.

The engine contract (:mod:`rnncodec.engines.protocol`) around another engine: its encode step starts
from the network encoder's bits and runs Adam on the binarizer's pre-activations, the bits their
sign (straight-through gradient), keeping the bits of least squared error seen, the encoder's
included; its decode step is the other engine's, so the codec's reconstruction is the decoder's
own. Files decode with any release, as the decoder is unchanged; the search needs PyTorch, and
each step is a decoder pass forward and back. The bits depend on PyTorch's float arithmetic, so
searched files can differ between machines (each decodes the same everywhere).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEARCH_LR = 0.05  # Adam's step on the pre-activations (bits flip where they cross zero)


def search_bits(network, target, t: int, decoder_state, activations, steps: int, lr: float = SEARCH_LR):
    """Bits (B, C, h, w) in ±1 for iteration t whose decoded increment is closer to ``target`` (B, 3, H, W),
    x − γ·x̂_{t−1}, in each image's squared error: ``steps`` Adam steps from the binarizer's
    pre-activations ``activations``, through ``network``'s decoder from ``decoder_state``. The bits
    before each step and after the last are scored, the encoder's (the sign of ``activations``)
    first, and the best kept: ``steps`` decoder passes forward and back, and one forward."""
    import torch

    def sign(a):
        return torch.where(a >= 0, 1.0, -1.0)

    def errors(bits):
        delta, _ = network.decode_step(bits, t, decoder_state)
        return (target - delta).pow(2).mean(dim=(1, 2, 3))

    best, best_error = None, None

    def keep(bits, error):
        nonlocal best, best_error
        if best is None:
            best, best_error = bits, error
        else:
            better = error < best_error
            best, best_error = torch.where(better[:, None, None, None], bits, best), torch.minimum(error, best_error)

    pre = activations.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([pre], lr=lr)
    for _ in range(steps):
        soft = torch.tanh(pre)
        error = errors(soft + (sign(pre) - soft).detach())  # the value of the bits, the gradient of their tanh
        keep(sign(pre.detach()), error.detach())
        optimizer.zero_grad()
        error.sum().backward()
        optimizer.step()
    with torch.no_grad():
        bits = sign(pre)
        keep(bits, errors(bits))
    return best


class SearchingEngine:
    """``engine``'s steps, its encode step's bits searched (:func:`search_bits`) through ``network``, the
    same weights on PyTorch, for ``steps`` steps."""

    def __init__(self, engine, network, steps: int):
        if network.cfg.gamma != 1:
            raise ValueError("the bit search needs an additive network (γ = 1)")
        self.engine, self.network, self.steps = engine, network.eval().requires_grad_(False), steps
        self.cfg = engine.cfg
        self.decoder_state = None  # the PyTorch decoder's, beside the codec's

    @classmethod
    def around(cls, engine, network_path: Path | None, steps: int) -> "SearchingEngine":
        """The search around ``engine``, on its own network if it is PyTorch's, else on the weights at ``network_path``."""
        try:
            from .torch import TorchEngine
            from ..weights import load_network
        except ImportError:
            raise ValueError("the bit search (effort > 0) needs PyTorch: pip install 'rnncodec[train]'") from None
        if isinstance(engine, TorchEngine):
            return cls(engine, engine.network, steps)
        if network_path is None:
            raise ValueError("the bit search needs the network's weights file")
        return cls(engine, load_network(network_path), steps)

    def encode_step(self, residual: np.ndarray, t: int, state=None):
        import torch

        if t == 1:
            self.decoder_state = None  # a new tile
        r = torch.from_numpy(residual)
        with torch.no_grad():
            features, state = self.network.encoder(r * self.network.gain(t), state)
            activations = self.network.binarizer.conv(features)
        with torch.enable_grad():
            bits = search_bits(self.network, r, t, self.decoder_state, activations, self.steps)
        with torch.no_grad():
            _, self.decoder_state = self.network.decode_step(bits, t, self.decoder_state)
        return bits.numpy().astype(np.float32), state

    def decode_step(self, bits: np.ndarray, t: int, state=None):
        return self.engine.decode_step(bits, t, state)
