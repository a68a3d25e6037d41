"""Fixtures: the turn-event schema and its validator, the fake servers of support.py, and
the proxy of proxying.py."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterator

import jsonschema
import pytest

from proxying import start_proxy  # noqa: F401 (a fixture)
from support import FIXTURES, FakeRasa, FakeSelflearn, HangingServer, free_port


@pytest.fixture(scope="session")
def schema() -> Dict[str, Any]:
    return json.loads((FIXTURES / "turn-event.v1.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def validate(schema: Dict[str, Any]) -> Callable[[Dict[str, Any]], None]:
    validator = jsonschema.Draft202012Validator(schema)

    def check(event: Dict[str, Any]) -> None:
        errors = sorted(validator.iter_errors(event), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]

    return check


@pytest.fixture
def selflearn() -> Iterator[FakeSelflearn]:
    server = FakeSelflearn()
    yield server
    server.close()


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    server = FakeRasa()
    yield server
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()
