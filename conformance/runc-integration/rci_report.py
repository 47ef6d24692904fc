"""Results of a run: per-runtime, per-file counts, the comparison with a reference
runtime (the work list), the printed tables, and results.json (written, and read back
as a baseline). Python standard library only; nothing here touches the host."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from rci_tap import BatsTest, FileResult

from conformance.suitecore.results import (
    SuiteRun,
    keyed_by_occurrence,
    load_runs,
    runtime_json,
)
from conformance.suitecore.tables import (
    counts_cell,
    occurrence_mark,
    print_side_by_side,
    print_totals,
)


@dataclass
class RuntimeRun(SuiteRun):
    files: dict[str, FileResult] = field(default_factory=dict)

    def records(self) -> dict[str, FileResult]:
        return self.files


def test_keys(r: FileResult) -> dict[tuple[str, int], BatsTest]:
    """The file's real tests keyed by (name, occurrence)."""
    return keyed_by_occurrence(r.tests, lambda t: t.name)


@dataclass
class FileCompare:
    file: str
    counts: dict[str, tuple[int, int, int] | None]  # label -> (passed, failed, skipped)
    # Tests the reference passes and the runtime does not: failed, skipped, or missing
    # (the runtime's run of the file stopped before them).
    worse: dict[str, list[dict]] = field(default_factory=dict)
    # Tests the runtime passes and the reference does not (for the record).
    better: dict[str, list[dict]] = field(default_factory=dict)


def compare(runs: list[RuntimeRun], reference: str, files: list[str]) -> list[FileCompare]:
    """Per file: every runtime's counts, and per runtime other than the reference the
    tests the reference passes but it does not (and the reverse)."""
    by_label = {r.label: r for r in runs}
    ref = by_label[reference]
    out: list[FileCompare] = []
    for name in files:
        counts: dict[str, tuple[int, int, int] | None] = {}
        for r in runs:
            fr = r.files.get(name)
            counts[r.label] = None if fr is None else fr.counts()
        fc = FileCompare(file=name, counts=counts)
        rfile = ref.files.get(name)
        for r in runs:
            if r.label == reference:
                continue
            mfile = r.files.get(name)
            if rfile is None or mfile is None:
                continue
            ref_keys = test_keys(rfile)
            mine = test_keys(mfile)
            worse, better = [], []
            for key, rt in ref_keys.items():
                mt = mine.get(key)
                mstatus = "missing" if mt is None else mt.status
                row = {
                    "test": key[0],
                    "occurrence": key[1] + 1,
                    "reference": rt.status,
                    "status": mstatus,
                    "reason": mt.reason if mt is not None else "",
                    "diagnostic": mt.diagnostic if mt is not None else "",
                }
                if rt.status == "ok" and mstatus != "ok":
                    worse.append(row)
                elif rt.status != "ok" and mstatus == "ok":
                    better.append(row)
            for key, mt in mine.items():
                if key not in ref_keys and mt.status == "ok":
                    better.append(
                        {
                            "test": key[0],
                            "occurrence": key[1] + 1,
                            "reference": "missing",
                            "status": "ok",
                            "reason": "",
                            "diagnostic": "",
                        }
                    )
            fc.worse[r.label] = worse
            fc.better[r.label] = better
        out.append(fc)
    return out


def print_table(runs: list[RuntimeRun], names: list[str], file: TextIO = sys.stdout) -> None:
    """One line per file and runtime, `file: N passed, N failed, N skipped`, then a
    side-by-side table when there are several runtimes, then the totals."""
    if len(runs) > 1:
        print_side_by_side("file", runs, names, file)
    else:
        for r in runs:
            for n in names:
                t = r.files.get(n)
                if t is None:
                    print(f"{n}: not run", file=file)
                else:
                    print(
                        f"{n}: {t.passed} passed, {t.failed} failed, {t.skipped} skipped",
                        file=file,
                    )
    print_totals(runs, file)


def print_compare(
    cmp: list[FileCompare], reference: str, labels: list[str], file: TextIO = sys.stdout
) -> None:
    """The work list: per runtime, the tests `reference` passes but it does not."""
    for label in labels:
        if label == reference:
            continue
        rows = [(fc, row) for fc in cmp for row in fc.worse.get(label, [])]
        better = sum(len(fc.better.get(label, [])) for fc in cmp)
        print(
            f"\n== {label} vs {reference}: {len(rows)} tests {reference} passes and "
            f"{label} does not ({better} the other way round) ==",
            file=file,
        )
        for fc in cmp:
            worse = fc.worse.get(label, [])
            if not worse:
                continue
            print(
                f"{fc.file}: {label} {counts_cell(fc.counts.get(label))}, "
                f"{reference} {counts_cell(fc.counts.get(reference))}",
                file=file,
            )
            for row in worse:
                occ = occurrence_mark(row["occurrence"])
                why = f": {row['reason']}" if row["status"] == "skip" and row["reason"] else ""
                print(f"  [{row['status']}] {row['test']}{occ}{why}", file=file)


def compare_to_json(cmp: list[FileCompare]) -> list[dict]:
    return [
        {
            "file": fc.file,
            "counts": {k: list(v) if v else None for k, v in fc.counts.items()},
            "worse": fc.worse,
            "better": fc.better,
        }
        for fc in cmp
    ]


def to_json(
    runs: list[RuntimeRun],
    names: list[str],
    meta: dict,
    cmp: list[FileCompare] | None,
    reference: str | None,
) -> dict:
    doc = dict(meta)
    doc["files"] = names
    doc["runtimes"] = {r.label: runtime_json(r, "files") for r in runs}
    if cmp is not None:
        doc["compare"] = {"reference": reference, "files": compare_to_json(cmp)}
    return doc


def load_baseline(path: str) -> list[RuntimeRun]:
    """The runtimes an earlier results.json ran (not its own baselines)."""
    return load_runs(path, "files", RuntimeRun, FileResult)
