"""Results of a whole run: per-runtime totals, the comparison with reference
runtimes, the printed tables and results.json (written and read back as a baseline)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from tap import Assertion, TestResult

from conformance.suitecore.results import (
    SuiteRun,
    keyed_by_occurrence,
    load_runs,
    runtime_json,
)
from conformance.suitecore.tables import occurrence_mark, print_side_by_side, print_totals


@dataclass
class RuntimeRun(SuiteRun):
    tests: dict[str, TestResult] = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)  # cgroups left after the run

    def records(self) -> dict[str, TestResult]:
        return self.tests


def assertion_keys(r: TestResult) -> dict[tuple[str, int], Assertion]:
    """Key assertions by (description, occurrence) so runs can be compared."""
    return keyed_by_occurrence(r.assertions, lambda a: a.description)


def compare(runs: list[RuntimeRun], refs: list[str]) -> dict[str, list[dict]]:
    """For each non-reference runtime: assertions a reference passes but it fails."""
    by_label = {r.label: r for r in runs}
    out: dict[str, list[dict]] = {}
    for run in runs:
        if run.label in refs:
            continue
        rows = []
        for name in sorted(run.tests):
            mine = assertion_keys(run.tests[name])
            ref_keys: dict[tuple[str, int], list[str]] = {}
            for ref in refs:
                rr = by_label[ref].tests.get(name)
                if rr is None:
                    continue
                for k, a in assertion_keys(rr).items():
                    if a.status == "ok":
                        ref_keys.setdefault(k, []).append(ref)
            for k, passed_by in ref_keys.items():
                a = mine.get(k)
                if a is not None and a.status == "ok":
                    continue
                rows.append(
                    {
                        "test": name,
                        "assertion": k[0],
                        "occurrence": k[1] + 1,
                        "status": "missing" if a is None else a.status,
                        "passed_by": passed_by,
                        "diagnostic": a.diagnostic if a is not None else "",
                    }
                )
        out[run.label] = rows
    return out


def print_table(runs: list[RuntimeRun], names: list[str], file: TextIO = sys.stdout) -> None:
    print_side_by_side("test", runs, names, file)
    print_totals(runs, file)


def print_failures(runs: list[RuntimeRun], file: TextIO = sys.stdout) -> None:
    for r in runs:
        print(f"\n== failures: {r.label} ==", file=file)
        for name in sorted(r.tests):
            fails = [a for a in r.tests[name].assertions if a.status == "not ok"]
            for a in fails:
                num = f"#{a.number} " if a.number is not None else ""
                print(f"  {name}: {num}{a.description}", file=file)


def print_compare(
    cmp: dict[str, list[dict]],
    refs: list[str],
    runs: list[RuntimeRun],
    file: TextIO = sys.stdout,
) -> None:
    """Print the comparison; a test that stopped early gets one line for all
    the assertions it never reached (results.json lists them all)."""
    by_label = {r.label: r for r in runs}
    for label, rows in cmp.items():
        print(
            f"\n== {label}: {len(rows)} assertions passed by {'/'.join(refs)} "
            f"but not by {label} ==",
            file=file,
        )
        by_test: dict[str, list[dict]] = {}
        for row in rows:
            by_test.setdefault(row["test"], []).append(row)
        for test, trows in by_test.items():
            missing = [r for r in trows if r["status"] == "missing"]
            shown = [r for r in trows if r["status"] != "missing"]
            if len(missing) <= 3:
                shown, missing = trows, []
            for row in shown:
                print(
                    f"  {test}: {row['assertion']}{occurrence_mark(row['occurrence'])} "
                    f"[{row['status']}; ok in {','.join(row['passed_by'])}]",
                    file=file,
                )
            if missing:
                why = ""
                tr = by_label[label].tests.get(test)
                if tr is not None:
                    synth = [a.description for a in tr.assertions if a.synthetic]
                    if synth:
                        why = f"; {synth[0]}"
                print(
                    f"  {test}: {len(missing)} assertions never reached{why}",
                    file=file,
                )


def to_json(
    runs: list[RuntimeRun], names: list[str], meta: dict, cmp: dict[str, list[dict]] | None
) -> dict:
    doc = dict(meta)
    doc["tests"] = names
    doc["runtimes"] = {
        r.label: runtime_json(r, "tests", {"leftover_cgroups": r.leftovers}) for r in runs
    }
    if cmp is not None:
        doc["compare"] = cmp
    return doc


def load_baseline(path: str) -> list[RuntimeRun]:
    """The runtimes an earlier results.json ran (not its own baselines)."""
    return load_runs(path, "tests", RuntimeRun, TestResult)
