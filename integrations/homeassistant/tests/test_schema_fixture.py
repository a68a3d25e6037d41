"""The schema copy the tests validate against is the repository's schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .common import SCHEMA_PATH

# integrations/homeassistant/tests -> the repository root.
REPOSITORY_SCHEMA = Path(__file__).resolve().parents[3] / "schema" / "turn-event.v1.schema.json"


def test_the_fixture_schema_is_the_repository_schema() -> None:
    """Fails when schema/turn-event.v1.schema.json changed and the copy did not."""
    if not REPOSITORY_SCHEMA.is_file():
        pytest.skip(f"not inside the selflearn repository ({REPOSITORY_SCHEMA} is absent)")
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(REPOSITORY_SCHEMA.read_text()), (
        f"{SCHEMA_PATH} differs from {REPOSITORY_SCHEMA}: copy the new schema over it "
        "and check the integration's events against it"
    )
