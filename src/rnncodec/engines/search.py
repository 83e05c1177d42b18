"""An encoder that searches its bits (``effort``): each network iteration's bits changed, block by
block, where the same decoder then draws a closer picture.

The engine contract (:mod:`rnncodec.engines.protocol`) around another engine. Its encode step takes
the network encoder's bits and one pass of the decoder forward and back: the gradient of the squared
error with respect to the bits says which bits a flip would help (to first order). Of those, the
bits the encoder was least sure of (the smallest binarizer pre-activations, below a threshold) are
flipped, at ``effort`` thresholds, each a candidate decoded in full; each 16×16 block then keeps the
candidate that draws it closest, and the bits so mixed are decoded too. The bits of least squared
error seen are coded, the encoder's among them, so a searched iteration is never further from the
picture than the encoder's. Its decode step is the other engine's, so the codec's reconstruction is
the decoder's own, and files decode with any release, as the decoder is unchanged.

The gradient comes from the engine's ``decode_with_gradient`` (:mod:`rnncodec.decoder_gradient`; on
ONNX Runtime the search graphs shipped beside the network), so the search needs no PyTorch. The
bits depend on the engine's float arithmetic, so searched files can differ between machines (each
decodes the same everywhere).
"""

from __future__ import annotations

import numpy as np

from ..limits import BLOCK

MIDDLE_THRESHOLD = 0.1  # of the candidates' thresholds on the pre-activations; they are spaced by factors of 2


def flip_thresholds(effort: int) -> np.ndarray:
    """The ``effort`` thresholds below which a candidate flips the bits the gradient favours: factors of 2
    apart, centred (geometrically) on MIDDLE_THRESHOLD: 0.1; 0.071, 0.14; 0.05, 0.1, 0.2; …"""
    return MIDDLE_THRESHOLD * 2.0 ** (np.arange(effort) - (effort - 1) / 2)


def sign(values: np.ndarray) -> np.ndarray:
    return np.where(values >= 0, np.float32(1), np.float32(-1))


def block_errors(target: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Each BLOCK×BLOCK block's summed squared difference, (B, H/BLOCK, W/BLOCK)."""
    B, C, H, W = target.shape
    squares = np.square(target - delta).reshape(B, C, H // BLOCK, BLOCK, W // BLOCK, BLOCK)
    return squares.sum(axis=(1, 3, 5), dtype=np.float64)


def squared_errors(blocks: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each image's mean squared difference, (B,), from its blocks' (:func:`block_errors`)."""
    return blocks.sum(axis=(1, 2)) / target[0].size


class Best:
    """The bits of least error seen for each image, and the decoder's output and state after them
    while one candidate is the best for every image (always, for a single image)."""

    def __init__(self):
        self.bits = self.errors = self.delta = self.state = None

    def offer(self, bits, errors, delta, state) -> None:
        if self.bits is None:
            self.bits, self.errors, self.delta, self.state = bits, errors, delta, state
            return
        better = errors < self.errors
        if better.all():
            self.delta, self.state = delta, state
        elif better.any():
            self.delta = self.state = None  # images chose different candidates
        self.bits = np.where(better[:, None, None, None], bits, self.bits)
        self.errors = np.minimum(errors, self.errors)


def search_bits(engine, target: np.ndarray, t: int, decoder_state, activations: np.ndarray, effort: int):
    """Bits (B, C, h, w) in ±1 for iteration t whose decoded increment is closer to ``target`` (B, 3, H, W),
    x − γ·x̂_{t−1}, in each image's squared error, with the decoder's output and new state after them
    (None where images chose different candidates): the encoder's bits (the sign of the binarizer's
    pre-activations ``activations``), ``effort`` candidates that flip the bits the gradient favours
    below each of :func:`flip_thresholds`, and their per-block mix, all through ``engine``'s decoder
    from ``decoder_state``; the best kept. One decoder pass forward and back, and up to ``effort`` + 1 forward."""
    bits = sign(activations)
    delta, gradient, state = engine.decode_with_gradient(bits, t, decoder_state, target)
    favoured = gradient * bits > 0  # flipping these lowers the error, to first order
    unsure = np.abs(activations)
    best, candidates, errors = Best(), [], []

    def offer(candidate, delta, state):
        blocks = block_errors(target, delta)
        best.offer(candidate, squared_errors(blocks, target), delta, state)
        candidates.append(candidate)
        errors.append(blocks)

    offer(bits, delta, state)
    for threshold in flip_thresholds(effort):
        candidate = np.where(favoured & (unsure < threshold), -bits, bits)
        offer(candidate, *engine.decode_step(candidate, t, decoder_state))
    choice = np.argmin(np.stack(errors), axis=0)  # (B, h, w): each block's closest candidate
    if (choice != choice.flat[0]).any():
        mixed = np.take_along_axis(np.stack(candidates), choice[None, :, None], axis=0)[0]
        delta, state = engine.decode_step(mixed, t, decoder_state)
        best.offer(mixed, squared_errors(block_errors(target, delta), target), delta, state)
    return best.bits, best.delta, best.state


class SearchingEngine:
    """``engine``'s steps, its encode step's bits searched (:func:`search_bits`) with ``effort`` candidates.

    ``engine`` must give the binarizer's pre-activations and the decoder's gradient
    (``encoder_activations`` and ``decode_with_gradient``, as the ONNX and PyTorch engines do). The
    codec's decode step after an encode step, on the bits it gave, returns what the search computed."""

    def __init__(self, engine, effort: int):
        if engine.cfg.gamma != 1:
            raise ValueError("the bit search needs an additive network (γ = 1)")
        if not hasattr(engine, "decode_with_gradient"):
            raise ValueError("this engine cannot search bits (it gives no decoder gradient)")
        self.engine, self.effort, self.cfg = engine, effort, engine.cfg
        self.decoder_state = None  # after the bits of the last encode step
        self._searched = None  # (bits, the state they were searched from, delta, new state)

    def encode_step(self, residual: np.ndarray, t: int, state=None):
        if t == 1:
            self.decoder_state = None  # a new tile
        activations, state = self.engine.encoder_activations(residual, t, state)
        previous = self.decoder_state
        bits, delta, self.decoder_state = search_bits(self.engine, residual, t, previous, activations, self.effort)
        if self.decoder_state is None:  # (the engines run one image at a time, so this does not happen)
            delta, self.decoder_state = self.engine.decode_step(bits, t, previous)
        self._searched = (bits, previous, delta, self.decoder_state)
        return bits, state

    def decode_step(self, bits: np.ndarray, t: int, state=None):
        if self._searched is not None and self._searched[0] is bits and self._searched[1] is state:
            return self._searched[2], self._searched[3]
        return self.engine.decode_step(bits, t, state)
