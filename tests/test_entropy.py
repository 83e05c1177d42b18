import numpy as np
import pytest

from rnncodec.entropy import CODED, RAW, CodeCoder


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
    enc, dec = CodeCoder(*shape), CodeCoder(*shape)
    for bits in codes:
        mode, payload = enc.encode(bits)
        assert np.array_equal(dec.decode(mode, payload), bits)


def test_correlated_codes_compress_and_random_codes_fall_back_to_raw():
    shape = (32, 32, 48)
    enc = CodeCoder(*shape)
    sizes = [enc.encode(b) for b in correlated_codes(6, shape)]
    assert all(mode == CODED for mode, _ in sizes[1:])
    assert sum(len(p) for _, p in sizes) < 0.75 * 6 * enc.raw_size
    random_bits = (np.random.default_rng(1).random(shape) < 0.5).astype(np.uint8)
    mode, payload = CodeCoder(*shape).encode(random_bits)
    assert mode == RAW and len(payload) == enc.raw_size


def test_probabilities_come_from_integer_counts():
    coder = CodeCoder(4, 2, 2)
    coder.counts[:] = [3, 1]
    p = coder._probabilities(np.array([0, 5]))
    assert p.dtype == np.float64 and np.all(p * 65536 == np.round(p * 65536))
    assert p[0] == 16384 / 65536


def test_wrong_shape_and_bad_payloads_are_refused():
    coder = CodeCoder(2, 2, 2)
    with pytest.raises(ValueError):
        coder.encode(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError):
        CodeCoder(2, 2, 2).decode(RAW, b"\x00" * 5)
    with pytest.raises(ValueError):
        CodeCoder(2, 2, 2).decode(CODED, b"\x00" * 3)
    with pytest.raises(ValueError):
        CodeCoder(2, 2, 2).decode(7, b"")
