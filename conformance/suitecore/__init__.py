"""What the two external-suite runners (conformance/runc-integration/run.py and
conformance/runtime-tools/run.py) do alike, written once:

- tap.py: a TAP test line split into status, number, text and directive, by each
  suite's dialect; the diagnostic limit; the stderr tail a runner-made failure shows;
- results.py: the per-file record (counts, exit, timing, TAP and stderr paths, notes)
  with its results.json round trip, a runtime's run of the suite, results.json written
  and read back as a baseline, tests keyed by (name, occurrence) for comparisons;
- tables.py: the side-by-side pass/fail/skip table and the closing totals;
- runner.py: one suite file run in its own process group with a timeout (its TAP and
  stderr in files), the per-file summary line, `[LABEL=]PATH` runtimes, the run lock,
  the scratch dir and the mount-aware rmtree.

What differs (each suite's TAP dialect and diagnostics, its counting rules, its
comparison, its host clean-up) stays with its runner. Python standard library only;
both runners import this package as `conformance.suitecore` from the checkout's top,
which they put on sys.path.
"""
