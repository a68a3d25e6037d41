"""Posting turn events: batches, bounded retries, refused records, a refused token."""

from __future__ import annotations

import time
from typing import Any, Dict, List

from rasa_selflearn.client import SelflearnClient
from rasa_selflearn.sender import EventSender

from support import TOKEN, FakeSelflearn


def turn(n: int, text: str = "hello") -> Dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": f"rasa-{n:032x}",
        "timestamp_ms": 1_796_000_000_000 + n,
        "user_id": "alice",
        "device": {"id": "rasa-rest", "kind": "other", "has_screen": True},
        "asr": {"text": text},
        "response": {"text": "hi", "outcome": "success"},
    }


def sender_for(url: str, token: str = TOKEN, **kwargs: Any) -> EventSender:
    delays: List[float] = []
    sender = EventSender(SelflearnClient(url, token=token), sleep=delays.append, **kwargs)
    sender.delays = delays  # type: ignore[attr-defined]
    return sender


def test_events_go_in_batches_with_the_bearer_token(selflearn: FakeSelflearn) -> None:
    report = sender_for(selflearn.url, batch_size=2).send([turn(i) for i in range(5)])
    assert report.ok and (report.accepted, report.inserted, report.duplicates) == (5, 5, 0)
    posts = selflearn.on("/v1/events")
    assert [len(p.body) for p in posts] == [2, 2, 1]
    assert {p.headers["authorization"] for p in posts} == {f"Bearer {TOKEN}"}
    assert {p.headers["content-type"] for p in posts} == {"application/json"}


def test_sending_again_counts_duplicates(selflearn: FakeSelflearn) -> None:
    events = [turn(i) for i in range(3)]
    sender_for(selflearn.url).send(events)
    report = sender_for(selflearn.url).send(events)
    assert (report.inserted, report.duplicates) == (0, 3)


def test_a_failing_service_is_retried_with_backoff(selflearn: FakeSelflearn) -> None:
    selflearn.behaviour.event_failures = [503, 500]
    sender = sender_for(selflearn.url, attempts=4, backoff_s=0.5)
    report = sender.send([turn(1)])
    assert report.ok and report.inserted == 1
    assert sender.delays == [0.5, 1.0]  # type: ignore[attr-defined]


def test_retries_are_bounded_and_nothing_is_raised(closed_port_url: str) -> None:
    sender = sender_for(closed_port_url, attempts=3, backoff_s=0.1)
    started = time.monotonic()
    report = sender.send([turn(1), turn(2)])
    assert time.monotonic() - started < 2.0
    assert len(report.undelivered) == 2 and not report.fatal
    assert sender.delays == [0.1, 0.2]  # type: ignore[attr-defined]
    assert "connection refused" in report.errors[0]


def test_a_record_stored_with_other_content_is_dropped_and_the_rest_stored(
    selflearn: FakeSelflearn,
) -> None:
    sender_for(selflearn.url).send([turn(2)])
    report = sender_for(selflearn.url).send([turn(1), turn(2, text="changed"), turn(3)])
    assert [r.event_id for r in report.refused] == [turn(2)["event_id"]]
    assert report.refused[0].code == "conflicting_event_id"
    assert report.inserted == 2 and not report.undelivered
    assert selflearn.stored[turn(2)["event_id"]]["asr"]["text"] == "hello"


def test_a_refused_token_stops_sending(selflearn: FakeSelflearn) -> None:
    sender = sender_for(selflearn.url, token="wrong", batch_size=1)
    report = sender.send([turn(1), turn(2), turn(3)])
    assert report.fatal and "401" in report.fatal
    assert len(report.undelivered) == 3
    assert len(selflearn.on("/v1/events")) == 1  # no point in trying the other batches
    assert sender.delays == []  # type: ignore[attr-defined]
