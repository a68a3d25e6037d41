"""Part 3: with selflearn down or hanging the assistant keeps working, unchanged and on time."""

from __future__ import annotations

import time

import pytest
from ovos_utils.fakebus import FakeBus

from ovos_selflearn.client import SelflearnClient
from ovos_selflearn.listener import TurnLogger
from ovos_selflearn.sender import EventSender
from ovos_selflearn.settings import Settings
from ovos_selflearn.transformer import SelflearnTransformer
from support import TOKEN, TricklingServer, utterance_message

TIMEOUT = 0.4
MARGIN = 0.35


def transformer(url: str, **extra) -> SelflearnTransformer:
    config = {"url": url, "token": TOKEN, "log_turns": False, "rewrite_timeout": TIMEOUT}
    config.update(extra)
    return SelflearnTransformer(config=config)


def timed(call):
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


@pytest.mark.parametrize("where", ["closed_port", "hanging", "trickling"])
def test_the_transformer_keeps_the_utterance_within_the_timeout(where, closed_port_url,
                                                                hanging_server):
    trickling = TricklingServer() if where == "trickling" else None
    url = {"closed_port": closed_port_url, "hanging": hanging_server.url,
           "trickling": trickling.url if trickling else None}[where]
    plugin = transformer(url)
    message = utterance_message(["play maj and dragons", "play madge and dragons"])
    for _ in range(2):
        result, took = timed(lambda: plugin.transform(list(message.data["utterances"]),
                                                      message.context))
        assert result == (["play maj and dragons", "play madge and dragons"], {})
        assert took < TIMEOUT + MARGIN, f"transform took {took:.3f} s"
    if where == "hanging":
        assert hanging_server.connections  # it did try, and gave up at the deadline
    if trickling is not None:
        assert trickling.connections
        trickling.close()
    plugin.shutdown()


def test_after_repeated_failures_it_stops_asking_for_a_while(hanging_server):
    plugin = transformer(hanging_server.url, pause_after_failures=2, pause_seconds=60)
    for _ in range(2):
        plugin.transform(["hello"], {})
    tried = len(hanging_server.connections)
    result, took = timed(lambda: plugin.transform(["hello"], {}))
    assert result == (["hello"], {})
    assert took < TIMEOUT / 2, f"a paused plugin still waited {took:.3f} s"
    time.sleep(0.1)
    assert len(hanging_server.connections) == tried  # no new connection while paused
    plugin.shutdown()


def test_an_error_answer_or_garbage_keeps_the_utterance(fake_selflearn):
    fake_selflearn.token = "slt_other"  # every call is refused with 401
    plugin = transformer(fake_selflearn.url)
    assert plugin.transform(["hello"], {}) == (["hello"], {})
    plugin.shutdown()


def test_a_bad_url_in_mycroft_conf_does_not_break_the_assistant():
    with pytest.raises(ValueError):
        transformer("ftp://nowhere")  # ovos-core logs this and loads the other transformers
    plugin = transformer("http://127.0.0.1:9", rewrite_timeout="soon")  # bad value: default
    assert plugin.settings.rewrite_timeout == 1.0
    plugin.shutdown()


@pytest.mark.parametrize("where", ["closed_port", "hanging"])
def test_bus_handlers_return_at_once_and_the_queue_stays_bounded(where, closed_port_url,
                                                                 hanging_server):
    url = closed_port_url if where == "closed_port" else hanging_server.url
    events_timeout = 2.0
    settings = Settings.from_config({"url": url, "token": TOKEN, "queue_size": 5,
                                     "batch_size": 2, "events_timeout": events_timeout})
    bus = FakeBus()
    logger = TurnLogger(bus, settings).start()
    slowest = 0.0
    for index in range(60):
        utterance = utterance_message(f"turn number {index}")
        failure = utterance.reply("complete_intent_failure", utterance.data)
        for message in (utterance, failure):
            _, took = timed(lambda message=message: bus.emit(message))
            slowest = max(slowest, took)
    # Far below the events timeout: no handler waited for the network (the bound leaves
    # room for a loaded machine's scheduling, not for a blocked call).
    assert slowest < events_timeout / 4, f"a bus handler took {slowest:.3f} s"
    sender = logger.sender
    assert sender.pending() <= 5 + 2
    assert sender.stats.dropped >= 60 - 1 - (5 + 2)  # every turn but the open one was queued
    assert sender.stats.sent == 0
    _, took = timed(lambda: logger.stop(flush_timeout=0.2))
    assert took < 0.2 + events_timeout + 1.5  # the flush deadline, then one post in flight
    assert sender.stats.failed_attempts >= 1


def test_events_are_retried_after_the_service_comes_back(fake_selflearn):
    fake_selflearn.fail_events_with = [503, 429]
    bus = FakeBus()
    settings = Settings.from_config({"url": fake_selflearn.url, "token": TOKEN})
    sender = EventSender(SelflearnClient(settings.url, settings.token), min_backoff=0.05)
    logger = TurnLogger(bus, settings, sender=sender).start()
    utterance = utterance_message("what time is it")
    bus.emit(utterance)
    bus.emit(utterance.reply("complete_intent_failure", utterance.data))
    assert logger.flush(timeout=5)
    events = fake_selflearn.wait_for_events(1)
    assert [e["asr"]["text"] for e in events] == ["what time is it"]
    attempts = fake_selflearn.requests_to("/v1/events")
    assert len(attempts) == 3
    assert len({a["body"][0]["event_id"] for a in attempts}) == 1  # the same id each time
    assert logger.sender.stats.failed_attempts == 2
    logger.stop()
