"""Block stage: iterations after the network's K-th, coded per 16×16 block by a sign-coded transform.

Iteration t > K codes each 16×16×3 block of the residual with the network's C bits per block
(C = 32 for the shipped models): the signs of the block's coefficients on C − 1 basis vectors
(that iteration's principal components of training residuals) and one scale bit. The block's increment is basis · (α ⊙ signs) · s, where
α holds each component's mean magnitude and s is the block's scale: the scale bit multiplies s by
``step`` (bit 1: the block's best scale for its signs is larger) or divides it, before use. s
starts from the RMS of the network's last increment x̂_K − x̂_{K−1} in the block, which the decoder
has, through a power law. A *ternary* stage (``dead_zone`` > 0) may send a component as zero instead of its sign: the encoder
zeroes a component whose coefficient is below τ·α·s, or whose sending removes less than κ times the
block's mean per component, and picks the scale bit that leaves less error; its layered files use
entropy coder 4 (:mod:`rnncodec.layered`), which codes a "sent?" flag per component and the signs of
the sent ones. Everything is fitted on training residuals (:func:`fit_block_stage`);
nothing is trained by gradient. Arrays are (B, 3, H, W) images and (B, C, H/16, W/16) bits in ±1,
as the engines pass them; a model (:mod:`rnncodec.model`) runs its network, then its stage.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .limits import BLOCK


def to_blocks(images: np.ndarray) -> np.ndarray:
    """(B, 3, H, W) → (B, H/16 · W/16, 768): each 16×16×3 block as a row, blocks in raster order."""
    b, c, H, W = images.shape
    h, w = H // BLOCK, W // BLOCK
    return images.reshape(b, c, h, BLOCK, w, BLOCK).transpose(0, 2, 4, 1, 3, 5).reshape(b, h * w, c * BLOCK * BLOCK)


def from_blocks(rows: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`to_blocks`."""
    b = rows.shape[0]
    h, w = height // BLOCK, width // BLOCK
    return rows.reshape(b, h, w, 3, BLOCK, BLOCK).transpose(0, 3, 1, 4, 2, 5).reshape(b, 3, height, width)


# A stage code in a layered file: per component 0 (−1), 1 (+1) or NOT_SENT (0, ternary stages only);
# the scale bit 0 (down) or 1 (up).
NOT_SENT = 2
CODE_VALUES = np.array([-1.0, 1.0, 0.0], np.float32)  # code → the value it sends


def _log_rms(rows: np.ndarray) -> np.ndarray:
    return 0.5 * np.log(np.mean(rows * rows, axis=-1) + 1e-8)


def _rescale(scale: np.ndarray, up: np.ndarray, step: float) -> np.ndarray:
    """The scale bit's rule: each block's scale times ``step`` where ``up``, else divided by it."""
    return np.where(up, scale * step, scale / step)


def _code(coefficients: np.ndarray, alpha: np.ndarray, scale: np.ndarray, step: float):
    """The encoder's choice for blocks' coefficients (…, C − 1): signs, scale bits (up), new scales.

    A block's scale goes up when the least-squares scale of α ⊙ sign(c) against c exceeds it. The signs
    are ±1 in the coefficients' dtype (float32 for an image's, like the bits the decoder synthesises from)."""
    up = np.abs(coefficients) @ alpha / (alpha @ alpha) > scale
    return np.where(coefficients >= 0, 1, -1).astype(coefficients.dtype), up, _rescale(scale, up, step)


def _code_ternary(coefficients: np.ndarray, alpha: np.ndarray, scale: np.ndarray, step: float, dead_zone: float,
                  rate_weight: float | np.ndarray, rate_term: float = 0.0):
    """A ternary stage's choice for blocks' coefficients (…, C − 1): values in −1/0/+1, scale bits (up),
    new scales. For each scale bit the values are the signs, zeroed below τ·α·s and where sending
    removes less than κ times the block's mean per component (κ one number, or one per component);
    the bit that leaves less error wins, each sent value counted as ``rate_term`` times that mean
    more (0, the encoder's: error alone; experiments/stage_decisions.py varies both)."""
    best, magnitude = None, np.abs(coefficients)
    for up in (False, True):
        s = (scale * step if up else scale / step)[..., None]
        values = np.where(magnitude >= dead_zone * alpha * s, np.sign(coefficients), 0).astype(coefficients.dtype)
        if np.any(rate_weight) or rate_term:
            removes = 2 * magnitude * alpha * s - (alpha * s) ** 2
            mean = np.maximum(removes, 0).sum(axis=-1, keepdims=True) / (coefficients.shape[-1] + 1)
        if np.any(rate_weight):
            values = np.where(removes >= rate_weight * mean, values, 0).astype(coefficients.dtype)
        error = np.sum((coefficients - values * alpha * s) ** 2, axis=-1)
        if rate_term:
            error = error + rate_term * mean[..., 0] * np.count_nonzero(values, axis=-1)
        if best is None:
            best = values, np.full(error.shape, up), error
        else:
            better = error < best[2]
            best = np.where(better[..., None], values, best[0]), better, np.minimum(error, best[2])
    values, up, _ = best
    return values, up, _rescale(scale, up, step)


def _synthesis(signs: np.ndarray, alpha: np.ndarray, scale: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Blocks' increments (…, 768): basis · (α ⊙ signs) · scale."""
    return (signs * alpha * scale[..., None]) @ basis.T


@dataclass(frozen=True)
class StageState:
    """What the stage carries from one iteration to the next: each block's scale, (B, H/16 · W/16)."""

    scale: np.ndarray


@dataclass(frozen=True)
class BlockStage:
    """The fitted stage: iterations ``after`` + 1 … ``after`` + len(basis)."""

    after: int  # K: network iterations before the stage
    step: float  # factor of the scale bit
    exponent: float  # start scale = exp(exponent · (log RMS of the last increment − center))
    center: float
    basis: np.ndarray  # (S, 768, C − 1): per iteration, the basis vectors as columns
    alpha: np.ndarray  # (S, C − 1): per iteration, each component's magnitude
    dead_zone: float = 0.0  # τ > 0: a ternary stage (components may be sent as zero); 0: every sign is sent
    rate_weight: float = 0.0  # κ: a ternary stage also zeroes components that remove little (the encoder's choice)

    @property
    def ternary(self) -> bool:
        return self.dead_zone > 0

    @property
    def iterations(self) -> int:
        return len(self.basis)

    @property
    def sign_bits(self) -> int:
        return self.basis.shape[2]

    def start_scale(self, last_increment: np.ndarray) -> np.ndarray:
        """(B, L) scales from the network's last increment x̂_K − x̂_{K−1}, (B, 3, H, W)."""
        return np.exp(self.exponent * (_log_rms(to_blocks(last_increment)) - self.center))

    def _index(self, t: int) -> int:
        if not self.after < t <= self.after + self.iterations:
            raise ValueError(f"iteration {t} is not in the block stage ({self.after + 1}–{self.after + self.iterations})")
        return t - self.after - 1

    def start(self, last_increment: np.ndarray) -> StageState:
        """The state before the stage's first iteration, from the network's last increment x̂_K − x̂_{K−1}."""
        return StageState(self.start_scale(last_increment))

    def choose(self, coefficients: np.ndarray, level: int, scale: np.ndarray):
        """The encoder's values (…, C − 1) in ±1 (or −1/0/+1, ternary), scale bits and new scales for
        coefficients on level ``level``'s basis."""
        if self.ternary:
            return _code_ternary(coefficients, self.alpha[level], scale, self.step, self.dead_zone, self.rate_weight)
        return _code(coefficients, self.alpha[level], scale, self.step)

    def encode(self, residual: np.ndarray, t: int, state: StageState) -> tuple[np.ndarray, np.ndarray, StageState]:
        """Residual r_{t−1} (B, 3, H, W) → bits (B, C, H/16, W/16) in ±1, the increment the decoder
        adds for them (:meth:`decode`'s), the new state. A sign stage only: a ternary stage's codes
        exist in layered files alone."""
        if self.ternary:
            raise ValueError("a ternary block stage codes its iterations in layers only")
        i = self._index(t)
        B, _, H, W = residual.shape
        signs, up, _ = _code(to_blocks(residual) @ self.basis[i], self.alpha[i], state.scale, self.step)
        bits = np.concatenate([signs, np.where(up, 1.0, -1.0)[..., None]], axis=-1)
        bits = bits.transpose(0, 2, 1).reshape(B, self.sign_bits + 1, H // BLOCK, W // BLOCK).astype(residual.dtype)
        return (bits, *self.decode(bits, t, state))

    def decode(self, bits: np.ndarray, t: int, state: StageState) -> tuple[np.ndarray, StageState]:
        """Bits (B, C, h, w) in ±1 → increment (B, 3, 16h, 16w), new state."""
        i = self._index(t)
        B, C, h, w = bits.shape
        rows = bits.reshape(B, C, h * w).transpose(0, 2, 1)
        scale = _rescale(state.scale, rows[..., -1] > 0, self.step)
        increment = from_blocks(_synthesis(rows[..., :-1], self.alpha[i], scale, self.basis[i]), h * BLOCK, w * BLOCK)
        return increment.astype(bits.dtype), StageState(scale)

    def check_fits(self, cfg) -> None:
        """Refuse (ValueError) a network config this stage cannot follow: γ ≠ 1, another code width, too few levels."""
        if cfg.gamma != 1 or self.sign_bits + 1 != cfg.code_channels or self.after + self.iterations < cfg.max_iterations:
            raise ValueError(f"a block stage for iterations {self.after + 1}–{self.after + self.iterations} with "
                             f"{self.sign_bits + 1} code channels does not fit this network")


def fit_block_stage(residuals: np.ndarray, last_increments: np.ndarray, after: int, iterations: int,
                    step: float = 1.25, code_channels: int = 32, dead_zone: float = 0.0,
                    rate_weight: float = 0.0) -> BlockStage:
    """Fit a stage of ``iterations`` on training images: their residuals x − x̂_K and the network's
    last increments x̂_K − x̂_{K−1}, both (B, 3, H, W) with H, W multiples of 16.

    The start scale's power law is the least-squares line of the blocks' log RMS residual on their
    log RMS increment; then each iteration's basis is the principal components of the residual
    blocks it meets, and α the mean magnitude of their coefficients over the scale (a ternary
    stage, ``dead_zone`` > 0: the mean of the magnitudes it sends, by a few alternations)."""
    rows = to_blocks(residuals.astype(np.float64)).reshape(-1, 3 * BLOCK * BLOCK)
    x, y = _log_rms(to_blocks(last_increments.astype(np.float64)).reshape(rows.shape)), _log_rms(rows)
    center = float(x.mean())
    exponent = float(np.mean((x - center) * (y - y.mean())) / np.mean((x - center) ** 2))
    scale = np.exp(exponent * (x - center))
    bases, alphas = [], []
    for _ in range(iterations):
        _, vectors = np.linalg.eigh(rows.T @ rows / len(rows))  # ascending eigenvalues
        basis = vectors[:, ::-1][:, : code_channels - 1]
        c = rows @ basis
        magnitude = np.abs(c) / scale[:, None]
        alpha = magnitude.mean(axis=0)
        for _ in range(4 if dead_zone else 0):
            sent = magnitude >= dead_zone * alpha
            alpha = np.sum(magnitude * sent, axis=0) / np.maximum(sent.sum(axis=0), 1)
        if dead_zone:
            values, _, scale = _code_ternary(c, alpha, scale, step, dead_zone, rate_weight)
        else:
            values, _, scale = _code(c, alpha, scale, step)
        rows = rows - _synthesis(values, alpha, scale, basis)
        bases.append(basis)
        alphas.append(alpha)
    return BlockStage(after, step, exponent, center, np.stack(bases).astype(np.float32), np.stack(alphas).astype(np.float32),
                      dead_zone, rate_weight)


# --- layered files: each block's refinements, and the layers the encoder puts them in ---------------
REFINEMENTS = 39  # in a layered file a block gets up to this many refinements: refinement l uses level (l − 1) mod S


def refinements(stage: BlockStage, residual: np.ndarray, last_increment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every refinement's bits for each block of an image after the network's K iterations, and what
    each buys: residual r_K and last increment x̂_K − x̂_{K−1}, (1, 3, H, W). Returns codes
    (L, C, H/16, W/16) 0/1 and gains (L, H/16, W/16), each refinement's drop in the block's squared
    error, L = REFINEMENTS. Each refinement is :meth:`BlockStage.choose`'s, on the blocks as rows; its
    codes are 0/1 (a ternary stage's components also NOT_SENT)."""
    _, _, H, W = residual.shape
    h, w = H // BLOCK, W // BLOCK
    rows = to_blocks(residual)[0]
    scale = stage.start_scale(last_increment)[0]
    levels = REFINEMENTS
    codes = np.zeros((levels, h * w, stage.sign_bits + 1), np.uint8)
    gains = np.zeros((levels, h * w))
    error = np.einsum("nk,nk->n", rows, rows, dtype=np.float64)
    for i in range(levels):
        level = i % stage.iterations
        values, up, scale = stage.choose(rows @ stage.basis[level], level, scale)
        rows = rows - _synthesis(values, stage.alpha[level], scale, stage.basis[level]).astype(rows.dtype, copy=False)
        after = np.einsum("nk,nk->n", rows, rows, dtype=np.float64)
        codes[i, :, :-1], codes[i, :, -1] = np.where(values == 0, NOT_SENT, values > 0), up
        gains[i], error = error - after, after
    return codes.transpose(0, 2, 1).reshape(levels, -1, h, w), gains.reshape(levels, h, w)


def hull_slopes(gains: np.ndarray, costs: np.ndarray | None = None) -> np.ndarray:
    """(S, N) gains of each block's refinements in order → the slopes of the upper concave hull of their
    running sum: non-increasing along each block, so the best refinements first never skip one. With
    ``costs`` (S, N), positive, the hull is of the running gain against the running cost and the
    slopes are gain per cost; without, every refinement costs 1. Each block's hull is built point by
    point (a monotone chain: a vertex not above the line from the one before it to the new point
    goes, so collinear points join one segment), all blocks at once."""
    levels, blocks = gains.shape
    total = np.concatenate([np.zeros((1, blocks)), np.cumsum(gains, axis=0)])
    spent = np.concatenate([np.zeros((1, blocks)), np.cumsum(np.ones_like(gains) if costs is None else costs, axis=0)])
    vertices = np.zeros((levels + 1, blocks), np.int64)  # each block's hull so far: the first `size` rows
    size = np.ones(blocks, np.int64)
    flat_vertices, flat_total, flat_spent = vertices.reshape(-1), total.reshape(-1), spent.reshape(-1)
    for point in range(1, levels + 1):
        check = np.flatnonzero(size >= 2)  # blocks whose last hull vertex may have to go
        while len(check):
            a = flat_vertices[(size[check] - 2) * blocks + check] * blocks + check
            b = flat_vertices[(size[check] - 1) * blocks + check] * blocks + check
            rise, run = flat_total[b] - flat_total[a], flat_spent[b] - flat_spent[a]
            below = rise * (spent[point, check] - flat_spent[b]) <= (total[point, check] - flat_total[b]) * run
            check = check[below]
            size[check] -= 1
            check = check[size[check] >= 2]
        vertices[size, np.arange(blocks)] = point
        size += 1
    index = np.arange(levels + 1)[:, None]
    is_vertex = np.zeros((levels + 1, blocks), bool)
    np.put_along_axis(is_vertex, np.where(index < size, vertices, 0), True, axis=0)
    start = np.maximum.accumulate(np.where(is_vertex, index, 0), axis=0)[:-1]  # each level's segment: [start, end)
    end = np.minimum.accumulate(np.where(is_vertex, index, levels)[::-1], axis=0)[::-1][1:]
    at = lambda values, rows: np.take_along_axis(values, rows, axis=0)
    return (at(total, end) - at(total, start)) / (at(spent, end) - at(spent, start))


SSIM_C2 = (0.03 * 255) ** 2  # SSIM's contrast constant, in 8-bit levels squared
_MASKING_BAND = 16 * BLOCK  # rows of the picture masking_weights reads at a time


def masking_weights(rgb: np.ndarray, strength: float) -> np.ndarray:
    """Each 16×16 block's weight on its squared error, (H/16, W/16), for an (H, W, 3) uint8 picture whose
    sides are multiples of 16: (σ² + C₂)^−strength, σ² the mean variance of the block's 8×8 quarters in
    luma. SSIM weighs an error by about 1 / (2σ² + C₂): the same error shows less on texture than on a
    smooth area. Strength 0 weighs every block alike: squared error, PSNR. The picture is read a band
    of block rows at a time, so the memory it takes stays small beside the picture's."""
    H, W = rgb.shape[:2]
    if strength == 0:
        return np.ones((H // BLOCK, W // BLOCK))
    variance = np.empty((H // BLOCK, W // BLOCK))
    for top in range(0, H, _MASKING_BAND):
        luma = rgb[top : top + _MASKING_BAND].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        quarters = luma.reshape(len(luma) // 8, 8, W // 8, 8).var(axis=(1, 3))
        variance[top // BLOCK : (top + len(luma)) // BLOCK] = quarters.reshape(-1, 2, W // BLOCK, 2).mean(axis=(1, 3))
    return (variance + SSIM_C2) ** -strength


def refinement_order(gains: np.ndarray, costs: np.ndarray | None = None) -> np.ndarray:
    """The blocks (raster index) of all S·N refinements in the order they are given out: by hull
    slope (:func:`hull_slopes`, gain per bit with ``costs``), ties to the lower level then the
    earlier block. gains, costs: (S, h, w)."""
    levels, h, w = gains.shape
    blocks = h * w
    slopes = hull_slopes(gains.reshape(levels, blocks), None if costs is None else costs.reshape(levels, blocks))
    return np.argsort(-slopes.ravel(), kind="stable") % blocks  # ravelled level by level, block by block: the ties' order


def levels_after(order: np.ndarray, given: int, shape: tuple[int, int]) -> np.ndarray:
    """Each block's refinements (h, w) once the first ``given`` refinements of ``order`` are given out;
    layer j of a layered file ends where j · N (N blocks) have been given out."""
    return np.bincount(order[:given], minlength=shape[0] * shape[1]).reshape(shape)


def layered_pictures(stage: BlockStage, recon: np.ndarray, last_increment: np.ndarray, codes: np.ndarray,
                     levels: np.ndarray, every: bool = True):
    """Yield the reconstruction (1, 3, H, W) after each layer, or with ``every`` false only after the
    last: ``recon`` x̂_K and ``last_increment`` of the network, ``codes`` (REFINEMENTS, C, h, w) 0/1
    and ``levels`` (layers, h, w), each block's refinements after each layer."""
    _, _, H, W = recon.shape
    states = layered_states(stage, recon, last_increment, codes, levels)
    for rows, _, _ in states if every else deque(states, maxlen=1):  # maxlen 1: only the last layer's blocks
        yield from_blocks(rows[None], H, W)


def layered_states(stage: BlockStage, recon: np.ndarray, last_increment: np.ndarray, codes: np.ndarray,
                   levels: np.ndarray):
    """:func:`layered_pictures`'s work, yielding after each layer the blocks as rows (N, 3·16·16) and
    each block's scale and refinement count (N,): what the decoder knows of every block. The arrays
    are updated in place by the next layer."""
    rows = to_blocks(recon)[0].astype(np.float32)
    scale = stage.start_scale(last_increment)[0]
    signs = CODE_VALUES[codes.reshape(*codes.shape[:2], -1).transpose(0, 2, 1)]  # (L, N, C)
    level = np.zeros(rows.shape[0], np.int64)
    for target in levels.reshape(len(levels), -1):
        while (level < target).any():
            for i in np.flatnonzero(np.bincount(level[level < target])):  # the levels present, ascending
                blocks = np.nonzero((level == i) & (level < target))[0]
                bits, basis = signs[i, blocks], i % stage.iterations
                scale[blocks] = _rescale(scale[blocks], bits[:, -1] > 0, stage.step)
                rows[blocks] += _synthesis(bits[:, :-1], stage.alpha[basis], scale[blocks], stage.basis[basis])
                level[blocks] += 1
        yield rows, scale, level
