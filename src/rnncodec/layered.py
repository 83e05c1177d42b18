"""Entropy coders 3 and 4: the network's iterations as coder 2 codes them, then layered block-stage iterations.

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

Coder 4 is coder 3 for a ternary stage (a component sent as −1, 0 or +1): the same map; a
refinement's symbols in rounds as above, each round as the blocks' scale bits (context: the stage
level and the block's previous scale bit), then component by component a "sent?" flag (context: the
level, the component, how many of the block's earlier components this refinement sent, how many its
previous refinement sent) and the signs of the sent ones (context: the level, the component, its
value in the block's previous refinement). Its counts start from the stage prior fitted on training
images (:func:`fit_stage_prior`, stored with the coder tables) and go on adapting.

Every context is an integer from decoded bits and counts, never from a float.
"""

from __future__ import annotations

import numpy as np

from .block_stage import NOT_SENT
from .entropy import (CONTEXTS_PER_CHANNEL, PARTNERS, PRIOR_STRENGTH, GridCoder, CoderTables, SymbolStream, _iteration_state,
                      history_state, prior_counts, probabilities, update)

LAYERED_CODER_ID = 3
TERNARY_CODER_ID = 4
_DECISION_STATES, _LEVEL_STATES, _PREVIOUS_STATES, _NEIGHBOUR_STATES = 4, 4, 3, 5
MAP_CONTEXTS = _DECISION_STATES * _LEVEL_STATES * _PREVIOUS_STATES * _NEIGHBOUR_STATES
_PARTNER_STATES = 3


def _level_state(level: np.ndarray) -> np.ndarray:
    """Stage level 0, 1–2, 3–5, 6 and more → 0..3."""
    return (level >= 1).astype(np.int64) + (level >= 3) + (level >= 6)


# --- coder 4's contexts: a ternary stage's symbols -------------------------------------------------
_STAGE_LEVEL_STATES = 6  # refinement 0, 1, 2, 3–5, 6–11, 12 and later
_SENT_EDGES = np.array([0, 1, 2, 3, 5, 8, 13, 21])  # earlier components sent in this refinement: lower edges
_PREVIOUS_SENT_EDGES = np.array([0, 1, 4, 8, 12, 16, 20, 24])  # components the previous refinement sent
_PREVIOUS_SENT_STATES = 1 + len(_PREVIOUS_SENT_EDGES)  # state 0: no previous refinement
_FLAG_STATES = _STAGE_LEVEL_STATES * len(_SENT_EDGES) * _PREVIOUS_SENT_STATES  # per component
_SIGN_STATES = _STAGE_LEVEL_STATES * 4  # per component; previous value: none, −1, +1, not sent
_SCALE_CONTEXTS = _STAGE_LEVEL_STATES * 3  # previous scale bit: none, down, up


def ternary_contexts(components: int) -> int:
    """How many contexts coder 4's stage counts hold for ``components`` components per refinement:
    the flags', then the signs', then the scale bits'."""
    return components * (_FLAG_STATES + _SIGN_STATES) + _SCALE_CONTEXTS


def _stage_level_state(level: np.ndarray) -> np.ndarray:
    level = np.asarray(level, np.int64)
    return np.minimum(level, 3) + (level >= 6) + (level >= 12)


_COUNTS = np.arange(-1, 65)  # a count of components (at most 63), or −1 for none
_SENT_STATE = (np.searchsorted(_SENT_EDGES, _COUNTS, side="right") - 1).astype(np.int32)  # indexed by count + 1
_PREVIOUS_SENT_STATE = np.where(_COUNTS < 0, 0, np.searchsorted(_PREVIOUS_SENT_EDGES, _COUNTS, side="right")).astype(np.int32)


def _previous_sent_state(previous_sent: np.ndarray) -> np.ndarray:
    """Components the previous refinement sent (−1: none) → its state."""
    return _PREVIOUS_SENT_STATE[np.asarray(previous_sent) + 1]


def _flag_contexts(level_state, component, sent_before, previous_state, components: int) -> np.ndarray:
    sent_state = _SENT_STATE[np.asarray(sent_before) + 1]
    return ((level_state * components + component) * len(_SENT_EDGES) + sent_state) * _PREVIOUS_SENT_STATES + previous_state


def _sign_contexts(level_state, component, previous_code, components: int) -> np.ndarray:
    """previous_code: the component's code in the block's previous refinement, 0/1/NOT_SENT, or −1 for none."""
    return components * _FLAG_STATES + (level_state * components + component) * 4 + previous_code + 1


def _scale_contexts(level_state, previous_up, components: int) -> np.ndarray:
    """previous_up: the block's previous scale bit 0/1, or −1 for none."""
    return components * (_FLAG_STATES + _SIGN_STATES) + level_state * 3 + previous_up + 1


def refinement_contexts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coder 4's contexts of each block's refinements, all in order: codes (L, C, N) 0/1/NOT_SENT →
    the contexts of the flags (L, C − 1, N), of the signs (same; meaningful where sent) and of the scale bits (L, N)."""
    levels, channels, blocks = codes.shape
    components = channels - 1
    symbols = codes[:, :-1]
    sent = symbols != NOT_SENT
    previous = np.full(symbols.shape, -1, np.int32)  # int32 throughout: an image's (L, C − 1, N) arrays are large
    previous[1:] = symbols[:-1]
    previous_sent = np.full((levels, blocks), -1, np.int32)
    previous_sent[1:] = sent[:-1].sum(axis=1)
    previous_up = np.full((levels, blocks), -1, np.int32)
    previous_up[1:] = codes[:-1, -1]
    level_state = _stage_level_state(np.arange(levels)).astype(np.int32)[:, None, None]
    component = np.arange(components, dtype=np.int32)[None, :, None]
    sent_before = np.cumsum(sent, axis=1, dtype=np.int32) - sent
    flags = _flag_contexts(level_state, component, sent_before, _previous_sent_state(previous_sent)[:, None], components)
    signs = _sign_contexts(level_state, component, previous, components)
    scales = _scale_contexts(level_state[:, 0], previous_up, components)
    return flags, signs, scales


def refinement_costs(prior: np.ndarray | None, codes: np.ndarray) -> np.ndarray:
    """Each refinement's bits (L, N) as coder 4's prior counts (None: uniform) would code it (static, no
    adapting): the encoder's estimate of what each costs, to give refinements out by gain per bit."""
    flags, signs, scales = refinement_contexts(codes)
    if prior is None:
        prior = np.ones((ternary_contexts(codes.shape[1] - 1), 2), np.int64)
    p1 = probabilities(np.ascontiguousarray(prior, np.int64), np.arange(len(prior)))
    bits = np.stack([-np.log2(1 - p1), -np.log2(p1)], axis=1).ravel()  # context c, symbol b → bits[2c + b]
    symbols = codes[:, :-1]
    sent = symbols != NOT_SENT
    cost = bits[2 * flags + sent] + np.where(sent, bits[2 * signs + (symbols == 1)], 0)
    return cost.sum(axis=1) + bits[2 * scales + (codes[:, -1] == 1)]


def fit_stage_prior(code_arrays: list[np.ndarray], components: int, strength: int = PRIOR_STRENGTH) -> np.ndarray:
    """Coder 4's prior counts (contexts, 2), 1–255, from training blocks' refinements, each (L, C, N)
    0/1/NOT_SENT, as :func:`rnncodec.entropy.fit_tables` fits coder 2's."""
    observed = np.zeros((ternary_contexts(components), 2), np.int64)
    for codes in code_arrays:
        flags, signs, scales = refinement_contexts(codes)
        symbols = codes[:, :-1]
        sent = symbols != NOT_SENT
        np.add.at(observed, (flags.ravel(), sent.ravel().astype(np.int64)), 1)
        np.add.at(observed, (signs[sent], (symbols[sent] == 1).astype(np.int64)), 1)
        np.add.at(observed, (scales.ravel(), codes[:, -1].ravel().astype(np.int64)), 1)
    return prior_counts(observed, strength)


class LayeredCoder:
    """Codes one image's iterations in order (encoder and decoder each keep one): the first ``after``
    with coder 2 (:meth:`encode_grid`, :meth:`decode_grid`), the rest as layers of up to ``levels``
    refinements per block (:meth:`encode_layer`, :meth:`decode_layer`): coder 3, or with ``ternary``
    coder 4."""

    def __init__(self, channels: int, height: int, width: int, tables: CoderTables | None, after: int, levels: int,
                 ternary: bool = False):
        self.grid = GridCoder(channels, height, width, tables)
        self.ternary = ternary
        if ternary:
            prior = None if tables is None else tables.stage_prior
            shape = (ternary_contexts(channels - 1), 2)
            if prior is not None and np.shape(prior) != shape:
                raise ValueError(f"the coder tables' stage prior has shape {np.shape(prior)}, coder 4 needs {shape}")
            self.stage_counts = np.ones(shape, np.int64) if prior is None else np.asarray(prior, np.int64).copy()
            self.previous_codes = np.full((channels, height, width), -1, np.int64)  # each block's last refinement
            self.previous_sent = np.full((height, width), -1, np.int64)
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
        refine = self._ternary_refinements if self.ternary else self._refinements
        for r in range(int(count.max(initial=0))):
            refine(stream, count > r, codes)
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

    def _ternary_refinements(self, stream: SymbolStream, where: np.ndarray, codes: np.ndarray) -> None:
        """Coder 4's round: the next refinement of the blocks ``where``, its scale bits, then component
        by component the flags and the sent ones' signs."""
        channels = self.grid.shape[0]
        components = channels - 1
        level = self.level[where]
        ys, xs = np.nonzero(where)
        given = None if stream.decoder is not None else codes[level, :, ys, xs].T  # (C, blocks)
        level_state = _stage_level_state(level)
        previous = self.previous_codes[:, where]
        symbols = np.zeros((channels, len(level)), np.uint8)
        contexts = _scale_contexts(level_state, previous[-1], components)
        symbols[-1] = self._code(stream, contexts, None if given is None else given[-1])
        previous_state = _previous_sent_state(self.previous_sent[where])
        sent_before = np.zeros(len(level), np.int64)
        for k in range(components):
            contexts = _flag_contexts(level_state, k, sent_before, previous_state, components)
            sent = self._code(stream, contexts, None if given is None else given[k] != NOT_SENT).astype(bool)
            contexts = _sign_contexts(level_state[sent], k, previous[k, sent], components)
            signs = self._code(stream, contexts, None if given is None else given[k, sent])
            symbols[k] = NOT_SENT
            symbols[k, sent] = signs
            sent_before += sent
        codes[level, :, ys, xs] = symbols.T
        self.previous_codes[:, where] = symbols
        self.previous_sent[where] = sent_before
        self.level[where] += 1

    def _code(self, stream: SymbolStream, contexts: np.ndarray, symbols: np.ndarray | None) -> np.ndarray:
        """Code (or decode) binary symbols in coder 4's stage contexts, and count them."""
        symbols = stream.code(probabilities(self.stage_counts, contexts), symbols)
        update(self.stage_counts, contexts, symbols)
        return symbols
