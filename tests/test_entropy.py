import numpy as np
import pytest

from rnncodec.entropy import (COUNT_LIMIT, CODED, RAW, CoderTables, GridCoder, fit_tables, ideal_bits, probabilities,
                              shortest_first_payload, update)


def correlated_codes(iterations, shape, seed=0):
    rng = np.random.default_rng(seed)
    prev = rng.random(shape) < 0.3
    out = []
    for _ in range(iterations):
        prev = np.where(rng.random(shape) < 0.8, prev, rng.random(shape) < 0.5)
        out.append(prev.astype(np.uint8))
    return out


@pytest.mark.parametrize("shape", [(32, 1, 1), (32, 3, 5), (8, 17, 4), (32, 32, 48)])
def test_round_trip_is_exact(shape):
    codes = correlated_codes(5, shape)
    enc, dec = GridCoder(*shape), GridCoder(*shape)
    for bits in codes:
        mode, payload = enc.encode(bits)
        assert np.array_equal(dec.decode(mode, payload), bits)


def test_correlated_codes_compress_and_random_codes_fall_back_to_raw():
    shape = (32, 32, 48)
    tables = fit_tables([np.stack(correlated_codes(6, shape, seed)) for seed in (1, 2)])
    enc = GridCoder(*shape, tables)
    sizes = [enc.encode(b) for b in correlated_codes(6, shape)]
    assert all(mode == CODED for mode, _ in sizes[1:])
    assert sum(len(p) for _, p in sizes) < 0.75 * 6 * enc.raw_size
    random_bits = (np.random.default_rng(1).random(shape) < 0.5).astype(np.uint8)
    mode, payload = GridCoder(*shape).encode(random_bits)
    assert mode == RAW and len(payload) == enc.raw_size


def test_probabilities_come_from_integer_counts():
    coder = GridCoder(4, 2, 2)
    coder.counts[:] = [3, 1]
    p = coder._probabilities(np.array([0, 5]))
    assert p.dtype == np.float64 and np.all(p * 65536 == np.round(p * 65536))
    assert p[0] == 16384 / 65536


def test_counts_follow_every_symbol_and_halve_past_the_limit():
    counts = np.ones((4, 2), np.int64)
    counts[3] = [COUNT_LIMIT // 2, COUNT_LIMIT // 2]
    update(counts, np.array([0, 0, 0, 2, 3]), np.array([1, 1, 0, 0, 1], np.uint8))
    assert counts.tolist() == [[2, 3], [1, 1], [2, 1], [(COUNT_LIMIT // 2 + 1) // 2, (COUNT_LIMIT // 2 + 2) // 2]]
    assert probabilities(counts, np.array([0, 1])).tolist() == [39322 / 65536, 0.5]  # round(2^16 · 3/5)
    with pytest.raises(ValueError, match="C-contiguous"):
        update(np.ones((2, 4), np.int64).T, np.array([0]), np.array([1]))


def test_wrong_shape_and_bad_payloads_are_refused():
    coder = GridCoder(2, 2, 2)
    with pytest.raises(ValueError):
        coder.encode(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError):
        GridCoder(2, 2, 2).decode(RAW, b"\x00" * 5)
    with pytest.raises(ValueError):
        GridCoder(2, 2, 2).decode(CODED, b"\x00" * 3)
    with pytest.raises(ValueError):
        GridCoder(2, 2, 2).decode(7, b"")


def partnered_codes(iterations, shape, seed=0):
    """Codes in which each odd channel mostly copies the channel before it: partners should find that."""
    out = []
    for bits in correlated_codes(iterations, shape, seed):
        bits = bits.copy()
        flip = np.random.default_rng(seed + 1).random(shape[1:]) < 0.05
        bits[1::2] = np.where(flip, 1 - bits[0::2], bits[0::2])
        out.append(bits)
    return np.stack(out)


def test_fitted_tables_find_partners_and_shrink_the_codes():
    shape = (8, 12, 16)
    training = [partnered_codes(6, shape, seed) for seed in range(3)]
    tables = fit_tables(training)
    assert all(tables.partners[c, 0] == c - 1 for c in range(1, 8, 2))  # the channel it copies
    assert np.all(tables.partners < np.arange(8)[:, None])  # only channels coded earlier
    test = [partnered_codes(6, shape, seed=10)]
    assert ideal_bits(test, tables) < 0.8 * ideal_bits(test)
    enc, dec = GridCoder(*shape, tables), GridCoder(*shape, tables)
    fitted = uniform = 0
    plain = GridCoder(*shape)
    for bits in test[0]:
        mode, payload = enc.encode(bits)
        assert np.array_equal(dec.decode(mode, payload), bits)
        fitted += len(payload)
        uniform += len(plain.encode(bits)[1])
    assert fitted < 0.8 * uniform


def test_decoding_with_other_tables_fails_or_does_not_give_the_codes_back():
    shape = (8, 12, 16)
    tables = fit_tables([partnered_codes(6, shape, seed) for seed in range(2)])
    codes = partnered_codes(4, shape, seed=5)
    enc, wrong = GridCoder(*shape, tables), GridCoder(*shape)
    try:
        decoded = [wrong.decode(*enc.encode(bits)) for bits in codes]
    except (ValueError, AssertionError):
        return  # the range decoder rejected the data or left words unused
    assert not np.array_equal(np.stack(decoded), codes)


def test_a_coded_payload_with_unused_words_is_refused():
    shape = (8, 12, 16)
    tables = fit_tables([partnered_codes(6, shape, seed) for seed in range(2)])
    bits = partnered_codes(1, shape, seed=5)[0]
    mode, payload = GridCoder(*shape, tables).encode(bits)
    assert mode == CODED
    assert np.array_equal(GridCoder(*shape, tables).decode(mode, payload), bits)
    with pytest.raises(ValueError, match="not the coding of its codes"):
        GridCoder(*shape, tables).decode(mode, payload + b"\x01\x00\x00\x00" * 2)  # one more word hides in the look-ahead
    with pytest.raises(ValueError, match="not the coding of its codes"):
        GridCoder(*shape, tables).decode(mode, payload + b"\x00" * 4)
    with pytest.raises((ValueError, AssertionError)):
        GridCoder(*shape, tables).decode(mode, payload[:-4])  # the range decoder would read past the end


@pytest.mark.parametrize("tables", ["uniform", "fitted"])
def test_the_shortest_first_payload_is_a_true_bound(tables):
    """Codes the prior predicts best (each context's likelier bit everywhere) still take at least the bound."""
    shape = (8, 40, 40)
    fitted = fit_tables([partnered_codes(6, shape, seed) for seed in range(2)]) if tables == "fitted" else CoderTables.uniform(8)
    coder = GridCoder(*shape, fitted)
    bits = np.zeros(shape, np.uint8)
    for mask, c, contexts in coder._coding_order(bits):
        bits[c][mask] = coder._probabilities(contexts) > 0.5
    mode, payload = GridCoder(*shape, fitted).encode(bits)
    assert mode == RAW or len(payload) >= shortest_first_payload(fitted, shape)


def test_a_first_payload_too_short_for_its_grid_is_refused_before_allocating():
    shape = (32, 512, 512)  # an 8192×8192 image
    with pytest.raises(ValueError, match="too short"):
        GridCoder(*shape).decode(CODED, b"\0" * 20)


def test_malformed_tables_are_refused():
    good = CoderTables.uniform(4)
    good.check()
    with pytest.raises(ValueError):
        CoderTables(good.partners, good.prior[:-1]).check()
    with pytest.raises(ValueError):
        CoderTables(good.partners, np.zeros_like(good.prior)).check()
    partners = good.partners.copy()
    partners[1, 0] = 2  # a channel coded later cannot be a partner
    with pytest.raises(ValueError):
        CoderTables(partners, good.prior).check()
    with pytest.raises(ValueError):
        GridCoder(8, 2, 2, good)
