#!/usr/bin/env python
"""Run Huey's own test suite (tests/huey_upstream) twice and compare.

1. baseline: Huey's own ``huey.PriorityRedisHuey`` for the suite's Huey classes;
2. jobboard: ``jobboard.RedisHuey`` / ``jobboard.track()`` (what CI runs).

Both on a private redis-server each run starts, with the xfail marks off
(``JOBBOARD_HUEY_UPSTREAM_XFAIL=0``) so the outcomes are raw. Prints the counts of each run,
the tests that pass with Huey and fail with jobboard, and checks that
``KNOWN_DIFFERENCES`` / ``SUBSTITUTION_FAILURES`` in tests/huey_upstream/conftest.py list
exactly the tests that fail (exit status 1 if not).

    python scripts/huey_upstream.py            # both runs (~1.5 min on 2 cores)
    python scripts/huey_upstream.py --native   # also the suite with no class substitution
    python scripts/huey_upstream.py --jobboard-only

``HUEY_SLOW_TESTS`` is passed through (the suite's conftest turns it on when unset).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "tests" / "huey_upstream"
OUTCOMES = ("passed", "failed", "error", "skipped")


def load_lists() -> tuple[dict[str, str], dict[str, tuple[str, tuple[str, ...]]]]:
    # The conftest only reads the environment at import; importing it starts nothing.
    spec = importlib.util.spec_from_file_location("huey_upstream_conftest", SUITE / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.KNOWN_DIFFERENCES, module.SUBSTITUTION_FAILURES


def test_id(classname: str, name: str) -> str:
    parts = classname.split(".")
    i = parts.index("huey_tests")
    return f"{parts[i + 1]}.py::{'::'.join(parts[i + 2:])}::{name}"


def run(mode: str) -> tuple[dict[str, str], float, int]:
    with tempfile.TemporaryDirectory(prefix="huey-upstream-") as tmp:
        xml = Path(tmp) / "junit.xml"
        env = dict(os.environ, JOBBOARD_HUEY_UPSTREAM=mode, JOBBOARD_HUEY_UPSTREAM_XFAIL="0")
        cmd = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider",
               "--tb=line", f"--junitxml={xml}"]
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        if not xml.exists():
            sys.stdout.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"{mode} run produced no report (exit {proc.returncode})")
        outcomes: dict[str, str] = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            outcome = "passed"
            for child in case:
                if child.tag == "failure":
                    outcome = "failed"
                elif child.tag == "error":
                    outcome = "error"
                elif child.tag == "skipped":
                    outcome = "skipped"
            outcomes[test_id(case.get("classname", ""), case.get("name", ""))] = outcome
        return outcomes, elapsed, proc.returncode


def counts(outcomes: dict[str, str]) -> str:
    c = collections.Counter(outcomes.values())
    return ", ".join(f"{c.get(k, 0)} {k}" for k in OUTCOMES) + f" (of {len(outcomes)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--native", action="store_true",
                        help="also run the suite with no class substitution (Huey as written)")
    parser.add_argument("--jobboard-only", action="store_true",
                        help="skip the baseline run (only checks the jobboard list)")
    args = parser.parse_args()
    slow = os.environ.get("HUEY_SLOW_TESTS", "1 (conftest default)") or "(empty: slow tests skipped)"
    known, substitution = load_lists()

    modes = ["jobboard"] if args.jobboard_only else ["huey", "jobboard"]
    if args.native:
        modes.insert(0, "native")
    results = {}
    print(f"Huey's test suite ({SUITE.relative_to(ROOT)}), HUEY_SLOW_TESTS={slow}")
    for mode in modes:
        outcomes, elapsed, _ = run(mode)
        results[mode] = outcomes
        label = {"native": "native   (Huey's classes as written)",
                 "huey": "huey     (huey.PriorityRedisHuey)",
                 "jobboard": "jobboard (jobboard.RedisHuey / track)"}[mode]
        print(f"  {label}: {counts(outcomes)} in {elapsed:.0f} s")

    ok = True
    jb = results["jobboard"]
    bad = {"failed", "error"}
    if "huey" in results:
        base = results["huey"]
        regressions = sorted(t for t, o in jb.items() if o in bad and base.get(t) == "passed")
        print(f"\nPass with huey.PriorityRedisHuey, fail with jobboard: {len(regressions)}")
        by_cause: dict[str, list[str]] = collections.defaultdict(list)
        for t in regressions:
            # a reason reads "<cause>: <why>"; group by the cause
            by_cause[known.get(t, "NOT LISTED in KNOWN_DIFFERENCES").split(":")[0]].append(t)
        for cause, tests in by_cause.items():
            print(f"  - {cause} ({len(tests)}): {known.get(tests[0], '').partition(': ')[2]}")
            for t in tests:
                print(f"      {t} ({jb[t]})")
        other = sorted(t for t, o in jb.items() if o in bad and base.get(t) not in ("passed",)
                       and t not in regressions)
        if other:
            print(f"\nFail with jobboard, not passing with Huey either: {len(other)}")
            for t in other:
                print(f"      {t} (huey: {base.get(t)}, jobboard: {jb[t]})")
        better = sorted(t for t, o in jb.items() if o == "passed" and base.get(t) in bad)
        if better:
            print(f"\nFail with huey.PriorityRedisHuey, pass with jobboard: {len(better)}")
            for t in better:
                print(f"      {t}")
        # The baseline list must be exact too.
        want = {t for t, (_, m) in substitution.items() if "huey" in m}
        got = {t for t, o in base.items() if o in bad}
        ok &= report_list("SUBSTITUTION_FAILURES (huey mode)", want, got)

    want = set(known) | {t for t, (_, m) in substitution.items() if "jobboard" in m}
    got = {t for t, o in jb.items() if o in bad}
    ok &= report_list("KNOWN_DIFFERENCES + SUBSTITUTION_FAILURES (jobboard mode)", want, got)
    return 0 if ok else 1


def report_list(name: str, listed: set[str], failing: set[str]) -> bool:
    if listed == failing:
        print(f"\n{name}: exact ({len(listed)} tests)")
        return True
    print(f"\n{name}: NOT exact")
    for t in sorted(failing - listed):
        print(f"  fails but not listed: {t}")
    for t in sorted(listed - failing):
        print(f"  listed but does not fail (take it off): {t}")
    return False


if __name__ == "__main__":
    sys.exit(main())
