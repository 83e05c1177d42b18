"""The encoder's bit search (``effort``): never a worse iteration than the encoder's bits, files any decoder reads."""

import numpy as np
import pytest

from conftest import smooth_image
from rnncodec.codec import ModelPipeline
from rnncodec.engines.search import SearchingEngine
from rnncodec.images import Picture
from rnncodec.pixels import image_to_network


def squared_error(engine, target, bits, t, state):
    delta, _ = engine.decode_step(bits, t, state)
    return float(np.mean((target - delta) ** 2))


def test_the_search_never_codes_an_iteration_worse_than_the_encoders_bits(tiny_staged):
    network, _ = tiny_staged
    search = SearchingEngine.around(network, None, steps=4)
    x = image_to_network(smooth_image(64, 48, seed=3))
    residual, plain_state, decoder_state, flipped = x, None, None, 0.0
    for t in (1, 2, 3):
        plain, _ = network.encode_step(residual, t, plain_state)
        searched, plain_state = search.encode_step(residual, t, plain_state)
        assert set(np.unique(searched)) <= {-1.0, 1.0} and searched.shape == plain.shape
        assert squared_error(network, residual, searched, t, decoder_state) <= squared_error(network, residual, plain, t, decoder_state)
        flipped += float(np.mean(searched != plain))
        delta, decoder_state = network.decode_step(searched, t, decoder_state)
        residual = residual - delta
    assert flipped > 0  # the search moved something: a random network's encoder is far from its decoder's best


def test_searched_files_decode_with_the_plain_model(tiny_staged):
    _, model = tiny_staged
    plain, searching = ModelPipeline(model), ModelPipeline(model, effort=3)
    picture = Picture(smooth_image(48, 64, seed=5), "RGB")
    data = searching.encode(picture, 5)
    assert data != plain.encode(picture, 5)
    for keep in (plain.decode(data, keep_all=True), searching.decode(data, keep_all=True)):
        assert keep.iterations == 5
    np.testing.assert_array_equal(plain.decode(data).picture.rgb, searching.decode(data).picture.rgb)


def test_effort_is_a_count_of_search_steps():
    from rnncodec import api

    with pytest.raises(ValueError, match="effort"):
        api.Codec(effort=-1)
    with pytest.raises(TypeError, match="effort"):
        api.Codec(effort=1.5)
