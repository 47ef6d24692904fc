"""Results of a run: per-runtime, per-file counts, the comparison with a reference
runtime (the work list), the printed tables, and results.json (written, and read back
as a baseline). Python standard library only; nothing here touches the host."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TextIO

from rci_tap import BatsTest, FileResult


@dataclass
class RuntimeRun:
    label: str
    path: str
    files: dict[str, FileResult] = field(default_factory=dict)
    baseline: bool = False

    def totals(self) -> tuple[int, int, int]:
        p = sum(r.passed for r in self.files.values())
        f = sum(r.failed for r in self.files.values())
        s = sum(r.skipped for r in self.files.values())
        return p, f, s


def test_keys(r: FileResult) -> dict[tuple[str, int], BatsTest]:
    """The file's real tests keyed by (name, occurrence): a name can repeat
    (tests made in a loop), and numbers shift when a run stops early."""
    seen: dict[str, int] = {}
    keyed: dict[tuple[str, int], BatsTest] = {}
    for t in r.tests:
        if t.synthetic:
            continue
        n = seen.get(t.name, 0)
        seen[t.name] = n + 1
        keyed[(t.name, n)] = t
    return keyed


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
            counts[r.label] = None if fr is None else (fr.passed, fr.failed, fr.skipped)
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


def fmt_counts(c: tuple[int, int, int] | None) -> str:
    return "-" if c is None else f"{c[0]}/{c[1]}/{c[2]}"


def print_table(runs: list[RuntimeRun], names: list[str], file: TextIO = sys.stdout) -> None:
    """One line per file and runtime, `file: N passed, N failed, N skipped`, then a
    side-by-side table when there are several runtimes, then the totals."""
    width = max([len("file")] + [len(n) for n in names]) + 2
    if len(runs) > 1:
        col = max([16] + [len(r.label) + 2 for r in runs])
        print("file".ljust(width) + "".join(r.label.rjust(col) for r in runs), file=file)
        print(" " * width + "".join("pass/fail/skip".rjust(col) for _ in runs), file=file)
        for n in names:
            cells = []
            for r in runs:
                t = r.files.get(n)
                cells.append(fmt_counts(None if t is None else (t.passed, t.failed, t.skipped)))
            mark = "  *" if len(set(cells)) > 1 else ""
            print(n.ljust(width) + "".join(c.rjust(col) for c in cells) + mark, file=file)
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
    print(file=file)
    for r in runs:
        p, f, s = r.totals()
        print(f"{r.label}: {p} passed, {f} failed, {s} skipped", file=file)


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
                f"{fc.file}: {label} {fmt_counts(fc.counts.get(label))}, "
                f"{reference} {fmt_counts(fc.counts.get(reference))}",
                file=file,
            )
            for row in worse:
                occ = f" (#{row['occurrence']})" if row["occurrence"] > 1 else ""
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
    doc["runtimes"] = {}
    for r in runs:
        p, f, s = r.totals()
        doc["runtimes"][r.label] = {
            "path": r.path,
            "baseline": r.baseline,
            "totals": {"passed": p, "failed": f, "skipped": s},
            "files": {n: t.to_json() for n, t in r.files.items()},
        }
    if cmp is not None:
        doc["compare"] = {"reference": reference, "files": compare_to_json(cmp)}
    return doc


def load_baseline(path: str) -> list[RuntimeRun]:
    """The runtimes an earlier results.json ran (not its own baselines)."""
    with open(path) as f:
        doc = json.load(f)
    runs = []
    for label, d in doc.get("runtimes", {}).items():
        if d.get("baseline"):
            continue
        run = RuntimeRun(label=label, path=d.get("path", ""), baseline=True)
        for name, t in d.get("files", {}).items():
            run.files[name] = FileResult.from_json(name, t)
        runs.append(run)
    return runs
