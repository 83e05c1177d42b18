"""Property: any damaged or crafted version of a small valid file decodes to an image or fails with
FormatError, quickly and in bounded memory; chance damage to a version-2 file, and chance damage
or a resized payload in a version-3 file, never changes the image silently, nor (version 3) drops
its ICC profile. benchmarks/fuzz_decode.py runs the same mutations for longer."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgc_fuzz import fuzz_setup, mutations, peak_rss_mib
from rnncodec.bitstream import parse_header

SECONDS_PER_CASE = 10  # a case takes milliseconds; this only catches hangs on a busy machine
MEMORY_GROWTH_MIB = 200


@pytest.fixture(scope="module")
def fuzzer(tiny_staged):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is much faster, above all on a loaded machine
    fuzzer = fuzz_setup(tiny_staged[1].stage)  # the stage fits any tiny network of this config
    fuzzer.start_rss = peak_rss_mib()
    yield fuzzer
    torch.set_num_threads(threads)


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=st.data())
def test_any_mutated_file_decodes_or_fails_with_format_error(fuzzer, case):
    name, data, index = case.draw(mutations(fuzzer.pool), label="mutation")
    outcome = fuzzer.run(name, data, index)
    assert outcome.kind in ("decoded", "FormatError"), outcome.message
    assert outcome.seconds < SECONDS_PER_CASE
    assert peak_rss_mib() - fuzzer.start_rss < MEMORY_GROWTH_MIB
    version = parse_header(fuzzer.pool[index]).version
    if version >= 2 and (name != "resize_payload" or version >= 3):
        assert not outcome.silent_change, f"{name} changed the image without a warning"
    if version >= 3:
        assert not outcome.dropped_optional, f"{name} dropped the ICC profile or metadata without a warning"
