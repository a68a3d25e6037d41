"""Part 2: the turn logger on a FakeBus posts valid schema-v1 events for real OVOS turns."""

from __future__ import annotations

import time

import pytest
from ovos_bus_client.message import Message
from ovos_utils.fakebus import FakeBus

from ovos_selflearn.listener import TurnLogger
from ovos_selflearn.settings import Settings
from support import TOKEN, OvosStack, assert_valid_event, utterance_message

SKILL = "skill-weather.selflearn-test"


class Clock:
    """A monotonic clock the test moves by hand, so that barge-in times are exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_logger(bus, url: str, clock=time.monotonic, **config) -> TurnLogger:
    block = {"url": url, "token": TOKEN, "turn_timeout": 30,
             "device": {"id": "kitchen-speaker", "kind": "speaker", "has_screen": False}}
    block.update(config)
    return TurnLogger(bus, Settings.from_config(block), clock=clock).start()


def match_reply(utterance: Message, intent: str, **slots) -> Message:
    """The match message exactly as ovos-core's IntentService builds it."""
    data = dict(utterance.data)
    data.update(slots)
    reply = utterance.reply(f"{SKILL}:{intent}", data)
    reply.data["utterance"] = utterance.data["utterances"][0]
    reply.data["lang"] = utterance.data["lang"]
    reply.context["skill_id"] = SKILL
    return reply


def speak(after: Message, text: str, expect_response: bool = False) -> Message:
    """``speak`` as ovos-workshop's OVOSSkill.speak forwards it from the intent message."""
    return after.forward("speak", {"utterance": text, "expect_response": expect_response,
                                   "meta": {"skill": SKILL}, "lang": "en-US"})


def test_a_matched_answered_and_interrupted_turn(fake_selflearn):
    bus, clock = FakeBus(), Clock()
    logger = make_logger(bus, fake_selflearn.url, clock=clock)
    utterance = utterance_message(
        ["what is the weather in lisbon", "what is the weather in lisboa"], user_id="alice")
    bus.emit(utterance)
    clock.advance(0.2)
    intent = match_reply(utterance, "weather.intent", city="lisbon")
    bus.emit(intent)
    clock.advance(0.1)
    said = speak(intent, "It is sunny in lisbon")
    bus.emit(said)
    clock.advance(0.3)
    bus.emit(said.forward("recognizer_loop:audio_output_start"))
    clock.advance(1.25)
    bus.emit(said.forward("mycroft.audio.speech.stop"))
    clock.advance(2.0)
    bus.emit(utterance_message("stop"))  # the next turn sends this one

    [event] = fake_selflearn.wait_for_events(1)
    assert_valid_event(event)
    assert event["schema_version"] == 1
    assert event["user_id"] == "alice"
    assert event["device"] == {"id": "kitchen-speaker", "kind": "speaker", "has_screen": False}
    assert event["asr"] == {"text": "what is the weather in lisbon",
                            "nbest": [{"text": "what is the weather in lisboa"}]}
    assert event["nlu"] == {"intent": "weather.intent", "domain": SKILL,
                            "slots": [{"name": "city", "value": "lisbon"}]}
    assert event["response"] == {"text": "It is sunny in lisbon", "outcome": "success"}
    assert event["barge_in"] == {"at_ms": 1250}  # since the audio began
    assert event["session_hint"] == "kitchen-session"
    assert event["context"] == {"locale": "en-US", "ovos.source": "audio",
                                "ovos.destination": "skills",
                                "ovos.client_name": "ovos_dinkum_listener"}
    assert "rewrite" not in event
    assert abs(event["timestamp_ms"] - time.time() * 1000) < 60_000
    posted = fake_selflearn.requests_to("/v1/events")[0]
    assert posted["headers"]["Authorization"] == f"Bearer {TOKEN}"
    logger.stop()


def test_barge_in_counts_from_the_speak_when_no_audio_output_was_seen(fake_selflearn):
    bus, clock = FakeBus(), Clock()
    logger = make_logger(bus, fake_selflearn.url, clock=clock)
    utterance = utterance_message("what is the weather in paris")
    bus.emit(utterance)
    intent = match_reply(utterance, "weather.intent", city="paris")
    bus.emit(intent)
    bus.emit(speak(intent, "It is sunny in paris"))
    clock.advance(0.8)
    bus.emit(intent.forward("mycroft.audio.speech.stop"))
    logger.flush()
    [event] = fake_selflearn.wait_for_events(1)
    assert_valid_event(event)
    assert event["barge_in"] == {"at_ms": 800}
    logger.stop()


def test_speech_that_ended_is_no_barge_in_and_has_a_duration(fake_selflearn):
    bus, clock = FakeBus(), Clock()
    logger = make_logger(bus, fake_selflearn.url, clock=clock)
    utterance = utterance_message("what is the weather in rome")
    bus.emit(utterance)
    intent = match_reply(utterance, "weather.intent", city="rome")
    bus.emit(intent)
    said = speak(intent, "It is sunny in rome")
    bus.emit(said)
    bus.emit(said.forward("recognizer_loop:audio_output_start"))
    clock.advance(1.5)
    bus.emit(said.forward("recognizer_loop:audio_output_end"))
    clock.advance(0.5)
    bus.emit(said.forward("mycroft.audio.speech.stop"))  # too late: nothing was playing
    logger.flush()
    [event] = fake_selflearn.wait_for_events(1)
    assert_valid_event(event)
    assert "barge_in" not in event
    assert event["response"] == {"text": "It is sunny in rome", "outcome": "success",
                                 "duration_ms": 1500}
    logger.stop()


def test_a_stop_said_over_the_answer_is_a_barge_in_on_the_answered_turn(fake_selflearn):
    """The voice "stop" starts a new turn first; the speech.stop that follows still belongs
    to the turn whose answer was playing."""
    bus, clock = FakeBus(), Clock()
    logger = make_logger(bus, fake_selflearn.url, clock=clock)
    first = utterance_message("what is the weather in oslo")
    bus.emit(first)
    intent = match_reply(first, "weather.intent", city="oslo")
    bus.emit(intent)
    said = speak(intent, "It is snowing in oslo, and it will keep snowing all week")
    bus.emit(said)
    bus.emit(said.forward("recognizer_loop:audio_output_start"))
    clock.advance(2.0)
    stop = utterance_message("stop")
    bus.emit(stop)
    stop_match = stop.reply("stop:global", {**stop.data, "conf": 1.0})
    stop_match.data.update({"utterance": "stop", "lang": "en-US"})
    stop_match.context["skill_id"] = "stop.openvoiceos"
    bus.emit(stop_match)
    clock.advance(0.1)
    bus.emit(stop_match.forward("mycroft.audio.speech.stop", {"skill_id": "stop.openvoiceos"}))
    logger.flush()
    events = fake_selflearn.wait_for_events(2)
    by_text = {e["asr"]["text"]: e for e in events}
    for event in events:
        assert_valid_event(event)
    assert by_text["what is the weather in oslo"]["barge_in"] == {"at_ms": 2100}
    assert by_text["stop"]["nlu"] == {"intent": "stop:global", "domain": "stop.openvoiceos",
                                      "confidence": 1.0}
    assert "barge_in" not in by_text["stop"]
    logger.stop()


def test_complete_intent_failure_is_not_understood(fake_selflearn):
    bus = FakeBus()
    logger = make_logger(bus, fake_selflearn.url)
    utterance = utterance_message("blorp the flumbus")
    bus.emit(utterance)
    bus.emit(utterance.reply("mycroft.audio.play_sound", {"uri": "snd/error.mp3"}))
    bus.emit(utterance.reply("complete_intent_failure", utterance.data))
    bus.emit(utterance.reply("ovos.utterance.handled"))
    logger.flush()
    [event] = fake_selflearn.wait_for_events(1)
    assert_valid_event(event)
    assert event["response"] == {"text": "", "outcome": "not_understood"}
    assert "nlu" not in event and "barge_in" not in event
    logger.stop()


def test_a_quiet_turn_is_sent_after_the_timeout(fake_selflearn):
    bus = FakeBus()
    logger = make_logger(bus, fake_selflearn.url, turn_timeout=0.3)
    utterance = utterance_message("what is the weather in bern")
    bus.emit(utterance)
    bus.emit(match_reply(utterance, "weather.intent", city="bern"))
    time.sleep(0.1)
    assert fake_selflearn.events == []
    [event] = fake_selflearn.wait_for_events(1, timeout=3)
    assert_valid_event(event)
    assert event["response"]["outcome"] == "success"
    logger.stop()


def test_turns_of_two_sessions_do_not_mix(fake_selflearn):
    bus = FakeBus()
    logger = make_logger(bus, fake_selflearn.url)
    kitchen = utterance_message("what is the weather in lima", session_id="kitchen")
    bedroom = utterance_message("blorp", session_id="bedroom")
    bus.emit(kitchen)
    bus.emit(bedroom)
    intent = match_reply(kitchen, "weather.intent", city="lima")
    bus.emit(intent)
    bus.emit(bedroom.reply("complete_intent_failure", bedroom.data))
    bus.emit(speak(intent, "It is sunny in lima"))
    logger.flush()
    events = {e["session_hint"]: e for e in fake_selflearn.wait_for_events(2)}
    assert events["kitchen"]["response"] == {"text": "It is sunny in lima", "outcome": "success"}
    assert events["bedroom"]["response"] == {"text": "", "outcome": "not_understood"}
    logger.stop()


# -- the real ovos-core intent service and a real ovos-workshop skill ---------------------------


@pytest.fixture
def ovos(fake_selflearn, mycroft_conf):
    stack = OvosStack(mycroft_conf, {
        "url": fake_selflearn.url, "token": TOKEN, "turn_timeout": 30,
        "device": {"id": "kitchen-speaker", "kind": "screen_speaker", "has_screen": True}})
    yield stack
    stack.close()


def test_real_ovos_turns_rewritten_answered_failed_and_not_understood(ovos, fake_selflearn):
    fake_selflearn.rewrites["weather lisbon please"] = {
        "text": "what is the weather in lisbon", "layer": "global", "score": 0.74,
        "artifact_version": "2026-12-01T03:00:00Z"}

    ovos.say("weather lisbon please", until="ovos.utterance.handled", user_id=7)
    ovos.say("what is the weather in atlantis", until="mycroft.skill.handler.error")
    ovos.say("what is the weather in nowhere", until="ovos.utterance.handled", count=3)
    ovos.say("zork the gnomes", until="complete_intent_failure")
    # The real sequence, as ovos-core and ovos-workshop emitted it:
    types = ovos.types()
    first = types[:types.index("ovos.utterance.handled") + 1]
    assert first == ["recognizer_loop:utterance", f"{SKILL}.activate",
                     f"{SKILL}:weather.intent", "mycroft.skill.handler.start", "speak",
                     "mycroft.skill.handler.complete", "ovos.utterance.handled"]
    assert ovos.plugin.turn_logger.flush()

    events = {e["asr"]["text"]: e for e in fake_selflearn.wait_for_events(4)}
    assert len(events) == 4
    for event in events.values():
        assert_valid_event(event)
        assert event["device"] == {"id": "kitchen-speaker", "kind": "screen_speaker",
                                   "has_screen": True}

    rewritten = events["weather lisbon please"]
    assert rewritten["user_id"] == "7"
    assert rewritten["rewrite"] == {"original_text": "weather lisbon please",
                                    "rewritten_text": "what is the weather in lisbon",
                                    "layer": "global", "score": 0.74,
                                    "artifact_version": "2026-12-01T03:00:00Z"}
    assert rewritten["nlu"] == {"intent": "weather.intent", "domain": SKILL,
                                "slots": [{"name": "city", "value": "lisbon"}]}
    assert rewritten["response"] == {"text": "It is sunny in lisbon", "outcome": "success"}

    failed = events["what is the weather in atlantis"]
    assert failed["response"]["outcome"] == "failure"
    assert failed["user_id"] == "default"
    assert "rewrite" not in failed

    asked = events["what is the weather in nowhere"]
    assert asked["response"] == {"text": "Which city do you mean?", "outcome": "clarification"}

    unknown = events["zork the gnomes"]
    assert unknown["response"] == {"text": "", "outcome": "not_understood"}
    assert "nlu" not in unknown


def test_audio_messages_without_the_speaking_session_reach_the_answer_playing(fake_selflearn):
    """A satellite's answer interrupted by a stop stamped with the default session counts;
    one stamped with another satellite's session does not."""
    bus, clock = FakeBus(), Clock()
    logger = make_logger(bus, fake_selflearn.url, clock=clock)
    utterance = utterance_message("what is the weather in kyiv", session_id="satellite-1")
    bus.emit(utterance)
    intent = match_reply(utterance, "weather.intent", city="kyiv")
    bus.emit(intent)
    bus.emit(speak(intent, "It is cold in kyiv"))
    clock.advance(0.5)
    bus.emit(Message("mycroft.audio.speech.stop",
                     context={"session": {"session_id": "satellite-2"}}))
    clock.advance(0.5)
    bus.emit(Message("mycroft.audio.speech.stop"))  # FakeBus stamps the default session
    logger.flush()
    [event] = fake_selflearn.wait_for_events(1)
    assert_valid_event(event)
    assert event["barge_in"] == {"at_ms": 1000}
    logger.stop()
