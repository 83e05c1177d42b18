"""Many inputs in one command, as gzip and cwebp take them: where each output goes, every output
checked before any work, one progress bar, a failure reported for its file while the others go on,
and a summary."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click

from ..wording import count
from .io import STDIO, check_output, default_output, error, errors_about, label, say, warnings_to_stderr, write_output


@dataclass(frozen=True)
class Job:
    input: str
    output: str


@dataclass(frozen=True)
class Result:
    """One file done: its bytes, and the iterations, bpp and pixels of the .rgc file (the part decoded)."""

    bytes_in: int
    bytes_out: int
    iterations: int
    bpp: float
    pixels: int
    note: str = ""  # said after the rest in -v's line: "JPEG quality 95"


Work = Callable[[Job, Callable[[int, int], None]], tuple[bytes, Result]]  # (job, progress) → output bytes, result


def plan(inputs: tuple[str, ...], output: str | None, suffix: str) -> list[Job]:
    """Each input's output: ``output`` for a single input; with ``output`` a folder (DIR/ or an
    existing one), the input's name with ``suffix`` in it; else beside the input with ``suffix``."""
    folder = output not in (None, STDIO) and (output.endswith("/") or Path(output).is_dir())
    if STDIO in inputs and len(inputs) > 1:
        raise click.UsageError("- (stdin) must be the only input")
    if len(inputs) > 1 and output is not None and not folder:
        raise click.UsageError(f"-o {output}: with several inputs, -o takes a folder (end it with /)")
    if folder and inputs == (STDIO,):
        raise click.UsageError("-o DIR/ names outputs after their inputs: give -o FILE for stdin")
    if folder:
        return [Job(name, str(Path(output) / Path(name).with_suffix(suffix).name)) for name in inputs]
    return [Job(name, output or default_output(name, suffix)) for name in inputs]


def run(jobs: list[Job], work: Work, *, force: bool, verbose: bool, doing: str, done_verb: str,
        check: Callable[[Job], None] | None = None, quiet: bool = False) -> None:
    """Check every output (and ``check`` each job), then do each job and write its output; exit with
    status 1 if any failed. ``doing``, ``done_verb``: 'encoding', 'encoded'; ``quiet``: no warnings, no progress bar."""
    ready, failed = checked(jobs, force, check)
    done = []
    with ProgressBar(doing, len(ready), shown=not quiet) as bar:
        for index, job in enumerate(ready):
            try:
                with errors_about(label(job.input)), warnings_to_stderr(label(job.input), quiet):
                    data, result = work(job, bar.part(index, label(job.input)))
                write_output(job.output, data)
            except click.ClickException as e:
                error(e.format_message())
                failed += 1
                continue
            done.append(result)
            if verbose:
                say(f"{label(job.input)} → {'stdout' if job.output == STDIO else job.output}: {describe(result)}")
    if verbose and len(jobs) > 1:
        say(summary(done_verb, done, failed))
    if failed:
        sys.exit(1)


def checked(jobs: list[Job], force: bool, check: Callable[[Job], None] | None) -> tuple[list[Job], int]:
    """The jobs whose output can be written (each failure reported), and how many failed."""
    ready, outputs, failed = [], {}, 0
    for job in jobs:
        try:
            if job.output != STDIO and job.output in outputs:
                raise click.ClickException(f"{label(job.input)}: skipped: {outputs[job.output]} writes {job.output} too "
                                           "(two inputs would write the same output; rename one, or give each its own -o)")
            check_output(job.output, job.input, force)
            if check is not None:
                check(job)
        except click.ClickException as e:
            error(e.format_message())
            failed += 1
            continue
        outputs[job.output] = label(job.input)
        ready.append(job)
    return ready, failed


def describe(result: Result) -> str:
    line = f"{count(result.iterations, 'iteration')}, {result.bytes_in} → {result.bytes_out} bytes, {result.bpp:.4f} bpp"
    return f"{line}, {result.note}" if result.note else line


def summary(verb: str, done: list[Result], failed: int) -> str:
    """'encoded 3 files, 1 failed: 1234 bytes in, 567 bytes out, 0.4321 bpp over all 23040 pixels': the bpp of
    the .rgc files together (their bits over their pixels, not a mean of each file's bpp)."""
    line = f"{verb} {count(len(done), 'file')}" + (f", {failed} failed" if failed else "")
    if not done:
        return line
    bytes_in, bytes_out = sum(r.bytes_in for r in done), sum(r.bytes_out for r in done)
    pixels = sum(r.pixels for r in done)
    bpp = sum(r.bpp * r.pixels for r in done) / pixels
    return line + f": {bytes_in} bytes in, {bytes_out} bytes out, {bpp:.4f} bpp over all {pixels} pixels"


class ProgressBar:
    """One tqdm bar on stderr for all the files, when stderr is a terminal (and ``shown``): each file's
    network steps move it across that file's share."""

    def __init__(self, description: str, files: int, shown: bool = True):
        self.description = description
        self.files = files
        self.shown = shown
        self.bar = None

    def part(self, index: int, name: str) -> Callable[[int, int], None]:
        """The progress callback of file ``index``: called with (steps done, steps in all)."""

        def report(done: int, total: int) -> None:
            if not (self.shown and sys.stderr.isatty()):
                return  # no bar: tqdm is not even imported (it takes a noticeable part of a small file's decode)
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=self.files, desc=self.description, file=sys.stderr,
                                leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
            if self.files > 1:
                self.bar.set_description_str(f"{self.description} {name} ({index + 1} of {self.files})", refresh=False)
            self.bar.update(index + done / total - self.bar.n)

        return report

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
