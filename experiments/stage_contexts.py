"""Would entropy coder 4 code a ternary stage's symbols in fewer bits if its contexts saw more?

    python experiments/stage_contexts.py [--data TRAIN_DIR] [--train-images 60] [--iterations 16]

Coder 4 codes each refinement's scale bit, then per component a "sent?" flag and the sent ones'
signs, in contexts of the refinement's level, the component, how many components the refinement
sent so far and how many the block's previous refinement sent (docs/format.md). This encodes the
validation photos (never Kodak) and ``--train-images`` other training photos with the default model
at ``--iterations``, keeps each layer's refinements as the encoder gave them out, and replays the
coder's symbols in its order with one more feature in a kind of symbol's context, each a state the
decoder knows when it meets the symbol:

- ``up``: the refinement's scale bit (coded before its flags and signs);
- ``count``: how many refinements the block gets in this layer (1, 2, 3 or more; the map comes first);
- ``last``: whether this is the block's last refinement in the layer;
- ``neighbours_sent``: the mean number of components its four neighbours' latest refinements sent;
- ``neighbours_refined``: how many of its four neighbours get refinements in this layer;
- ``neighbours_component``: how many of the four neighbours' latest refinements sent this component;
- ``own_component``: whether the block's own previous refinement sent it (none, no, yes);
- ``neighbours_sign``: the sign of the sum of the four neighbours' latest values of this component.

Every variant's prior is fitted on the training photos' symbols as coder 4's is (:func:`rnncodec.entropy.prior_counts`),
and the counts adapt as the coder's do; printed: the ideal code length of the validation photos'
stage symbols (the coder's bytes but for the range coder's few bytes a chunk).
"""

from __future__ import annotations

import argparse
import random

import numpy as np
from PIL import Image

from rnncodec import api
from rnncodec import layered
from rnncodec.block_stage import NOT_SENT
from rnncodec.data import is_validation, list_images
from rnncodec.entropy import prior_counts, probabilities, update
from rnncodec.image_folders import add_image_folder

FEATURE_STATES = {"up": 2, "count": 3, "last": 2, "neighbours_sent": 5, "neighbours_refined": 5,
                  "neighbours_component": 3, "own_component": 3, "neighbours_sign": 3}
VARIANTS = {  # symbol kind (scale / flag / sign) → the features added to its context
    "coder 4": {},
    "flag + up": {"flag": ["up"]},
    "flag + count": {"flag": ["count"]},
    "flag + last": {"flag": ["last"]},
    "flag + neighbours_sent": {"flag": ["neighbours_sent"]},
    "flag + neighbours_refined": {"flag": ["neighbours_refined"]},
    "flag + neighbours_component": {"flag": ["neighbours_component"]},
    "flag + own_component": {"flag": ["own_component"]},
    "sign + up": {"sign": ["up"]},
    "sign + neighbours_sign": {"sign": ["neighbours_sign"]},
    "scale + count": {"scale": ["count"]},
    "scale + neighbours_sent": {"scale": ["neighbours_sent"]},
}
_NEIGHBOURS = [(1, 0), (-1, 0), (0, 1), (0, -1)]


def layers_of(path, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo's layers as the default's encoder gives them out: each layer's refinements per block
    (layers, h, w) and every refinement's codes (REFINEMENTS, C, h, w)."""
    seen = []
    encode_layer = layered.LayeredCoder.encode_layer

    def record(coder, count, codes):
        seen.append((np.asarray(count).copy(), codes))
        return encode_layer(coder, count, codes)

    layered.LayeredCoder.encode_layer = record
    try:
        api.encode(Image.open(path).convert("RGB"), iterations=iterations)
    finally:
        layered.LayeredCoder.encode_layer = encode_layer
    return np.stack([count for count, _ in seen]), seen[0][1]


def neighbour_sum(a: np.ndarray) -> np.ndarray:
    """The sum of each position's four neighbours over the last two axes (0 beyond the edge)."""
    padded = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)])
    h, w = a.shape[-2:]
    return sum(padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in _NEIGHBOURS)


def symbols_of(counts: np.ndarray, codes: np.ndarray) -> list[tuple[str, np.ndarray, dict, np.ndarray]]:
    """Coder 4's calls in its order for these layers: (kind, coder 4's contexts, features, symbols)."""
    codes = codes.astype(np.int64)
    _, channels, h, w = codes.shape
    components = channels - 1
    level = np.zeros((h, w), np.int64)
    previous_codes = np.full((channels, h, w), -1, np.int64)
    previous_sent = np.full((h, w), -1, np.int64)
    calls = []
    for count in counts:
        had = previous_sent >= 0
        neighbours_sent = np.where(neighbour_sum(had) > 0, neighbour_sum(np.maximum(previous_sent, 0)) // np.maximum(neighbour_sum(had), 1), -1)
        sent_k = (previous_codes[:components] >= 0) & (previous_codes[:components] != NOT_SENT)
        neighbours_component = neighbour_sum(sent_k.astype(np.int64))
        neighbours_sign = neighbour_sum(np.where(sent_k, 2 * previous_codes[:components] - 1, 0))
        neighbours_refined = neighbour_sum((count > 0).astype(np.int64))
        for r in range(int(count.max(initial=0))):
            where = count > r
            levels = level[where]
            ys, xs = np.nonzero(where)
            given = codes[levels, :, ys, xs].T
            level_state = layered._stage_level_state(levels)
            previous = previous_codes[:, where]
            up = given[-1]
            block = {"count": np.minimum(count[where], 3) - 1, "last": (count[where] == r + 1).astype(np.int64),
                     "neighbours_sent": np.searchsorted([0, 4, 8, 14], neighbours_sent[where], side="right"),
                     "neighbours_refined": neighbours_refined[where], "up": up}
            calls.append(("scale", layered._scale_contexts(level_state, previous[-1], components), block, up))
            previous_state = layered._previous_sent_state(previous_sent[where])
            sent_before = np.zeros(len(levels), np.int64)
            for k in range(components):
                sent = given[k] != NOT_SENT
                features = dict(block, neighbours_component=np.minimum(neighbours_component[k][where], 2),
                                own_component=np.where(previous[k] < 0, 0, 1 + (previous[k] != NOT_SENT)))
                calls.append(("flag", layered._flag_contexts(level_state, k, sent_before, previous_state, components),
                              features, sent.astype(np.int64)))
                features = {name: value[sent] for name, value in features.items()}
                features["neighbours_sign"] = np.sign(neighbours_sign[k][where][sent]) + 1
                calls.append(("sign", layered._sign_contexts(level_state[sent], k, previous[k, sent], components),
                              features, (given[k, sent] == 1).astype(np.int64)))
                sent_before += sent
            previous_codes[:, where] = given
            previous_sent[where] = sent_before
            level[where] += 1
    return calls


def contexts(call, variant: dict) -> np.ndarray:
    kind, base, features, _ = call
    context = base
    for name in variant.get(kind, ()):
        context = context * FEATURE_STATES[name] + features[name]
    return context


def code_lengths(train: list, validation: list, variant: dict, components: int = 31) -> dict[str, float]:
    """Bytes of each kind of the validation photos' symbols, the variant's prior fitted on ``train``."""
    size = layered.ternary_contexts(components) * int(np.prod([FEATURE_STATES[n] for names in variant.values() for n in names]))
    observed = np.zeros((size, 2), np.int64)
    for calls in train:
        for call in calls:
            np.add.at(observed, (contexts(call, variant), call[3]), 1)
    prior = prior_counts(observed)
    bits = {"scale": 0.0, "flag": 0.0, "sign": 0.0}
    for calls in validation:
        counts = prior.copy()
        for call in calls:
            context, symbols = contexts(call, variant), call[3]
            if len(context):
                p1 = probabilities(counts, context)
                bits[call[0]] -= float(np.log2(np.where(symbols == 1, p1, 1 - p1)).sum())
                update(counts, context, symbols)
    return {kind: value / 8 for kind, value in bits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_image_folder(parser, "--data", "train", "training images (their validation split is measured)")
    parser.add_argument("--train-images", type=int, default=60, help="training photos the variants' priors are fitted on")
    parser.add_argument("--iterations", type=int, default=16)
    args = parser.parse_args()
    paths = list_images(args.data)
    train = [p for p in paths if not is_validation(p)]
    random.Random(0).shuffle(train)
    symbols = {name: [symbols_of(*layers_of(p, args.iterations)) for p in group]
               for name, group in [("train", train[: args.train_images]), ("validation", [p for p in paths if is_validation(p)])]}
    print(f"{len(symbols['validation'])} validation photos, priors from {len(symbols['train'])} training photos, "
          f"{args.iterations} iterations; bytes of the stage's symbols:")
    print("| contexts | scale bits | flags | signs | total | change |\n|---|---:|---:|---:|---:|---:|")
    reference = None
    for name, variant in VARIANTS.items():
        spent = code_lengths(symbols["train"], symbols["validation"], variant)
        total = sum(spent.values())
        reference = reference or total
        print(f"| {name} | {spent['scale']:,.0f} | {spent['flag']:,.0f} | {spent['sign']:,.0f} | {total:,.0f} | "
              f"{100 * (total / reference - 1):+.2f} % |", flush=True)


if __name__ == "__main__":
    main()
