"""Context-adaptive binary arithmetic coding of the network's codes (constriction's range coder).

Each iteration's codes, a (C, h, w) array of bits, are coded in two passes over a checkerboard
(pass 0: the squares with (y + x) even, pass 1: the odd ones), channel by channel within a pass.
The context of a bit is
  - its channel c and the iteration (1, 2, 3, 4, 5–8 or 9 and later),
  - the bits at the same position in the two previous iterations (each absent / 0 / 1),
  - in pass 1, the sum of its four same-channel neighbours from pass 0 (each ±1, absent 0),
  - the bits at the same position of two *partner* channels coded before c (absent / 0 / 1).
Each context holds integer counts (n0, n1). They start from a prior, integer counts fitted on
training images and stored with the weights (:class:`CoderTables`; uniform counts without one),
and are updated after each channel of each pass and halved when large. The probabilities,
16-bit integers derived from the counts, are thus computed identically by the encoder and the
decoder on any machine. Each (pass, channel) is one vectorised call into the coder, 2·C calls
per iteration, never a Python loop per bit. The decoder re-encodes what it decodes: a payload
that is not exactly the coding of its codes (cut short, or with bytes left over) is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import constriction

CODER_ID = 2  # written in the file header; bump when contexts or counts change
PROB_BITS = 16
COUNT_LIMIT = 1 << 13  # halve a context's counts when their sum passes this, to keep adapting
PRIOR_STRENGTH = 128  # a fitted prior counts as at most this many observations per context
RAW, CODED = 0, 1  # chunk modes

PARTNERS = 3  # earlier channels whose bit at the same position joins the context
_ITERATION_STATES = 6  # iteration 1, 2, 3, 4, 5–8, 9 and later
_HISTORY_STATES = 3  # absent, 0, 1
_NEIGHBOUR_STATES = 10  # pass 0: one state; pass 1: 5 + sum of four ±1 neighbours, 1..9
_PARTNER_STATES = 3  # absent, 0, 1
CONTEXTS_PER_CHANNEL = _ITERATION_STATES * _HISTORY_STATES**2 * _NEIGHBOUR_STATES * _PARTNER_STATES**PARTNERS


def _iteration_state(t: int) -> int:
    """0-based iteration index t → its context state."""
    return min(t, 4) + (t >= 8)


def probabilities(counts: np.ndarray, contexts: np.ndarray) -> np.ndarray:
    """P(bit = 1) per symbol as k / 2^16, k an integer in [1, 2^16 - 1] rounded from the counts (n0, n1)
    of ``counts``, a C-contiguous (contexts, 2) integer array."""
    pairs, first = counts.reshape(-1), 2 * contexts  # one flat gather per count: cheaper than counts[contexts, i]
    n0, n1 = pairs[first], pairs[first + 1]
    scale = 1 << PROB_BITS
    k = (2 * n1 * scale + n0 + n1) // (2 * (n0 + n1))
    np.minimum(np.maximum(k, 1, out=k), scale - 1, out=k)  # np.clip, without its overhead per call
    return k / scale  # exact: k and 2^16 are representable


def update(counts: np.ndarray, contexts: np.ndarray, symbols: np.ndarray) -> None:
    """Count the symbols in their contexts (``counts`` as in :func:`probabilities`, updated in place);
    halve the counts of contexts whose sum passes COUNT_LIMIT."""
    if not counts.flags.c_contiguous:
        raise ValueError("the counts must be C-contiguous (updated through a flat view)")
    pairs, first = counts.reshape(-1), 2 * contexts
    np.add.at(pairs, first + symbols, 1)
    big = contexts[pairs[first] + pairs[first + 1] > COUNT_LIMIT]
    if big.size:
        big = np.unique(big)
        counts[big] = (counts[big] + 1) // 2


class SymbolStream:
    """One chunk's range-coded binary symbols, call by call: coded (no payload) or decoded from
    ``payload``. Decoding re-encodes each call, so :meth:`finish` can check that the payload is
    exactly the coding of what was decoded."""

    def __init__(self, payload: bytes | None = None):
        if payload is not None and len(payload) % 4:
            raise ValueError("coded chunk length is not a multiple of 4")
        self.encoder = constriction.stream.queue.RangeEncoder()
        self.decoder = None if payload is None else constriction.stream.queue.RangeDecoder(np.frombuffer(payload, "<u4").astype(np.uint32))
        self.payload = payload
        self.family = constriction.stream.model.Bernoulli(perfect=False)

    def code(self, p1: np.ndarray, symbols: np.ndarray | None = None) -> np.ndarray:
        """Code ``symbols`` (0/1) with P(1) = p1, or decode as many; returns the symbols as int32."""
        if not len(p1):
            return np.zeros(0, np.int32)
        if self.decoder is not None:
            symbols = self.decoder.decode(self.family, p1)
        symbols = np.asarray(symbols, np.int32)
        self.encoder.encode(symbols, self.family, p1)
        return symbols

    def coded(self) -> bytes:
        return self.encoder.get_compressed().astype("<u4").tobytes()

    def finish(self) -> None:
        """Raise ValueError unless the payload decoded is exactly what its symbols code to."""
        if self.payload is not None and self.coded() != self.payload:
            raise ValueError("coded chunk is not the coding of its codes (it is cut short or holds more)")


def _checkerboard(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy + xx) % 2 == 0  # True: coded in pass 0


@dataclass(frozen=True)
class CoderTables:
    """What the coder learns from training images, shipped with the weights.

    ``partners`` (C, PARTNERS): for each channel, earlier channels (lower index) whose bit joins
    its context, -1 for none. ``prior`` (C · CONTEXTS_PER_CHANNEL, 2): initial counts, 1–255.
    ``stage_prior`` (contexts, 2): a ternary block stage's initial counts for entropy coder 4
    (:func:`rnncodec.layered.fit_stage_prior`), 1–255; None for other models.
    """

    partners: np.ndarray
    prior: np.ndarray
    stage_prior: np.ndarray | None = None

    @classmethod
    def uniform(cls, channels: int) -> "CoderTables":
        return cls(np.full((channels, PARTNERS), -1, np.int64), np.ones((channels * CONTEXTS_PER_CHANNEL, 2), np.int64))

    @property
    def channels(self) -> int:
        return len(self.partners)

    def check(self) -> "CoderTables":
        """Raise ValueError unless the tables are well formed for their channel count."""
        partners, prior = np.asarray(self.partners), np.asarray(self.prior)
        c = len(partners)
        if partners.shape != (c, PARTNERS) or prior.shape != (c * CONTEXTS_PER_CHANNEL, 2):
            raise ValueError("entropy coder tables have the wrong shape")
        if np.any(prior < 1) or np.any(prior > 255) or np.any(partners < -1) or np.any(partners >= np.arange(c)[:, None]):
            raise ValueError("entropy coder tables are out of range")
        if self.stage_prior is not None:
            stage_prior = np.asarray(self.stage_prior)
            if stage_prior.ndim != 2 or stage_prior.shape[1] != 2 or np.any(stage_prior < 1) or np.any(stage_prior > 255):
                raise ValueError("the stage prior of the entropy coder tables is malformed")
        return self


class GridCoder:
    """Entropy coder 2: codes one image's iterations in order, each a (C, h, w) grid of bits; encoder and
    decoder each keep one instance."""

    def __init__(self, channels: int, height: int, width: int, tables: CoderTables | None = None):
        self.shape = (channels, height, width)
        self.tables = tables if tables is not None else CoderTables.uniform(channels)
        if self.tables.channels != channels:
            raise ValueError(f"entropy coder tables are for {self.tables.channels} channels, not {channels}")
        self.counts = np.asarray(self.tables.prior, np.int64).copy()
        self.iteration = 0
        self.history = [np.zeros(self.shape, np.uint8), np.zeros(self.shape, np.uint8)]  # 0 absent, 1 → bit 0, 2 → bit 1
        even = _checkerboard(height, width)
        self.pass_masks = [even, ~even]
        self.channel_offset = np.arange(channels) * CONTEXTS_PER_CHANNEL

    @property
    def raw_size(self) -> int:
        return (int(np.prod(self.shape)) + 7) // 8

    # --- contexts and probabilities -----------------------------------------------------------
    def _pass_contexts(self, pass_index: int, bits: np.ndarray) -> np.ndarray:
        """(C, n) contexts of a pass's positions without the partner part; bits must hold pass 0."""
        mask = self.pass_masks[pass_index]
        state = _iteration_state(self.iteration)
        history = history_state(state, self.history[0][:, mask], self.history[1][:, mask])
        if pass_index == 0:
            neighbours = np.zeros_like(history)
        else:
            signed = np.where(self.pass_masks[0], 2 * bits.astype(np.int64) - 1, 0)
            padded = np.pad(signed, ((0, 0), (1, 1), (1, 1)))
            around = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
            neighbours = 5 + around[:, mask]
        return (history * _NEIGHBOUR_STATES + neighbours) * _PARTNER_STATES**PARTNERS

    def _coding_order(self, bits: np.ndarray):
        """Yield (pass mask, channel, contexts) in coding order.

        The consumer must have filled in bits[c][mask] (coded or decoded) before asking for the next.
        """
        channels = self.shape[0]
        partners = np.where(self.tables.partners < 0, channels, self.tables.partners)  # row `channels`: absent
        for p in (0, 1):
            mask = self.pass_masks[p]
            base = self._pass_contexts(p, bits) + self.channel_offset[:, None]  # pass 1 needs all of pass 0
            states = np.zeros((channels + 1, base.shape[1]), np.int64)  # 1 + the bit of each channel coded so far
            for c in range(channels):
                partner_part = np.zeros(base.shape[1], np.int64)
                for row in partners[c]:
                    partner_part = partner_part * _PARTNER_STATES + states[row]
                yield mask, c, base[c] + partner_part
                states[c] = 1 + bits[c][mask]

    def _probabilities(self, contexts: np.ndarray) -> np.ndarray:
        return probabilities(self.counts, contexts)

    def _update(self, contexts: np.ndarray, symbols: np.ndarray) -> None:
        update(self.counts, contexts, symbols)

    def _finish_iteration(self, bits: np.ndarray) -> None:
        self.history = [1 + bits.astype(np.uint8), self.history[0]]
        self.iteration += 1

    def _run(self, stream: SymbolStream | None, bits: np.ndarray) -> None:
        """One iteration's calls: code bits (or fill them in from the stream); no stream: count raw bits."""
        for mask, c, contexts in self._coding_order(bits):
            channel = bits[c]
            if stream is not None:
                channel[mask] = stream.code(self._probabilities(contexts), channel[mask])
            self._update(contexts, channel[mask])
        self._finish_iteration(bits)

    # --- public ---------------------------------------------------------------------------------
    def encode(self, bits: np.ndarray) -> tuple[int, bytes]:
        """Code one iteration's bits (C, h, w) of 0/1; returns (mode, payload), raw if coding would not save."""
        bits = np.array(bits, dtype=np.uint8)
        if bits.shape != self.shape:
            raise ValueError(f"expected codes of shape {self.shape}, got {bits.shape}")
        stream = SymbolStream()
        self._run(stream, bits)
        coded = stream.coded()
        if len(coded) < self.raw_size:
            return CODED, coded
        return RAW, np.packbits(bits.ravel()).tobytes()

    def decode(self, mode: int, payload: bytes) -> np.ndarray:
        """Inverse of :meth:`encode`: the iteration's bits (C, h, w) as uint8 0/1.

        Invalid data raises ValueError here, or whatever the range decoder raises (AssertionError)."""
        bits = np.zeros(self.shape, np.uint8)
        if mode == RAW:
            if len(payload) != self.raw_size:
                raise ValueError("raw chunk has the wrong length")
            bits[...] = np.unpackbits(np.frombuffer(payload, np.uint8), count=bits.size).reshape(self.shape)
            self._run(None, bits)
        elif mode == CODED:
            if self.iteration == 0 and len(payload) < shortest_first_payload(self.tables, self.shape):
                raise ValueError(f"coded chunk of {len(payload)} bytes is too short for {self.shape[1] * self.shape[2]} blocks' codes")
            stream = SymbolStream(payload)
            self._run(stream, bits)
            stream.finish()
        else:
            raise ValueError(f"unknown chunk mode {mode}")
        return bits


def history_state(iteration_state, previous: np.ndarray, before: np.ndarray) -> np.ndarray:
    """The iteration and history part of contexts: previous and before hold 0 (absent), 1 (bit 0) or 2 (bit 1)."""
    return (iteration_state * _HISTORY_STATES + previous.astype(np.int64)) * _HISTORY_STATES + before.astype(np.int64)


def shortest_first_payload(tables: CoderTables | None, shape: tuple[int, int, int]) -> int:
    """Fewest bytes a range-coded first iteration of codes of this shape can take: its first call
    (channel 0, pass 0) codes ⌈h·w/2⌉ bits with probabilities from the prior alone, each costing at
    least the prior's cheapest bit, and a range coder cannot write less than that information less
    its 64-bit state. Checked before anything of the claimed size is allocated."""
    channels, h, w = shape
    tables = tables if tables is not None else CoderTables.uniform(channels)
    prior = np.asarray(tables.prior[:CONTEXTS_PER_CHANNEL], np.int64)
    p = probabilities(prior, np.arange(len(prior)))
    cheapest = float(-np.log2(np.maximum(p, 1 - p)).max())
    return max(0, math.floor(((h * w + 1) // 2 * cheapest - 96) / 8))


# --- fitting the tables on training codes ------------------------------------------------------
def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def choose_partners(code_arrays: list[np.ndarray]) -> np.ndarray:
    """For each channel, the PARTNERS earlier channels whose same-position bit tells most about it.

    code_arrays: (T, C, h, w) 0/1 arrays. Mutual information from pooled counts, ties to the lower index.
    """
    channels = code_arrays[0].shape[1]
    pooled = np.concatenate([a.transpose(1, 0, 2, 3).reshape(channels, -1) for a in code_arrays], axis=1).astype(np.float64)
    n = pooled.shape[1]
    ones = pooled.sum(axis=1)
    both = pooled @ pooled.T  # both[a, b]: positions where a and b are 1
    information = np.full((channels, channels), -1.0)
    for a in range(channels):
        for b in range(a):
            n_b1 = ones[b]
            p_a_given_b1 = both[a, b] / max(n_b1, 1)
            p_a_given_b0 = (ones[a] - both[a, b]) / max(n - n_b1, 1)
            conditional = (n_b1 * _entropy(p_a_given_b1) + (n - n_b1) * _entropy(p_a_given_b0)) / n
            information[a, b] = _entropy(ones[a] / n) - conditional
    order = np.argsort(-information, axis=1, kind="stable")[:, :PARTNERS]
    partners = np.where(np.take_along_axis(information, order, axis=1) > 0, order, -1)
    return partners.astype(np.int64)


def _walk(code_arrays: list[np.ndarray], tables: CoderTables | None):
    """Visit codes in the coder's order: yield (coder, contexts, symbols) for each coder call.

    One coder per image; the consumer may update its counts before asking for the next call."""
    for codes in code_arrays:
        coder = GridCoder(*codes.shape[1:], tables)
        for bits in codes:
            bits = bits.astype(np.uint8)
            for mask, c, contexts in coder._coding_order(bits):
                yield coder, contexts, bits[c][mask]
            coder._finish_iteration(bits)


def fit_tables(code_arrays: list[np.ndarray], strength: int = PRIOR_STRENGTH) -> CoderTables:
    """Partners and prior counts (:func:`prior_counts` of the contexts' observed counts) from the codes
    of training images, each (T, C, h, w) of 0/1."""
    channels = code_arrays[0].shape[1]
    partners = choose_partners(code_arrays)
    observed = np.zeros((channels * CONTEXTS_PER_CHANNEL, 2), np.int64)
    for _, contexts, symbols in _walk(code_arrays, CoderTables(partners, np.ones_like(observed))):
        np.add.at(observed, (contexts, symbols.astype(np.int64)), 1)
    return CoderTables(partners, prior_counts(observed, strength)).check()


def prior_counts(observed: np.ndarray, strength: int = PRIOR_STRENGTH) -> np.ndarray:
    """Prior counts (contexts, 2) from observed ones: a context seen n times starts from its observed
    frequency counted as min(n + 2, strength) observations (rounded, each count ≥ 1); unseen
    contexts start from (1, 1)."""
    total = observed.sum(axis=1, keepdims=True)
    p1 = (observed[:, 1:] + 0.5) / (total + 1)
    weight = np.minimum(total + 2, strength)
    return np.maximum(1, np.rint(np.concatenate([1 - p1, p1], axis=1) * weight)).astype(np.int64)


def ideal_bits(code_arrays: list[np.ndarray], tables: CoderTables | None = None) -> float:
    """Bits per code bit the coder spends on these codes (the sum of −log2 of its probabilities)."""
    spent = total = 0.0
    for coder, contexts, symbols in _walk(code_arrays, tables):
        p1 = coder._probabilities(contexts)
        spent -= np.log2(np.where(symbols == 1, p1, 1 - p1)).sum()
        total += symbols.size
        coder._update(contexts, symbols)
    return spent / total if total else math.nan
