"""selflearn down, hanging, slow or refusing: the user is answered, with the original text.

Each test bounds the time the person waits: the rewrite timeout plus a margin for a loaded
machine.
"""

from __future__ import annotations

import time

from proxying import StartProxy, call, say
from support import FakeRasa, FakeSelflearn, HangingServer

TIMEOUT = 1.0
MARGIN = 0.5


def test_a_closed_port_forwards_the_original_at_once(
    closed_port_url: str, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    proxy_url, _ = start_proxy(closed_port_url, rasa.url, rewrite_timeout=TIMEOUT)
    status, answer, elapsed = say(proxy_url, "alice", "play imagin dragons")
    assert status == 200
    assert answer == [{"recipient_id": "alice", "text": "you said: play imagin dragons"}]
    assert elapsed < TIMEOUT + MARGIN
    [forwarded] = rasa.on("/webhooks/rest/webhook")
    assert forwarded.body["message"] == "play imagin dragons"
    assert "rewrite" not in forwarded.body["metadata"]["selflearn"]
    assert call(proxy_url, "GET", "/selflearn-proxy/health")[1]["selflearn"] == "down"


def test_a_hanging_selflearn_costs_one_timeout_then_is_left_alone(
    hanging: HangingServer, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    proxy_url, _ = start_proxy(hanging.url, rasa.url, rewrite_timeout=TIMEOUT, cooldown=30.0)
    status, answer, elapsed = say(proxy_url, "alice", "play imagin dragons")
    assert status == 200 and answer[0]["text"] == "you said: play imagin dragons"
    assert TIMEOUT - 0.1 <= elapsed < TIMEOUT + MARGIN
    # Within the cool-down the proxy does not wait for selflearn again.
    status, answer, elapsed = say(proxy_url, "alice", "and again")
    assert status == 200 and answer[0]["text"] == "you said: and again"
    assert elapsed < MARGIN
    assert len(hanging.accepted) == 1
    assert [r.body["message"] for r in rasa.on("/webhooks/rest/webhook")] == [
        "play imagin dragons",
        "and again",
    ]


def test_an_answer_later_than_the_timeout_is_not_waited_for(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    selflearn.behaviour.rewrites["play imagin dragons"] = {
        "text": "play imagine dragons",
        "layer": "global",
    }
    selflearn.behaviour.rewrite_delay_s = 3.0
    proxy_url, _ = start_proxy(selflearn.url, rasa.url, rewrite_timeout=0.5)
    status, answer, elapsed = say(proxy_url, "alice", "play imagin dragons")
    assert status == 200 and answer[0]["text"] == "you said: play imagin dragons"
    assert elapsed < 0.5 + MARGIN


def test_model_parse_forwards_the_original_when_selflearn_hangs(
    hanging: HangingServer, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    proxy_url, _ = start_proxy(hanging.url, rasa.url, rewrite_timeout=TIMEOUT)
    status, answer, elapsed, _ = call(
        proxy_url, "POST", "/model/parse", {"text": "play imagin dragons"}
    )
    assert status == 200 and answer["text"] == "play imagin dragons"
    assert "selflearn" not in answer
    assert elapsed < TIMEOUT + MARGIN


def test_a_refused_token_forwards_the_original(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    selflearn.behaviour.rewrites["play imagin dragons"] = {
        "text": "play imagine dragons",
        "layer": "global",
    }
    proxy_url, _ = start_proxy(selflearn.url, rasa.url, token="not-the-token")
    status, answer, _ = say(proxy_url, "alice", "play imagin dragons")
    assert status == 200 and answer[0]["text"] == "you said: play imagin dragons"
    assert selflearn.on("/v1/rewrite")[0].headers["authorization"] == "Bearer not-the-token"


def test_after_the_cooldown_selflearn_is_asked_again(
    selflearn: FakeSelflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    selflearn.behaviour.rewrites["play imagin dragons"] = {
        "text": "play imagine dragons",
        "layer": "global",
    }
    selflearn.behaviour.rewrite_delay_s = 1.0
    proxy_url, _ = start_proxy(selflearn.url, rasa.url, rewrite_timeout=0.3, cooldown=0.5)
    assert (
        say(proxy_url, "alice", "play imagin dragons")[1][0]["text"]
        == "you said: play imagin dragons"
    )
    selflearn.behaviour.rewrite_delay_s = 0.0
    time.sleep(0.6)
    assert (
        say(proxy_url, "alice", "play imagin dragons")[1][0]["text"]
        == "you said: play imagine dragons"
    )
