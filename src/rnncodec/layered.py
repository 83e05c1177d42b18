"""Entropy coder 3: the network's iterations as coder 2 codes them, then layered block-stage iterations.

A model with a block stage (:mod:`rnncodec.block_stage`) refines each 16×16 block up to S times
after the network's K iterations; every refinement is the block's C bits of that stage level. In
a layered file, iteration K + j (a *layer*) gives each block any number n ≥ 0 of its next
refinements, as the encoder chose by rate and distortion (:func:`rnncodec.block_stage.refinement_order`).
One layer's payload is one range-coded stream of

1. the map: for each block with refinements left, n as binary decisions "more than d?" for
   d = 0, 1, … (stopping at the block's last level), each decision a vectorised call over the
   blocks still deciding, in the context of d, the block's level, its own n in the previous
   iteration and how many of its four neighbours got refinements then (the network's iterations
   count as one each);
2. the refinements' bits, in rounds (round r: the (r + 1)-th refinement of every block with
   n > r), channel by channel, in coder 2's contexts without neighbours: the stage level's
   iteration, the same block's bits of its two previous levels (or network iterations), the
   partner channels of the same refinement; coder 2's counts go on adapting.

Every context is an integer from decoded bits and counts, never from a float.
"""

from __future__ import annotations

import numpy as np

from .entropy import (CONTEXTS_PER_CHANNEL, PARTNERS, GridCoder, CoderTables, SymbolStream, _iteration_state,
                      history_state, probabilities, update)

LAYERED_CODER_ID = 3
_DECISION_STATES, _LEVEL_STATES, _PREVIOUS_STATES, _NEIGHBOUR_STATES = 4, 4, 3, 5
MAP_CONTEXTS = _DECISION_STATES * _LEVEL_STATES * _PREVIOUS_STATES * _NEIGHBOUR_STATES
_PARTNER_STATES = 3


def _level_state(level: np.ndarray) -> np.ndarray:
    """Stage level 0, 1–2, 3–5, 6 and more → 0..3."""
    return (level >= 1).astype(np.int64) + (level >= 3) + (level >= 6)


class LayeredCoder:
    """Codes one image's iterations in order (encoder and decoder each keep one): the first ``after``
    with coder 2 (:meth:`encode_grid`, :meth:`decode_grid`), the rest as layers of up to ``levels``
    refinements per block (:meth:`encode_layer`, :meth:`decode_layer`)."""

    def __init__(self, channels: int, height: int, width: int, tables: CoderTables | None, after: int, levels: int):
        self.grid = GridCoder(channels, height, width, tables)
        self.after, self.levels = after, levels
        self.level = np.zeros((height, width), np.int64)  # refinements each block has had
        self.previous = np.ones((height, width), np.int64)  # refinements each block got in the previous iteration
        self.map_counts = np.ones((MAP_CONTEXTS, 2), np.int64)
        self.codes = None  # decoding: every refinement's bits (levels, C, h, w), as they come
        self.iteration_states = np.array([_iteration_state(after + level) for level in range(levels)])

    # --- the network's iterations ------------------------------------------------------------
    def encode_grid(self, bits: np.ndarray) -> tuple[int, bytes]:
        return self.grid.encode(bits)

    def decode_grid(self, mode: int, payload: bytes) -> np.ndarray:
        return self.grid.decode(mode, payload)

    # --- layers --------------------------------------------------------------------------------
    def encode_layer(self, count: np.ndarray, codes: np.ndarray) -> bytes:
        """Code a layer: ``count`` (h, w) refinements per block, taken from ``codes`` (S, C, h, w) 0/1,
        every refinement's bits of every block. Returns the payload (always range-coded)."""
        stream = SymbolStream()
        self._layer(stream, np.asarray(count, np.int64), codes)
        return stream.coded()

    def decode_layer(self, payload: bytes) -> np.ndarray:
        """Inverse of :meth:`encode_layer`: each block's refinement count; their bits land in :attr:`codes`.

        Invalid data raises ValueError, or whatever the range decoder raises (AssertionError)."""
        stream = SymbolStream(payload)
        if self.codes is None:
            self.codes = np.zeros((self.levels, *self.grid.shape), np.uint8)
        count = self._layer(stream, None, self.codes)
        stream.finish()
        return count

    def _layer(self, stream: SymbolStream, count: np.ndarray | None, codes: np.ndarray) -> np.ndarray:
        if self.grid.iteration < self.after:
            raise ValueError(f"a layer comes after the network's {self.after} iterations")
        count = self._map(stream, count)
        for r in range(int(count.max(initial=0))):
            self._refinements(stream, count > r, codes)
        self.grid.iteration += 1
        self.previous = count
        return count

    def _map(self, stream: SymbolStream, count: np.ndarray | None) -> np.ndarray:
        """Code (count given) or decode each block's refinement count in this layer."""
        padded = np.pad(self.previous > 0, 1).astype(np.int64)
        around = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
        base = (np.minimum(self.previous, 2) * _NEIGHBOUR_STATES + around) * _LEVEL_STATES
        decided = np.zeros(self.level.shape, np.int64)
        deciding = self.level < self.levels
        for d in range(self.levels):
            if not deciding.any():
                break
            contexts = (base[deciding] + _level_state(self.level[deciding] + d)) * _DECISION_STATES + min(d, 3)
            more = None if count is None else count[deciding] > d
            more = stream.code(probabilities(self.map_counts, contexts), more)
            update(self.map_counts, contexts, more)
            decided[deciding] += more
            deciding &= (decided > d) & (self.level + decided < self.levels)
        if count is not None and not np.array_equal(decided, count):
            raise ValueError("a layer's counts must be 0 up to the levels each block has left")
        return decided

    def _refinements(self, stream: SymbolStream, where: np.ndarray, codes: np.ndarray) -> None:
        """One round: the next refinement of the blocks ``where``, channel by channel."""
        grid = self.grid
        channels = grid.shape[0]
        level = self.level[where]  # 0-based: this refinement's stage level
        ys, xs = np.nonzero(where)
        given = None if stream.decoder is not None else codes[level, :, ys, xs].T  # (C, blocks): the bits to code
        base = history_state(self.iteration_states[level], grid.history[0][:, where], grid.history[1][:, where])
        base = base * 10 * _PARTNER_STATES**PARTNERS + (np.arange(channels) * CONTEXTS_PER_CHANNEL)[:, None]
        partners = np.where(grid.tables.partners < 0, channels, grid.tables.partners)
        states = np.zeros((channels + 1, int(where.sum())), np.int64)
        bits = np.zeros((channels, len(level)), np.uint8)
        for c in range(channels):
            partner_part = np.zeros(len(level), np.int64)
            for row in partners[c]:
                partner_part = partner_part * _PARTNER_STATES + states[row]
            contexts = base[c] + partner_part
            bits[c] = stream.code(grid._probabilities(contexts), None if given is None else given[c])
            grid._update(contexts, bits[c])
            states[c] = 1 + bits[c]
        codes[level, :, ys, xs] = bits.T
        grid.history[1][:, where] = grid.history[0][:, where]
        grid.history[0][:, where] = 1 + bits
        self.level[where] += 1
