"""Unit checks of the field mapping, the settings and the sender's handling of refusals."""

from __future__ import annotations

from ovos_bus_client.session import Session
from ovos_utils.fakebus import FakeBus

from ovos_selflearn import mapping
from ovos_selflearn.client import SelflearnClient
from ovos_selflearn.listener import TurnLogger
from ovos_selflearn.sender import EventSender
from ovos_selflearn.settings import Settings
from support import TOKEN, assert_valid_event, utterance_message


def test_settings_defaults_and_bad_values():
    settings = Settings.from_config({})
    assert (settings.url, settings.rewrite_timeout, settings.queue_size) == (
        "http://127.0.0.1:8080", 1.0, 1000)
    assert settings.device.id and settings.device.kind == "other"
    odd = Settings.from_config({"url": "http://selflearn.lan:8080/", "rewrite_timeout": -1,
                                "device": {"kind": "toaster", "has_screen": "yes"},
                                "queue_size": "many"})
    assert odd.url == "http://selflearn.lan:8080"
    assert (odd.rewrite_timeout, odd.queue_size) == (1.0, 1000)
    assert (odd.device.kind, odd.device.has_screen) == ("other", False)


def test_the_token_can_live_in_a_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert Settings.from_config({"token_file": str(token_file)}).token == TOKEN


def test_context_keeps_a_configured_place_but_not_the_shipped_placeholder():
    message = utterance_message("hello")
    assert "location" not in mapping.request_context(message.data, message.context)
    session = Session("s", location_prefs={"city": {"name": "Porto"},
                                           "timezone": {"code": "Europe/Lisbon"}})
    session.site_id = "kitchen"
    context = mapping.request_context({"lang": "pt-PT"}, {"session": session.serialize()})
    assert context == {"locale": "pt-PT", "ovos.site_id": "kitchen", "location": "Porto",
                       "time_zone": "Europe/Lisbon"}


def test_pipeline_match_types_keep_their_ovos_names():
    data = {"utterances": ["x"], "lang": "en-US", "utterance": "x"}
    fallback = "ovos.skills.fallback.ovos-skill-fallback-unknown.openvoiceos.request"
    assert mapping.is_match_message(fallback, data)
    assert mapping.nlu_of_match(fallback, {**data, "skill_id": "a"}, {}) == {
        "intent": "fallback", "domain": "ovos-skill-fallback-unknown.openvoiceos"}
    assert mapping.nlu_of_match("converse:skill", {**data, "skill_id": "timer.skill"},
                                {"skill_id": "timer.skill"}) == {
        "intent": "converse:skill", "domain": "timer.skill"}
    assert mapping.nlu_of_match("timer.skill.converse.get_response", data,
                                {"skill_id": "timer.skill"}) == {
        "intent": "converse.get_response", "domain": "timer.skill"}
    assert mapping.nlu_of_match("ocp:play", {**data, "conf": 0.6},
                                {"skill_id": "ovos.common_play"}) == {
        "intent": "ocp:play", "domain": "ovos.common_play", "confidence": 0.6}
    assert not mapping.is_match_message("mycroft.audio.play_sound", {"uri": "x"})
    assert not mapping.is_match_message("speak", {"utterance": "x", "lang": "en-US"})


def test_the_fallback_unknown_skill_is_not_understood(fake_selflearn):
    bus = FakeBus()
    logger = TurnLogger(bus, Settings.from_config({"url": fake_selflearn.url,
                                                   "token": TOKEN})).start()
    utterance = utterance_message("flibber")
    bus.emit(utterance)
    match = utterance.reply(
        "ovos.skills.fallback.ovos-skill-fallback-unknown.openvoiceos.request",
        {**utterance.data, "skill_id": "ovos-skill-fallback-unknown.openvoiceos",
         "utterance": "flibber"})
    bus.emit(match)
    bus.emit(match.forward("speak", {"utterance": "I don't understand", "lang": "en-US",
                                     "meta": {"skill": "ovos-skill-fallback-unknown.openvoiceos"}}))
    logger.flush()
    [event] = fake_selflearn.wait_for_events(1)
    assert_valid_event(event)
    assert event["response"] == {"text": "I don't understand", "outcome": "not_understood"}
    assert event["nlu"]["intent"] == "fallback"
    logger.stop()


def test_an_utterance_seen_after_the_rewrite_reports_what_was_heard(fake_selflearn):
    """Where a bus shows the message after the transformer ran, the original is in context."""
    bus = FakeBus()
    logger = TurnLogger(bus, Settings.from_config({"url": fake_selflearn.url,
                                                   "token": TOKEN})).start()
    utterance = utterance_message("play imagine dragons")
    utterance.context[mapping.CONTEXT_KEY] = {
        "original_utterances": ["play maj and dragons", "play madge and dragons"],
        "rewrite": {"original_text": "play maj and dragons",
                    "rewritten_text": "play imagine dragons", "layer": "personal"}}
    bus.emit(utterance)
    logger.flush()
    [event] = fake_selflearn.wait_for_events(1)
    assert_valid_event(event)
    assert event["asr"] == {"text": "play maj and dragons",
                            "nbest": [{"text": "play madge and dragons"}]}
    assert event["rewrite"] == {"original_text": "play maj and dragons",
                                "rewritten_text": "play imagine dragons", "layer": "personal"}
    assert event["response"]["outcome"] == "no_action"
    logger.stop()


def test_one_refused_event_does_not_take_the_batch_with_it(fake_selflearn):
    sender = EventSender(SelflearnClient(fake_selflearn.url, TOKEN), batch_size=10)
    good = {"schema_version": 1, "timestamp_ms": 1764547200000, "user_id": "u",
            "device": {"id": "d", "kind": "speaker", "has_screen": False},
            "asr": {"text": "hi"}, "response": {"text": "", "outcome": "no_action"}}
    # Hold the thread while the batch builds up, so that all three go in one request.
    with sender._lock:
        sender._queue.extend([{**good, "event_id": "a"},
                              {**good, "event_id": "b", "invented": True},
                              {**good, "event_id": "c"}])
        sender._lock.notify()
    assert sender.flush(5)
    assert [e["event_id"] for e in fake_selflearn.events] == ["a", "c"]
    posted = fake_selflearn.requests_to("/v1/events")
    assert [len(r["body"]) for r in posted] == [3, 2]
    assert (sender.stats.sent, sender.stats.rejected) == (2, 1)
    sender.close()
