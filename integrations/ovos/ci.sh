#!/usr/bin/env bash
# Tests the OpenVoiceOS adapter: a virtual environment at integrations/ovos/.venv with the
# pinned OVOS packages (requirements-test.txt) and this package installed editable, then pytest.
# The end-to-end test against the real service runs when SELFLEARN_BIN names a selflearn binary.
# The environment is rebuilt whenever requirements-test.txt or pyproject.toml change.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

if [[ -n "${SELFLEARN_BIN:-}" ]]; then
    # Resolved before leaving the caller's directory, so that a relative path still works.
    SELFLEARN_BIN="$(cd "$(dirname "$SELFLEARN_BIN")" && pwd)/$(basename "$SELFLEARN_BIN")"
    export SELFLEARN_BIN
fi

cd "$here"
venv="$here/.venv"
stamp="$("$python" --version 2>&1; cat requirements-test.txt pyproject.toml)"
stamp="$(printf '%s' "$stamp" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.ci-stamp" 2>/dev/null)" != "$stamp" ]]; then
    "$python" -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
        --requirement requirements-test.txt
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --editable .
    printf '%s\n' "$stamp" > "$venv/.ci-stamp"
fi

exec "$venv/bin/python" -m pytest -q -rs tests "$@"
