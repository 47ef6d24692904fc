"""The printed report both runners share: a pass/fail/skip cell, the side-by-side
table of several runtimes, the closing totals, an occurrence's mark in a work list."""

from __future__ import annotations

import sys
from typing import TextIO

from .results import FileRecord, SuiteRun


def counts_cell(c: tuple[int, int, int] | None) -> str:
    """`passed/failed/skipped`, or `-` for a file the runtime did not run."""
    return "-" if c is None else f"{c[0]}/{c[1]}/{c[2]}"


def record_cell(r: FileRecord | None) -> str:
    return counts_cell(None if r is None else r.counts())


def print_side_by_side(
    first_column: str, runs: list[SuiteRun], names: list[str], file: TextIO = sys.stdout
) -> None:
    """One row per file, one pass/fail/skip column per runtime; `*` marks a file the
    runtimes differ on."""
    width = max([len(first_column)] + [len(n) for n in names]) + 2
    col = max([16] + [len(r.label) + 2 for r in runs])
    print(first_column.ljust(width) + "".join(r.label.rjust(col) for r in runs), file=file)
    print(" " * width + "".join("pass/fail/skip".rjust(col) for _ in runs), file=file)
    for n in names:
        cells = [record_cell(r.records().get(n)) for r in runs]
        mark = "  *" if len(set(cells)) > 1 else ""
        print(n.ljust(width) + "".join(c.rjust(col) for c in cells) + mark, file=file)


def print_totals(runs: list[SuiteRun], file: TextIO = sys.stdout) -> None:
    """A blank line, then `LABEL: N passed, N failed, N skipped` per runtime."""
    print(file=file)
    for r in runs:
        p, f, s = r.totals()
        print(f"{r.label}: {p} passed, {f} failed, {s} skipped", file=file)


def occurrence_mark(occurrence: int) -> str:
    """` (#N)` after a test whose name came N-1 times before it in its file."""
    return f" (#{occurrence})" if occurrence > 1 else ""
