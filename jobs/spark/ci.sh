#!/usr/bin/env bash
# Tests of the Spark job: a virtual environment at jobs/spark/.venv (made when missing), the
# pinned test requirements installed into it, then pytest. SELFLEARN_BIN, when set, names the
# selflearn binary the job runs; without it the tests are skipped and say so. Needs Java 17 or
# newer on the PATH (`java -version`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${SELFLEARN_BIN:-}" && "$SELFLEARN_BIN" != /* ]]; then
  SELFLEARN_BIN="$PWD/$SELFLEARN_BIN"  # the tests run from this folder
fi
cd "$here"
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
