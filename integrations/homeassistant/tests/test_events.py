"""The event sender: bounded, in the background, retrying only what can pass."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.selflearn.client import (
    SelflearnConnectionError,
    SelflearnError,
    SelflearnResponseError,
)
from custom_components.selflearn.const import DOMAIN
from custom_components.selflearn.events import EventSender


class StubClient:
    """Stands in for SelflearnClient: fails with the given errors, then accepts."""

    url = "http://stub"

    def __init__(self, failures: list[SelflearnError] | None = None) -> None:
        self.failures = list(failures or [])
        self.calls: list[list[dict[str, Any]]] = []
        self.accepted: list[dict[str, Any]] = []

    async def async_post_events(
        self, events: list[dict[str, Any]], timeout: float
    ) -> dict[str, Any]:
        self.calls.append(list(events))
        if self.failures:
            raise self.failures.pop(0)
        self.accepted.extend(events)
        return {"accepted": len(events)}


def _event(n: int) -> dict[str, Any]:
    return {"event_id": f"e{n}"}


async def _drain(sender: EventSender, client: StubClient, expect_calls: int) -> None:
    async with asyncio.timeout(5):
        while len(client.calls) < expect_calls or sender.pending:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)


def _started(hass: HomeAssistant, sender: EventSender) -> MockConfigEntry:
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    sender.async_start(hass, entry)
    return entry


async def test_the_queue_is_bounded_and_keeps_the_newest_events() -> None:
    """With nobody sending, memory stays bounded: the oldest events are dropped."""
    sender = EventSender(StubClient(), 1.0, queue_size=3)  # type: ignore[arg-type]
    for n in range(10):
        sender.submit(_event(n))
    assert sender.pending == 3
    assert sender.dropped == 7
    assert [e["event_id"] for e in sender._queue] == ["e7", "e8", "e9"]


async def test_events_are_sent_in_batches(hass: HomeAssistant) -> None:
    """Queued events go out in batches of at most batch_size."""
    client = StubClient()
    sender = EventSender(client, 1.0, batch_size=4)  # type: ignore[arg-type]
    for n in range(10):
        sender.submit(_event(n))
    _started(hass, sender)
    await _drain(sender, client, 3)
    await sender.async_stop(0.1)
    assert [len(batch) for batch in client.calls] == [4, 4, 2]
    assert [e["event_id"] for e in client.accepted] == [f"e{n}" for n in range(10)]
    assert sender.sent == 10


async def test_transient_failures_are_retried_and_the_outage_logged_once(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Connection errors and 503s are retried with a pause; one warning, one recovery."""
    client = StubClient(
        [
            SelflearnConnectionError("refused"),
            SelflearnConnectionError("refused"),
            SelflearnResponseError(503, "shutting_down", "bye"),
        ]
    )
    sender = EventSender(  # type: ignore[arg-type]
        client, 1.0, max_attempts=5, retry_base_delay=0.01
    )
    caplog.set_level(logging.DEBUG, logger="custom_components.selflearn")
    _started(hass, sender)
    sender.submit(_event(1))
    await _drain(sender, client, 4)
    await sender.async_stop(0.1)

    assert len(client.calls) == 4
    assert [e["event_id"] for e in client.accepted] == ["e1"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    # The 503 is a new kind of problem after the refusals: two warnings, not three.
    assert len(warnings) == 2
    assert any("accepts turn events again" in r.getMessage() for r in caplog.records)


async def test_a_refused_batch_is_dropped_not_retried(hass: HomeAssistant) -> None:
    """A 422 will not pass on a second try: the batch is dropped and counted."""
    client = StubClient([SelflearnResponseError(422, "invalid_event", "bad")])
    sender = EventSender(client, 1.0, retry_base_delay=0.01)  # type: ignore[arg-type]
    _started(hass, sender)
    sender.submit(_event(1))
    await _drain(sender, client, 1)
    await sender.async_stop(0.1)
    assert len(client.calls) == 1
    assert sender.dropped == 1
    assert client.accepted == []


async def test_retries_give_up_after_max_attempts(hass: HomeAssistant) -> None:
    """A service that stays down costs a bounded number of tries per batch."""
    client = StubClient([SelflearnConnectionError("refused")] * 10)
    sender = EventSender(  # type: ignore[arg-type]
        client, 1.0, max_attempts=3, retry_base_delay=0.01
    )
    _started(hass, sender)
    sender.submit(_event(1))
    await _drain(sender, client, 3)
    await sender.async_stop(0.1)
    assert len(client.calls) == 3
    assert sender.dropped == 1


async def test_unload_hands_over_what_is_queued_when_the_service_answers(
    hass: HomeAssistant,
) -> None:
    """Events still queued at unload are posted once more, within the flush timeout."""
    client = StubClient()
    sender = EventSender(client, 1.0)  # type: ignore[arg-type]
    sender.submit(_event(1))
    sender.submit(_event(2))
    await sender.async_stop(0.1)  # never started: everything is still queued
    assert [e["event_id"] for e in client.accepted] == ["e1", "e2"]
