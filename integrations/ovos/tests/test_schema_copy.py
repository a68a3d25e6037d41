"""The schema copy in fixtures/ is the repository's schema, byte for byte.

The tests validate events against the copy so that the package can be tested on its own; this
test fails as soon as the real schema changes and the copy was not updated with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import SCHEMA_PATH, event_validator

#: Relative to this package's root, integrations/ovos/.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
REPOSITORY_SCHEMA = PACKAGE_ROOT / "../../schema/turn-event.v1.schema.json"


def test_the_fixture_is_the_repositorys_turn_event_schema():
    if not REPOSITORY_SCHEMA.exists():
        pytest.skip(f"not inside the selflearn repository ({REPOSITORY_SCHEMA} is absent)")
    assert SCHEMA_PATH.read_bytes() == REPOSITORY_SCHEMA.read_bytes(), (
        "tests/fixtures/turn-event.v1.schema.json differs from schema/turn-event.v1.schema.json;"
        " copy the new schema and check the adapter still fills it correctly")


def test_the_schema_refuses_unknown_fields():
    """A sanity check that validation would catch an invented field."""
    validator = event_validator()
    event = {"schema_version": 1, "event_id": "e", "timestamp_ms": 1764547200000,
             "user_id": "u", "device": {"id": "d", "kind": "speaker", "has_screen": False},
             "asr": {"text": "hi"}, "response": {"text": "", "outcome": "no_action"}}
    assert validator.is_valid(event)
    assert not validator.is_valid({**event, "ovos_skill": "x"})
    assert not validator.is_valid({**event, "response": {"outcome": "maybe"}})
