"""The proxy with a fake selflearn and a fake Rasa REST channel."""

from __future__ import annotations

from typing import Any

from rasa_selflearn.turns import broker_events_to_turn_events

from proxying import StartProxy, call, say
from support import TOKEN, FakeRasa, FakeSelflearn, broker

REWRITE = {
    "text": "play imagine dragons",
    "layer": "precomputed",
    "score": 0.9,
    "artifact_version": "v7",
}


def test_the_rewritten_text_reaches_rasa_with_the_original_in_metadata(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    selflearn.behaviour.rewrites["play imagin dragons"] = REWRITE
    proxy_url, _ = start_proxy(selflearn.url, rasa.url)
    status, answer, _ = say(proxy_url, "alice", "play imagin dragons", {"client": "web"})
    assert status == 200
    assert answer == [{"recipient_id": "alice", "text": "you said: play imagine dragons"}]
    [forwarded] = rasa.on("/webhooks/rest/webhook")
    assert forwarded.body["sender"] == "alice"
    assert forwarded.body["message"] == "play imagine dragons"
    assert forwarded.body["metadata"] == {
        "client": "web",
        "selflearn": {
            "device": {"id": "rasa-rest", "kind": "other", "has_screen": True},
            "rewrite": {
                "original_text": "play imagin dragons",
                "rewritten_text": "play imagine dragons",
                "layer": "precomputed",
                "artifact_version": "v7",
                "score": 0.9,
            },
        },
    }
    [asked] = selflearn.on("/v1/rewrite")
    assert asked.headers["authorization"] == f"Bearer {TOKEN}"
    assert asked.body["user_id"] == "alice"
    assert asked.body["text"] == "play imagin dragons"
    assert asked.body["device"] == {"id": "rasa-rest", "kind": "other", "has_screen": True}
    assert isinstance(asked.body["timestamp_ms"], int)


def test_what_rasa_stores_from_the_proxy_becomes_the_turns_rewrite_record(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy, validate: Any
) -> None:
    selflearn.behaviour.rewrites["play imagin dragons"] = REWRITE
    proxy_url, _ = start_proxy(
        selflearn.url, rasa.url, device_id="hall-screen", device_kind="screen_speaker"
    )
    say(proxy_url, "alice", "play imagin dragons")
    [forwarded] = rasa.on("/webhooks/rest/webhook")
    # Rasa's REST channel keeps `metadata` with the user message; its broker publishes it.
    message = forwarded.body
    published = [
        broker(
            {
                "event": "user",
                "text": message["message"],
                "parse_data": {"intent": {"name": "play_music", "confidence": 0.97}},
                "input_channel": "rest",
            },
            message["sender"],
            1_796_000_000.0,
            message_id="9a8b7c",
            metadata=message["metadata"],
        ),
        broker({"event": "action", "name": "action_listen"}, message["sender"], 1_796_000_000.5),
    ]
    [event] = broker_events_to_turn_events(published)
    validate(event)
    assert event["asr"]["text"] == "play imagin dragons"
    assert event["device"] == {"id": "hall-screen", "kind": "screen_speaker", "has_screen": True}
    assert event["rewrite"] == {
        "original_text": "play imagin dragons",
        "rewritten_text": "play imagine dragons",
        "layer": "precomputed",
        "artifact_version": "v7",
        "score": 0.9,
    }


def test_without_a_rewrite_the_original_goes_on_and_no_rewrite_is_claimed(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    proxy_url, _ = start_proxy(selflearn.url, rasa.url)
    forged = {
        "selflearn": {
            "rewrite": {"original_text": "x", "layer": "global"},
            "user_id": "alice@home",
            "device": {"id": "tv-1", "kind": "tv", "has_screen": True, "extra": 1},
        }
    }
    status, answer, _ = say(proxy_url, "alice", "turn on the lights", forged)
    assert status == 200 and answer[0]["text"] == "you said: turn on the lights"
    [forwarded] = rasa.on("/webhooks/rest/webhook")
    # A client may name the person and device; only the proxy writes a rewrite.
    assert forwarded.body["metadata"]["selflearn"] == {
        "user_id": "alice@home",
        "device": {"id": "tv-1", "kind": "tv", "has_screen": True},
    }
    [asked] = selflearn.on("/v1/rewrite")
    assert asked.body["user_id"] == "alice@home"
    assert asked.body["device"] == {"id": "tv-1", "kind": "tv", "has_screen": True}


def test_intent_payloads_bypass_the_rewrite(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    proxy_url, _ = start_proxy(selflearn.url, rasa.url)
    say(proxy_url, "alice", '/choose{"room": "kitchen"}')
    assert selflearn.on("/v1/rewrite") == []
    assert rasa.on("/webhooks/rest/webhook")[0].body["message"] == '/choose{"room": "kitchen"}'


def test_model_parse_is_rewritten_and_says_so(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    selflearn.behaviour.rewrites["play imagin dragons"] = REWRITE
    proxy_url, _ = start_proxy(selflearn.url, rasa.url)
    status, answer, _, _ = call(
        proxy_url,
        "POST",
        "/model/parse?emulation_mode=rasa",
        {"text": "play imagin dragons", "sender": "bob"},
    )
    assert status == 200
    assert answer["text"] == "play imagine dragons"
    assert answer["intent"]["name"] == "play_music"
    assert answer["selflearn"]["rewrite"]["original_text"] == "play imagin dragons"
    [forwarded] = rasa.on("/model/parse")
    assert forwarded.path == "/model/parse?emulation_mode=rasa"
    assert forwarded.body["text"] == "play imagine dragons"
    assert selflearn.on("/v1/rewrite")[0].body["user_id"] == "bob"


def test_other_requests_pass_through_untouched(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    proxy_url, _ = start_proxy(selflearn.url, rasa.url)
    status, body, _, _ = call(proxy_url, "GET", "/?token=abc")
    assert (status, body) == (200, b"Hello from Rasa: 3.6.21")
    events = [{"event": "slot", "name": "city", "value": "berlin"}]
    status, body, _, _ = call(proxy_url, "POST", "/conversations/alice/tracker/events", events)
    assert status == 404 and body["status"] == "failure"
    assert rasa.on("/conversations/alice/tracker/events")[0].body == events
    assert rasa.on("/")[0].path == "/?token=abc"
    assert selflearn.on("/v1/rewrite") == []


def test_rasa_down_is_a_bad_gateway(
    selflearn: FakeSelflearn, closed_port_url: str, start_proxy: StartProxy
) -> None:
    proxy_url, _ = start_proxy(selflearn.url, closed_port_url)
    status, body, elapsed = say(proxy_url, "alice", "hello")
    assert status == 502 and "Rasa unreachable" in body["error"]
    assert elapsed < 2.0


def test_health_says_whether_selflearn_answers(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    proxy_url, _ = start_proxy(selflearn.url, rasa.url)
    assert call(proxy_url, "GET", "/selflearn-proxy/health")[1] == {
        "status": "ok",
        "selflearn": "unknown",
    }
    say(proxy_url, "alice", "hello")
    assert call(proxy_url, "GET", "/selflearn-proxy/health")[1] == {
        "status": "ok",
        "selflearn": "up",
    }
