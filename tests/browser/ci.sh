#!/usr/bin/env bash
# The dashboard in a real browser: headless Chromium (Debian's package, installed when
# missing) driven by Playwright, against `selflearn serve` with tokens on a log the demo
# learned. Screenshots go to tests/browser/screenshots/.
#
#   SELFLEARN_BIN=target/release/selflearn bash tests/browser/ci.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${SELFLEARN_BIN:?SELFLEARN_BIN must name a built selflearn binary}"
[[ "$SELFLEARN_BIN" == /* ]] || SELFLEARN_BIN="$PWD/$SELFLEARN_BIN"
export SELFLEARN_BIN
if ! command -v chromium >/dev/null; then
    apt-get install -y -q chromium >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
cd "$here"
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install --disable-pip-version-check --quiet -r requirements.txt
exec .venv/bin/python -m pytest -q "$@"
