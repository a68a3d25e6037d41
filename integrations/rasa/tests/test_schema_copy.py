"""The schema the tests validate against is selflearn's own, byte for byte."""

from __future__ import annotations

from pathlib import Path

from support import FIXTURES

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPOSITORY_SCHEMA = PACKAGE_ROOT / "../../schema/turn-event.v1.schema.json"


def test_the_fixture_schema_is_the_repositorys_schema() -> None:
    assert REPOSITORY_SCHEMA.is_file(), f"{REPOSITORY_SCHEMA} is missing"
    copy = (FIXTURES / "turn-event.v1.schema.json").read_bytes()
    assert copy == REPOSITORY_SCHEMA.read_bytes(), (
        "tests/fixtures/turn-event.v1.schema.json differs from schema/turn-event.v1.schema.json: "
        "copy the new schema and check the mapping against it"
    )
