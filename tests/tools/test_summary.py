#!/usr/bin/python3
"""Prints the outcome of a `meson test` run from meson's own log, ending with the line
"N passed, N failed" (contrib/test.sh's last line).

Usage: test_summary.py BUILD_DIR [--left-out SUITE]...

Reads BUILD_DIR/meson-logs/testlog.json (one JSON object per test that ran) and
BUILD_DIR/meson-info/intro-tests.json (every test meson knows). A test passed when its
result is OK (or EXPECTEDFAIL: a should_fail test that failed as it should); every other
result fails it: FAIL, SKIP (exit 77: CI installs everything, so a skip is a defect),
TIMEOUT, ERROR, UNEXPECTEDPASS, INTERRUPT. A test meson knows but that has no result (the
run was cut short) fails too, unless it belongs to a suite named with --left-out (left out
on purpose: KCOREFS_SKIP_REALKERNEL=1). Unit tests count one per gtest binary: meson 1.0.1
records one result per binary in testlog.json (the per-case results are only in
testlog.junit.xml).

Before the last line: each failed test's name and the tail of its output, the time per
suite and the slowest tests. Exit status 0 when nothing failed.
"""

import argparse
import json
import os
import sys

PASSING = {"OK", "EXPECTEDFAIL"}
TAIL_LINES = 40


def short_name(meson_name):
    """'kcorefs:integration / test-cli-info' -> 'integration/test-cli-info'."""
    head, sep, name = meson_name.partition(" / ")
    if not sep:
        return meson_name
    suite = head.split(":", 1)[-1]
    return "%s/%s" % (suite, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--left-out", action="append", default=[], metavar="SUITE")
    a = ap.parse_args()

    log_path = os.path.join(a.build_dir, "meson-logs", "testlog.json")
    results = []
    try:
        with open(log_path) as f:
            for line in f:
                if line.strip():
                    results.append(json.loads(line))
    except (OSError, ValueError) as e:
        print("cannot read meson's test log %s: %s" % (log_path, e))
        print("0 passed, 1 failed")
        return 1

    known = []
    try:
        with open(os.path.join(a.build_dir, "meson-info", "intro-tests.json")) as f:
            known = json.load(f)
    except (OSError, ValueError) as e:
        print("cannot read meson's test list (%s): a test that did not run is not noticed" % e)

    passed, failed = [], []
    for r in results:
        (passed if r["result"] in PASSING else failed).append(r)
    ran = {short_name(r["name"]) for r in results}
    not_run = []
    for t in known:
        suites = [s.split(":", 1)[-1] for s in t.get("suite", [])]
        if any(s in a.left_out for s in suites):
            continue
        names = {"%s/%s" % (s, t["name"]) for s in suites}
        if not names & ran:
            not_run.append(sorted(names)[0])

    for r in failed:
        name = short_name(r["name"])
        out = (r.get("stdout") or "") + (r.get("stderr") or "")
        lines = out.rstrip("\n").split("\n")
        print("---- %s: %s (exit %s, %.0f s); last %d lines of its output ----"
              % (name, r["result"], r.get("returncode"), r.get("duration", 0),
                 min(TAIL_LINES, len(lines))))
        for l in lines[-TAIL_LINES:]:
            print("    " + l)

    suites = {}
    for r in results:
        s = short_name(r["name"]).split("/", 1)[0]
        n, secs = suites.get(s, (0, 0.0))
        suites[s] = (n + 1, secs + r.get("duration", 0))
    for s, (n, secs) in suites.items():
        print("# suite %s: %d tests, %.0f s" % (s, n, secs))
    slow = sorted(results, key=lambda r: -r.get("duration", 0))[:8]
    print("# slowest: " + ", ".join("%s %.0f s" % (short_name(r["name"]), r.get("duration", 0))
                                    for r in slow))
    for s in a.left_out:
        print("# suite %s left out on purpose (not counted)" % s)

    bad = [short_name(r["name"]) + " (" + r["result"] + ")" for r in failed]
    bad += [n + " (no result: did not run)" for n in not_run]
    if bad:
        print("Failed tests:")
        for b in bad:
            print("  " + b)
    print("%d passed, %d failed" % (len(passed), len(bad)))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
