#!/usr/bin/env bash
# Tests of the replica deployment behind HAProxy: HAProxy from Debian (installed when missing),
# a virtual environment at deploy/haproxy/.venv with the pinned test requirements, then pytest.
# SELFLEARN_BIN, when set, names the selflearn binary; without it the tests are skipped and say
# so.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${SELFLEARN_BIN:-}" && "$SELFLEARN_BIN" != /* ]]; then
  SELFLEARN_BIN="$PWD/$SELFLEARN_BIN"  # the tests run from this folder
fi
cd "$here"
if ! command -v haproxy >/dev/null; then
  apt-get install -y -q haproxy >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q haproxy >/dev/null; }
fi
venv="$here/.venv"
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip --disable-pip-version-check --quiet install --no-compile \
  --requirement requirements-test.txt

if [[ -n "${SELFLEARN_BIN:-}" ]]; then
  export SELFLEARN_BIN
fi
exec "$venv/bin/python" -m pytest -q -ra tests "$@"
