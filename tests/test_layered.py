"""Layered files (entropy coders 3 and 4): where the stage's refinements go, how they are coded, and that
every iteration boundary of such a file is the file of that many iterations."""

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TINY_AFTER, network_recons, smooth_image, tiny_staged_model
from rnncodec.bitstream import read
from rnncodec.block_stage import (NOT_SENT, REFINEMENTS, hull_slopes, layered_pictures, levels_after, masking_weights, refinement_order,
                                  refinements)
from rnncodec.codec import ModelPipeline, code_slices, tiles
from rnncodec.entropy import CoderTables
from rnncodec.images import Picture
from rnncodec.layered import (LAYERED_CODER_ID, TERNARY_CODER_ID, LayeredCoder, fit_stage_prior, refinement_costs,
                              ternary_contexts)
from rnncodec.pixels import image_to_network, to_image


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_each_layer_gives_out_one_refinement_per_block_and_the_last_completes_them(levels, h, w, seed):
    gains = np.random.default_rng(seed).normal(size=(levels, h, w)) ** 3  # some negative, some out of order
    order = refinement_order(gains)
    out = np.stack([levels_after(order, (j + 1) * h * w, (h, w)) for j in range(levels)])
    assert sorted(order) == sorted(np.tile(np.arange(h * w), levels))  # every refinement once
    assert [int(layer.sum()) for layer in out] == [(j + 1) * h * w for j in range(levels)]
    assert np.all(np.diff(out, axis=0) >= 0) and np.all(out[-1] == levels)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_hull_slopes_are_non_increasing_and_keep_each_blocks_total(levels, blocks, seed):
    gains = np.random.default_rng(seed).normal(size=(levels, blocks))
    slopes = hull_slopes(gains)
    assert np.all(np.diff(slopes, axis=0) <= 1e-12)
    np.testing.assert_allclose(slopes.sum(axis=0), gains.sum(axis=0))
    assert np.all(np.cumsum(slopes, axis=0) >= np.cumsum(gains, axis=0) - 1e-9)  # the hull lies above
    np.testing.assert_array_equal(hull_slopes(gains, np.ones_like(gains)), slopes)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_hull_slopes_with_costs_are_gain_per_cost_on_the_hull(levels, blocks, seed):
    rng = np.random.default_rng(seed)
    gains, costs = rng.normal(size=(levels, blocks)), rng.uniform(0.5, 2, size=(levels, blocks))
    slopes = hull_slopes(gains, costs)
    assert np.all(np.diff(slopes, axis=0) <= 1e-12)
    np.testing.assert_allclose((slopes * costs).sum(axis=0), gains.sum(axis=0))
    assert np.all(np.cumsum(slopes * costs, axis=0) >= np.cumsum(gains, axis=0) - 1e-9)
    np.testing.assert_allclose(hull_slopes(gains, 2 * costs), slopes / 2)


def greedy_hull_slopes(gains: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """The upper concave hull's slopes as its definition reads, block by block: from each vertex, the
    longest segment of the steepest mean gain per cost."""
    slopes = np.zeros_like(gains)
    for block in range(gains.shape[1]):
        total, spent = np.concatenate([[0], np.cumsum(gains[:, block])]), np.concatenate([[0], np.cumsum(costs[:, block])])
        start = 0
        while start < len(gains):
            means = [(total[end] - total[start]) / (spent[end] - spent[start]) for end in range(start + 1, len(gains) + 1)]
            end = start + 1 + max(i for i, mean in enumerate(means) if mean == max(means))
            slopes[start:end, block] = means[end - start - 1]
            start = end
    return slopes


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.booleans(), st.integers(0, 2**32 - 1))
def test_hull_slopes_are_those_of_the_greedy_hull(levels, blocks, ties, seed):
    rng = np.random.default_rng(seed)
    gains = rng.integers(-2, 4, size=(levels, blocks)).astype(float) if ties else rng.normal(size=(levels, blocks)) ** 3
    costs = rng.integers(1, 3, size=(levels, blocks)).astype(float)
    np.testing.assert_array_equal(hull_slopes(gains, costs), greedy_hull_slopes(gains, costs))
    np.testing.assert_array_equal(hull_slopes(gains), greedy_hull_slopes(gains, np.ones_like(gains)))


def test_with_diminishing_gains_the_layers_beat_equal_levels():
    gains = np.sort(np.random.default_rng(3).exponential(size=(6, 8, 8)) * np.logspace(-2, 1, 64).reshape(1, 8, 8), axis=0)[::-1]
    order = refinement_order(gains)
    levels = [levels_after(order, (j + 1) * 64, (8, 8)) for j in range(6)]
    total = np.concatenate([np.zeros((1, 8, 8)), np.cumsum(gains, axis=0)])
    for j, level in enumerate(levels):
        layered = np.take_along_axis(total, level[None], axis=0).sum()
        assert layered >= total[j + 1].sum() - 1e-9


def coded_layers(shape, levels, after, counts, codes, tables=None, ternary=False):
    coder = LayeredCoder(*shape, tables, after, levels, ternary=ternary)
    grid = [coder.encode_grid(bits) for bits in codes[:after]]
    return grid, [coder.encode_layer(count, codes[after:]) for count in counts]


def assert_decodes_to(decoder, grid, layers, codes, counts):
    """The decoder gives back the network's bits, each layer's counts and every refinement sent."""
    after = len(grid)
    for (mode, payload), bits in zip(grid, codes[:after]):
        np.testing.assert_array_equal(decoder.decode_grid(mode, payload), bits)
    for payload, count in zip(layers, counts):
        np.testing.assert_array_equal(decoder.decode_layer(payload), count)
    sent = np.arange(len(codes) - after)[:, None, None] < np.sum(counts, axis=0)
    np.testing.assert_array_equal(decoder.codes * sent[:, None], codes[after:] * sent[:, None])


def random_layers(seed, shape=(4, 3, 5), levels=5, after=2, layers=4):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2, (after + levels, *shape)).astype(np.uint8)
    level, counts = np.zeros(shape[1:], np.int64), []
    for _ in range(layers):
        count = rng.integers(0, 3, shape[1:]) * (rng.random(shape[1:]) < 0.6)
        count = np.minimum(count, levels - level)
        counts.append(count)
        level = level + count
    return codes, counts


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_layers_round_trip(seed):
    shape, levels, after = (4, 3, 5), 5, 2
    codes, counts = random_layers(seed)
    grid, layers = coded_layers(shape, levels, after, counts, codes)
    assert_decodes_to(LayeredCoder(*shape, None, after, levels), grid, layers, codes, counts)


def test_a_layer_with_words_added_or_removed_is_refused():
    shape, levels, after = (4, 3, 5), 5, 2
    codes, counts = random_layers(7)
    grid, layers = coded_layers(shape, levels, after, counts, codes)
    for bad in (layers[0] + bytes(4), layers[0][:-4]):
        decoder = LayeredCoder(*shape, None, after, levels)
        for mode, payload in grid:
            decoder.decode_grid(mode, payload)
        with pytest.raises((ValueError, AssertionError)):
            decoder.decode_layer(bad)


def test_a_count_beyond_a_blocks_levels_is_refused():
    coder = LayeredCoder(2, 1, 2, CoderTables.uniform(2), 1, 2)
    coder.encode_grid(np.zeros((2, 1, 2), np.uint8))
    with pytest.raises(ValueError, match="levels each block has left"):
        coder.encode_layer(np.array([[3, 0]]), np.zeros((2, 2, 1, 2), np.uint8))


# --- through the codec: a model with a stage writes layered files -----------------------------------
@pytest.fixture(scope="module")
def staged_codec(tiny_staged):
    return ModelPipeline(tiny_staged[1])


@pytest.fixture(scope="module")
def photo():
    rgb = smooth_image(48, 80, seed=11)
    rgb[:, :32] = rgb[:, :32] // 8 + 100  # a quiet part: its blocks need fewer refinements
    return Picture(rgb, "RGB")


def test_a_model_with_a_stage_writes_layered_files_whose_prefixes_are_files(staged_codec, photo):
    top = staged_codec.max_iterations
    data = staged_codec.encode(photo, top)
    contents = read(data)
    assert contents.header.coder_id == LAYERED_CODER_ID
    every = staged_codec.decode(data, keep_all=True).pictures
    for k in (1, TINY_AFTER, TINY_AFTER + 1, top - 3, top):
        short = staged_codec.encode(photo, k)
        assert short == contents.cut(k)
        np.testing.assert_array_equal(staged_codec.decode(short).picture.rgb, every[k - 1].rgb)
        np.testing.assert_array_equal(staged_codec.decode(data, iterations=k).picture.rgb, every[k - 1].rgb)


def test_each_layer_gives_out_a_refinement_per_block_and_uniform_layers_are_the_stages_own_iterations(tiny_staged, photo):
    network, staged = tiny_staged
    top = staged.config.max_iterations
    codec = ModelPipeline(staged)
    file = codec.read(codec.encode(photo, top))
    blocks = file.codes.shape[2] * file.codes.shape[3]
    assert [int(level.sum()) for level in file.layers.levels] == [j * blocks for j in range(1, top - TINY_AFTER + 1)]
    assert file.layers.levels.max() <= REFINEMENTS
    one_pass = ModelPipeline(staged, allocation="rd-one-pass")
    assert one_pass.read(one_pass.encode(photo, top)).layers.levels.max() <= staged.stage.iterations
    uniform = ModelPipeline(staged, allocation="uniform")
    assert np.all(uniform.read(uniform.encode(photo, top)).layers.levels[-1] == staged.stage.iterations)
    from rnncodec.codec import model_codes

    expected = uniform.reconstruct(model_codes(staged, photo.rgb, top), 48, 80)[0]  # coder 2's stage iterations
    got = uniform.decode(uniform.encode(photo, top)).picture.rgb
    assert np.abs(got.astype(int) - expected).max() <= 1


def test_layered_payload_damage_is_named_with_its_iteration(staged_codec, photo):
    data = bytearray(staged_codec.encode(photo, TINY_AFTER + 3))
    contents = read(bytes(data))
    chunk = contents.iterations[TINY_AFTER + 1]
    payload = bytearray(chunk.payload)
    payload[:4] = bytes(4) if payload[:4] != bytes(4) else b"\xff" * 4
    from rgc_fuzz import Parts

    parts = Parts.of(bytes(data))
    index = len(parts.chunks) - len(contents.iterations) + TINY_AFTER + 1
    parts.chunks[index][7:-4] = payload
    parts.fix_crcs()
    from rnncodec.errors import DamageError

    with pytest.raises(DamageError, match=f"iteration {TINY_AFTER + 2}: its codes do not decode"):
        staged_codec.decode(parts.join())
    assert staged_codec.decode(parts.join(), iterations=TINY_AFTER + 1).iterations == TINY_AFTER + 1


def test_a_size_target_fills_the_budget_with_the_next_iterations_best_refinements(staged_codec, photo):
    full = staged_codec.encode(photo, staged_codec.max_iterations)
    ends = read(full).chunk_ends
    reference = photo.rgb.astype(float)
    for k in (TINY_AFTER + 1, TINY_AFTER + 4):
        budget = (ends[k - 1] + ends[k]) // 2  # between two iteration boundaries
        data = staged_codec.encode(photo, staged_codec.max_iterations, budget=budget)
        assert ends[k - 1] < len(data) <= budget
        decoded = staged_codec.decode(data)
        assert decoded.iterations == k + 1 and not decoded.warnings
        error = np.mean((decoded.picture.rgb - reference) ** 2)
        assert error < np.mean((staged_codec.decode(full, iterations=k).picture.rgb - reference) ** 2)
        np.testing.assert_array_equal(staged_codec.decode(data, iterations=k).picture.rgb,
                                      staged_codec.decode(full, iterations=k).picture.rgb)  # the whole iterations are the file's
    assert staged_codec.encode(photo, staged_codec.max_iterations, budget=ends[0] - 1) is None


# --- tunes: what the encoder weighs a block's error by --------------------------------------------------
def test_masking_weights_favour_smooth_blocks_and_strength_zero_weighs_all_alike():
    rgb = smooth_image(32, 64, seed=3)
    rgb[:, 32:] = np.random.default_rng(0).integers(0, 256, (32, 32, 3))  # texture on the right
    weights = masking_weights(rgb, 0.75)
    assert weights.shape == (2, 4) and weights[:, :2].min() > 4 * weights[:, 2:].max()
    assert np.all(masking_weights(rgb, 0.0) == 1)


def test_masking_weights_read_a_large_picture_in_bands_alike():
    """The weights of a tall picture, computed a band at a time, are those of its parts computed whole, and
    take far less memory than a float copy of the picture (a 12-megapixel photo's would be 288 MB)."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (2400, 1024, 3), dtype=np.uint8)
    rgb[400:800] //= 16  # a quieter band across a band boundary
    tracemalloc.start()
    weights = masking_weights(rgb, 0.3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < rgb.size * 8 / 4  # under a quarter of the picture as float64
    for top, rows in ((0, 16), (256, 32), (496, 48), (2384, 16)):  # one part across a band boundary
        part = rgb[top : top + rows]
        np.testing.assert_array_equal(masking_weights(part, 0.3), weights[top // 16 : (top + rows) // 16])


def test_tunes_move_refinements_to_smooth_blocks_and_their_files_decode_alike(tiny_staged, photo):
    staged = tiny_staged[1]
    top = staged.config.max_iterations
    files = {tune: ModelPipeline(staged, tune=tune).encode(photo, top) for tune in ("psnr", "balanced", "ssim")}
    layers = {tune: ModelPipeline(staged).read(data).layers.levels for tune, data in files.items()}
    quiet = [int(levels[:, :2].sum()) for levels in layers["psnr"][:-1]]  # blocks of the quiet part, layer by layer
    for tune in ("balanced", "ssim"):
        assert read(files[tune]).cut(TINY_AFTER) == read(files["psnr"]).cut(TINY_AFTER)  # the network's alike
        assert all(int(levels[:, :2].sum()) >= q for levels, q in zip(layers[tune][:-1], quiet))
    assert sum(int(levels[:, :2].sum()) for levels in layers["ssim"][:-1]) > sum(quiet)
    for tune, data in files.items():  # decoding does not depend on the tune
        np.testing.assert_array_equal(ModelPipeline(staged, tune="ssim").decode(data).picture.rgb,
                                      ModelPipeline(staged, tune="psnr").decode(data).picture.rgb)


# --- several tiles: the stage's work runs beside the next tile's network steps ----------------------------
def test_several_tiles_code_and_decode_each_tile_as_if_alone(tiny_staged):
    staged = tiny_staged[1]
    rgb = smooth_image(64, 96, seed=4)
    pipeline = ModelPipeline(staged, tile=32, tune="psnr")
    _, stage_codes, gains, costs = pipeline._layered_codes(rgb, TINY_AFTER, True, None)
    assert costs is None  # a sign stage gives refinements out by gain alone
    data = pipeline.encode(Picture(rgb, "RGB"), staged.config.max_iterations)
    file = pipeline.read(data)
    decoded = pipeline.decode(data).picture.rgb
    for rows, cols in tiles(64, 96, 32):  # six tiles
        cr, cc = code_slices(rows, cols)
        x = image_to_network(rgb[rows, cols])
        recons = network_recons(staged.network, x, TINY_AFTER)
        codes, tile_gains = refinements(staged.stage, x - recons[-1], recons[-1] - recons[-2])
        np.testing.assert_array_equal(stage_codes[:, :, cr, cc], codes)
        np.testing.assert_array_equal(gains[:, cr, cc], tile_gains)
        *_, (recon, delta) = staged.reconstructions(file.codes[:, :, cr, cc])
        layered = staged.stage, recon, delta, file.layers.codes[:, :, cr, cc], file.layers.levels[:, cr, cc]
        *_, last = layered_pictures(*layered)
        np.testing.assert_array_equal(decoded[rows, cols], to_image(last[0]))
        (only,) = layered_pictures(*layered, every=False)
        np.testing.assert_array_equal(only, last)


# --- a ternary stage (components sent as −1, 0 or +1): entropy coder 4 ------------------------------------
def random_ternary_layers(seed, shape=(4, 3, 5), levels=6, after=2, layers=4):
    """Codes as a ternary stage makes them: network bits, then refinements whose components are 0/1/NOT_SENT."""
    codes, counts = random_layers(seed, shape, levels, after, layers)
    rng = np.random.default_rng(seed + 1)
    codes[after:, :-1] = np.where(rng.random((levels, shape[0] - 1, *shape[1:])) < 0.4, NOT_SENT, codes[after:, :-1])
    return codes, counts


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_ternary_layers_round_trip(seed, with_prior):
    shape, levels, after = (4, 3, 5), 6, 2
    codes, counts = random_ternary_layers(seed, shape, levels, after)
    stage_codes = codes[after:].reshape(levels, shape[0], -1)
    tables = replace(CoderTables.uniform(shape[0]), stage_prior=fit_stage_prior([stage_codes], shape[0] - 1) if with_prior else None)
    grid, layers = coded_layers(shape, levels, after, counts, codes, tables, ternary=True)
    assert_decodes_to(LayeredCoder(*shape, tables, after, levels, ternary=True), grid, layers, codes, counts)
    with pytest.raises((ValueError, AssertionError)):  # coder 3 does not read coder 4's layers
        assert_decodes_to(LayeredCoder(*shape, tables, after, levels), grid, layers, codes, counts)


def test_refinement_costs_are_one_bit_a_symbol_without_a_prior_and_less_where_the_prior_expects_it():
    codes, _ = random_ternary_layers(3, shape=(6, 4, 4), levels=5, after=0)
    codes = codes.reshape(5, 6, -1)
    sent = (codes[:, :-1] != NOT_SENT).sum(axis=1)
    np.testing.assert_allclose(refinement_costs(None, codes), 1 + 5 + sent, rtol=1e-4)  # scale bit, 5 flags, the signs
    quiet = codes.copy()
    quiet[:, :-1] = NOT_SENT  # nothing sent: a prior fitted to such refinements makes them cheap
    prior = fit_stage_prior([quiet], 5)
    assert prior.shape == (ternary_contexts(5), 2)
    assert np.all(refinement_costs(prior, quiet) < refinement_costs(None, quiet) / 2)


@pytest.fixture(scope="module")
def ternary_staged(tiny_staged):
    """The tiny network with a ternary stage fitted on the same images as the tiny sign stage, and coder 4's prior."""
    return tiny_staged_model(tiny_staged[0], b"\x06" * 8, dead_zone=0.5, rate_weight=0.6)


def test_a_ternary_stage_sends_zeros_and_each_refinement_lowers_the_error(ternary_staged):
    stage = ternary_staged.stage
    assert stage.ternary
    x = image_to_network(smooth_image(48, 64, seed=21))
    recons = network_recons(ternary_staged.network, x, TINY_AFTER)
    codes, gains = refinements(stage, x - recons[-1], recons[-1] - recons[-2])
    assert np.any(codes[:, :-1] == NOT_SENT) and np.any(codes[:, :-1] != NOT_SENT)
    assert set(np.unique(codes[:, -1])) <= {0, 1}
    assert np.all(gains[: stage.iterations] > -1e-6)  # the scale bit that leaves less error: never worse than nothing sent
    with pytest.raises(ValueError, match="in layers only"):
        stage.encode(x - recons[-1], TINY_AFTER + 1, stage.start(recons[-1] - recons[-2]))


def test_a_ternary_stage_writes_coder_4_files_whose_prefixes_are_files(ternary_staged, photo):
    codec = ModelPipeline(ternary_staged)
    top = codec.max_iterations
    data = codec.encode(photo, top)
    contents = read(data)
    assert contents.header.coder_id == TERNARY_CODER_ID == codec.coder_id and codec.decodable_coders == [TERNARY_CODER_ID]
    every = codec.decode(data, keep_all=True).pictures
    errors = [np.mean((p.rgb.astype(float) - photo.rgb) ** 2) for p in every]
    assert errors[-1] < errors[TINY_AFTER - 1]
    for k in (TINY_AFTER, TINY_AFTER + 1, top):
        short = codec.encode(photo, k)
        assert short == contents.cut(k)
        np.testing.assert_array_equal(codec.decode(short).picture.rgb, every[k - 1].rgb)
    _, _, gains, costs = codec._layered_codes(photo.rgb, TINY_AFTER, True, None)
    assert costs.shape == gains.shape and np.all(costs > 0)
    from rnncodec.errors import FormatError

    sign_file = ModelPipeline(replace(ternary_staged, stage=replace(ternary_staged.stage, dead_zone=0.0))).encode(photo, top)
    with pytest.raises(FormatError, match="entropy coder 3; this model decodes coders \\[4\\]"):
        codec.decode(sign_file)


def test_a_ternary_stage_file_with_a_stage_prior_of_the_wrong_size_is_refused(ternary_staged, tiny_weights, tmp_path):
    import shutil

    from rnncodec.errors import WeightsError
    from rnncodec.model import load_model
    from rnncodec.weights import save_block_stage

    network = tmp_path / "net.safetensors"
    shutil.copyfile(tiny_weights, network)
    good, bad = tmp_path / "ternary.safetensors", tmp_path / "bad.safetensors"
    save_block_stage(good, network, ternary_staged.stage, ternary_staged.tables)
    assert load_model(good, engine="torch").stage.ternary
    save_block_stage(bad, network, ternary_staged.stage, replace(ternary_staged.tables, stage_prior=ternary_staged.tables.stage_prior[:-1]))
    with pytest.raises(WeightsError, match="stage prior has"):
        load_model(bad, engine="torch")
