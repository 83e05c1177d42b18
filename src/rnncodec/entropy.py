"""Context-adaptive binary arithmetic coding of the network's codes (constriction's range coder).

Each iteration's codes, a (C, h, w) array of bits, are coded in two passes over a checkerboard:
pass 0 codes the squares with (y + x) even, pass 1 the odd ones. The context of a bit is
  - its channel c,
  - the bits at the same position in the two previous iterations (each absent / 0 / 1),
  - in pass 1, the sum of its four same-channel neighbours from pass 0 (each ±1, absent 0).
Each context holds integer counts (n0, n1), updated after every band of rows within a pass and
halved when large, so the probabilities — 16-bit integers derived from the counts — are computed
identically by the encoder and the decoder on any machine. Each band of a pass is one vectorised
call into the coder (at most 2 × 8 calls per iteration), never a Python loop per bit.
"""

from __future__ import annotations

import numpy as np
import constriction

CODER_ID = 1  # written in the file header; bump when contexts or counts change
PROB_BITS = 16
COUNT_LIMIT = 1 << 13  # halve a context's counts when their sum passes this, to keep adapting
RAW, CODED = 0, 1  # chunk modes

_HISTORY_STATES = 3  # absent, 0, 1
_NEIGHBOUR_STATES = 10  # pass 0: one state; pass 1: sum of four ±1 neighbours, -4..4
_BANDS = 8  # bands of rows per pass: the counts are updated after each


def _checkerboard(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy + xx) % 2 == 0  # True: coded in pass 0


class CodeCoder:
    """Codes the iterations of one image in order; encoder and decoder each keep one instance."""

    def __init__(self, channels: int, height: int, width: int):
        self.shape = (channels, height, width)
        n_contexts = channels * _HISTORY_STATES**2 * _NEIGHBOUR_STATES
        self.counts = np.ones((n_contexts, 2), dtype=np.int64)
        self.history = [np.zeros(self.shape, np.int64), np.zeros(self.shape, np.int64)]  # 0 absent, 1 → bit 0, 2 → bit 1
        even = np.broadcast_to(_checkerboard(height, width), self.shape)
        self.pass_masks = [even, ~even]
        rows = -(-height // _BANDS)
        row = np.broadcast_to(np.arange(height).reshape(1, -1, 1), self.shape)
        self.band_masks = [[m & (row // rows == b) for b in range(-(-height // rows))] for m in self.pass_masks]
        channel = np.broadcast_to(np.arange(channels).reshape(-1, 1, 1), self.shape)
        self.channel_part = channel * _HISTORY_STATES**2 * _NEIGHBOUR_STATES

    @property
    def raw_size(self) -> int:
        return (int(np.prod(self.shape)) + 7) // 8

    # --- contexts and probabilities -----------------------------------------------------------
    def _context_map(self, pass_index: int, partial: np.ndarray) -> np.ndarray:
        """Context index of every position for pass pass_index, given the bits of earlier passes."""
        history = self.history[0] * _HISTORY_STATES + self.history[1]
        if pass_index == 0:
            neighbours = np.zeros(self.shape, np.int64)
        else:
            signed = np.where(self.pass_masks[0], 2 * partial.astype(np.int64) - 1, 0)
            padded = np.pad(signed, ((0, 0), (1, 1), (1, 1)))
            neighbours = 5 + padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
        return self.channel_part + history * _NEIGHBOUR_STATES + neighbours

    def _contexts(self, bits: np.ndarray):
        """Yield (mask, contexts) for each band of each pass; bits must be filled in up to that band."""
        for p in (0, 1):
            context_map = self._context_map(p, bits)  # pass 1 needs all of pass 0, not just earlier bands
            for mask in self.band_masks[p]:
                yield mask, context_map[mask]

    def _probabilities(self, contexts: np.ndarray) -> np.ndarray:
        """P(bit = 1) per symbol as k / 2^16, k an integer in [1, 2^16 - 1] rounded from the counts."""
        n0, n1 = self.counts[contexts, 0], self.counts[contexts, 1]
        scale = 1 << PROB_BITS
        k = np.clip((2 * n1 * scale + n0 + n1) // (2 * (n0 + n1)), 1, scale - 1)
        return k.astype(np.float64) / scale  # exact: k and 2^16 are representable

    def _update(self, contexts: np.ndarray, symbols: np.ndarray) -> None:
        np.add.at(self.counts, (contexts, symbols.astype(np.int64)), 1)
        big = self.counts.sum(axis=1) > COUNT_LIMIT
        self.counts[big] = (self.counts[big] + 1) // 2

    def _finish_iteration(self, bits: np.ndarray) -> None:
        self.history = [1 + bits.astype(np.int64), self.history[0]]

    # --- public ---------------------------------------------------------------------------------
    def encode(self, bits: np.ndarray) -> tuple[int, bytes]:
        """Code one iteration's bits (C, h, w) of 0/1; returns (mode, payload), raw if coding would not save."""
        bits = np.asarray(bits, dtype=np.uint8)
        if bits.shape != self.shape:
            raise ValueError(f"expected codes of shape {self.shape}, got {bits.shape}")
        encoder = constriction.stream.queue.RangeEncoder()
        family = constriction.stream.model.Bernoulli(perfect=False)
        for mask, contexts in self._contexts(bits):
            symbols = bits[mask].astype(np.int32)
            encoder.encode(symbols, family, self._probabilities(contexts))
            self._update(contexts, symbols)
        self._finish_iteration(bits)
        coded = encoder.get_compressed().astype("<u4").tobytes()
        if len(coded) < self.raw_size:
            return CODED, coded
        return RAW, np.packbits(bits.ravel()).tobytes()

    def decode(self, mode: int, payload: bytes) -> np.ndarray:
        """Inverse of :meth:`encode`: the iteration's bits (C, h, w) as uint8 0/1."""
        bits = np.zeros(self.shape, np.uint8)
        if mode == RAW:
            if len(payload) != self.raw_size:
                raise ValueError("raw chunk has the wrong length")
            bits[...] = np.unpackbits(np.frombuffer(payload, np.uint8), count=bits.size).reshape(self.shape)
        elif mode == CODED:
            if len(payload) % 4:
                raise ValueError("coded chunk length is not a multiple of 4")
            decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, "<u4").astype(np.uint32))
            family = constriction.stream.model.Bernoulli(perfect=False)
        else:
            raise ValueError(f"unknown chunk mode {mode}")
        for mask, contexts in self._contexts(bits):
            if mode == CODED:
                bits[mask] = decoder.decode(family, self._probabilities(contexts))
            self._update(contexts, bits[mask])
        self._finish_iteration(bits)
        return bits
