#!/usr/bin/env bash
# Tests of the Rasa adapter: a virtual environment at integrations/rasa/.venv (made when
# missing), the pinned test requirements and the package installed into it, then pytest.
# SELFLEARN_BIN, when set, names the selflearn binary for the end-to-end tests; without it
# they are skipped and say so.
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
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
# Byte-compiling all of rasa-sdk's server stack at install would take longer than the tests.
install=(install --no-compile)
"${pip[@]}" "${install[@]}" --requirement requirements-test.txt
# Reinstalled every run (the version number does not change with the code), built with the
# pinned setuptools just installed.
"${pip[@]}" "${install[@]}" --no-deps --no-build-isolation --force-reinstall .

if [[ -n "${SELFLEARN_BIN:-}" ]]; then
  export SELFLEARN_BIN
fi
exec "$venv/bin/python" -m pytest -q -ra tests "$@"
