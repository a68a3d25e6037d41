#!/usr/bin/env bash
# Tests of the selflearn Home Assistant integration, from a clean machine: creates the virtual
# environment .venv beside this script (reused when present), installs the pinned test
# requirements, and runs pytest. The end-to-end test runs when SELFLEARN_BIN names a built
# selflearn binary (e.g. target/release/selflearn) and is skipped otherwise.
#
#   bash integrations/homeassistant/ci.sh [pytest arguments]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# A relative SELFLEARN_BIN is relative to where the script was started.
if [[ -n "${SELFLEARN_BIN:-}" ]]; then
  if [[ "$SELFLEARN_BIN" != /* ]]; then
    SELFLEARN_BIN="$PWD/$SELFLEARN_BIN"
  fi
  if [[ ! -x "$SELFLEARN_BIN" ]]; then
    echo "ci.sh: SELFLEARN_BIN=$SELFLEARN_BIN is not an executable file" >&2
    exit 2
  fi
  export SELFLEARN_BIN
fi

cd "$here"
python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
# --no-compile: byte-compiling all of Home Assistant at install costs more than the tests;
# the modules the tests import are compiled as they are imported.
.venv/bin/python -m pip install --disable-pip-version-check --quiet --no-compile \
  -r requirements-test.txt

exec .venv/bin/python -m pytest "$@"
