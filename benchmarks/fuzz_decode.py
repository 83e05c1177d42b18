#!/usr/bin/env python3
"""Fuzz the decoder: CASES mutated .rgc files, decoded in-process the way `rnncodec decode` does.

    python benchmarks/fuzz_decode.py 100000 --seed 1

The mutations and small valid files are tests/test_fuzz.py's (tests/rgc_fuzz.py), drawn by
Hypothesis in batches (a fresh run per batch, so Hypothesis's own bookkeeping does not pile up).
Prints the outcomes: decoded (and how many chance-damaged ones changed the image with no
warning, by format version), FormatError, any other exception (a bug), slow cases, hangs, and
the peak memory growth over the run. Exits 1 if any case raised another exception or hung.
"""

from __future__ import annotations

import argparse
import collections
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rgc_fuzz import Fuzzer, Outcome, fuzz_setup, mutations, peak_rss_mib  # noqa: E402
from rnncodec.bitstream import parse_header  # noqa: E402

BATCH = 2000


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


class Tally:
    def __init__(self, slow_s: float):
        self.slow_s = slow_s
        self.outcomes = collections.Counter()
        self.by_mutation = collections.Counter()
        self.silent = collections.Counter()  # format version → damage that changed the image silently
        self.dropped = collections.Counter()  # format version → damage that dropped the ICC profile or metadata silently
        self.bugs = collections.Counter()  # first line of each unexpected exception
        self.slow = self.hangs = 0
        self.slowest = 0.0

    def add(self, name: str, version: int, outcome: Outcome) -> None:
        self.outcomes[outcome.kind if outcome.kind in ("decoded", "FormatError") else "other exception"] += 1
        self.by_mutation[name] += 1
        self.silent[version] += outcome.silent_change
        self.dropped[version] += outcome.dropped_optional
        if outcome.kind not in ("decoded", "FormatError"):
            self.bugs[outcome.message.splitlines()[0][:160]] += 1
        self.slow += outcome.seconds > self.slow_s
        self.slowest = max(self.slowest, outcome.seconds)

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values())


def run_batch(fuzzer: Fuzzer, tally: Tally, cases: int, seed: int, hang_s: int) -> None:
    versions = [parse_header(data).version for data in fuzzer.pool]

    @hypothesis_seed(seed)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=st.data())
    def batch(case):
        name, data, index = case.draw(mutations(fuzzer.pool))
        signal.alarm(hang_s)
        try:
            outcome = fuzzer.run(name, data, index)
        except Hang:
            tally.hangs += 1
            outcome = Outcome("hang", hang_s, "hang")
        finally:
            signal.alarm(0)
        tally.add(name, versions[index], outcome)

    batch()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", type=int, help="number of mutated files to decode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow", type=float, default=1.0, help="seconds above which a case counts as slow")
    parser.add_argument("--hang", type=int, default=60, help="seconds after which a case counts as a hang")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny tensors: one thread is much faster
    signal.signal(signal.SIGALRM, _alarm)
    fuzzer = fuzz_setup()
    tally = Tally(args.slow)
    start_rss, start = peak_rss_mib(), time.perf_counter()
    for b in range(0, args.cases, BATCH):
        run_batch(fuzzer, tally, min(BATCH, args.cases - b), args.seed * 1_000_003 + b, args.hang)
        print(f"{tally.cases} cases, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    print(f"fuzz_decode.py {args.cases} --seed {args.seed}: {tally.cases} cases from {len(fuzzer.pool)} valid files "
          f"in {wall:.0f} s ({tally.cases / wall:.0f} cases/s)")
    print("outcomes:", ", ".join(f"{k} {tally.outcomes[k]}" for k in ("decoded", "FormatError", "other exception")))
    versions = sorted(set(parse_header(d).version for d in fuzzer.pool))
    print("damage decoded with no warning to another image:", ", ".join(f"version {v}: {tally.silent[v]}" for v in versions))
    print("damage decoded with no warning without the ICC profile or metadata:", ", ".join(f"version {v}: {tally.dropped[v]}" for v in versions))
    print(f"slow cases (> {args.slow:g} s): {tally.slow}; slowest {tally.slowest:.2f} s; hangs (> {args.hang} s): {tally.hangs}")
    print(f"peak memory: {start_rss:.0f} MiB after setup, {peak_rss_mib():.0f} MiB at the end "
          f"(growth {peak_rss_mib() - start_rss:.0f} MiB)")
    print("cases per mutation:", ", ".join(f"{k} {v}" for k, v in sorted(tally.by_mutation.items())))
    for message, count in tally.bugs.most_common(20):
        print(f"  {count} × {message}")
    silent_v3 = sum(tally.silent[v] + tally.dropped[v] for v in versions if v >= 3)
    return 1 if tally.outcomes["other exception"] or tally.hangs or silent_v3 else 0


if __name__ == "__main__":
    sys.exit(main())
