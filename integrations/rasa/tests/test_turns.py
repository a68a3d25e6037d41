"""Conversations of broker events become schema-v1 turn events.

The events are built with ``rasa_sdk.events`` (the event types and field names Rasa itself
uses) plus the fields the broker adds; the last tests read JSON lines recorded from a real
Rasa 3.6.21 (its file and SQL brokers and SQL tracker store) and lines in the documented
broker format.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest
from rasa_sdk.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    BotUttered,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)

from rasa_selflearn.sources import read_jsonl, read_sqlite
from rasa_selflearn.turns import MappingOptions, TurnAssembler, broker_events_to_turn_events

from support import FIXTURES, broker

T0 = 1_796_000_000.25  # seconds, as Rasa stamps events


def user(
    sender: str,
    ts: float,
    text: str,
    intent: Optional[str],
    confidence: float = 1.0,
    entities: Sequence[Dict[str, Any]] = (),
    message_id: Optional[str] = None,
    metadata: Optional[Dict[str, Any]] = None,
    channel: str = "rest",
) -> Dict[str, Any]:
    """A user message as Rasa publishes it: parse data with intent, entities and ranking."""
    # Rasa's message ids are uuid4 hex; a name-based uuid keeps the tests deterministic.
    message_id = message_id or uuid.uuid5(uuid.NAMESPACE_OID, f"{sender}/{ts}/{text}").hex
    parse = {
        "intent": {"name": intent, "confidence": confidence},
        "entities": list(entities),
        "intent_ranking": [{"name": intent, "confidence": confidence}],
        "text": text,
        "message_id": message_id,
        "metadata": metadata or {},
    }
    event = UserUttered(text, parse, input_channel=channel)
    return broker(event, sender, ts, message_id=message_id, metadata=metadata or {})


def featurization(sender: str, ts: float) -> Dict[str, Any]:
    # DefinePrevUserUtteredFeaturization has no rasa_sdk constructor.
    return broker({"event": "user_featurization", "use_text_for_featurization": False}, sender, ts)


def session_start(sender: str, ts: float) -> List[Dict[str, Any]]:
    return [
        broker(ActionExecuted("action_session_start"), sender, ts),
        broker(SessionStarted(), sender, ts + 0.001),
        broker(ActionExecuted("action_listen"), sender, ts + 0.002),
    ]


def said(sender: str, ts: float, text: str, template: str) -> Dict[str, Any]:
    return broker(BotUttered(text, metadata={"utter_action": template}), sender, ts)


def listen(sender: str, ts: float) -> Dict[str, Any]:
    return broker(ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0), sender, ts)


def ran(sender: str, ts: float, action: str) -> Dict[str, Any]:
    return broker(ActionExecuted(action, policy="RulePolicy", confidence=1.0), sender, ts)


def ms(ts: float) -> int:
    return int(round(ts * 1000))


# -- conversations -----------------------------------------------------------------------


def matched_intent() -> List[Dict[str, Any]]:
    text = "play imagin dragons in the kitchen"
    entities = [
        {
            "entity": "artist",
            "start": 5,
            "end": 19,
            "value": "imagine dragons",
            "extractor": "RegexEntityExtractor",
            "processors": ["EntitySynonymMapper"],
        },
        {
            "entity": "room",
            "role": "target",
            "start": 27,
            "end": 34,
            "value": "kitchen",
            "extractor": "DIETClassifier",
        },
    ]
    return [
        *session_start("alice", T0),
        user("alice", T0 + 1, text, "play_music", 0.93, entities),
        broker(SlotSet("artist", "imagine dragons"), "alice", T0 + 1.01),
        featurization("alice", T0 + 1.02),
        ran("alice", T0 + 1.03, "action_play_music"),
        said("alice", T0 + 1.04, "Playing Imagine Dragons in the kitchen.", "utter_playing"),
        listen("alice", T0 + 1.05),
    ]


def fallback() -> List[Dict[str, Any]]:
    return [
        *session_start("bob", T0),
        user("bob", T0 + 1, "blorp the thing", "nlu_fallback", 0.3),
        featurization("bob", T0 + 1.01),
        ran("bob", T0 + 1.02, "action_default_fallback"),
        said("bob", T0 + 1.03, "Sorry, I didn't get that. Can you rephrase?", "utter_default"),
        broker(UserUtteranceReverted(), "bob", T0 + 1.04),
        broker(ActionExecuted("action_listen", policy="followup_action"), "bob", T0 + 1.05),
    ]


def form_with_rejection() -> List[Dict[str, Any]]:
    berlin = [
        {
            "entity": "city",
            "start": 0,
            "end": 6,
            "value": "berlin",
            "extractor": "RegexEntityExtractor",
        }
    ]
    return [
        *session_start("carol", T0),
        user("carol", T0 + 1, "weather", "weather"),
        ran("carol", T0 + 1.01, "weather_form"),
        broker(ActiveLoop("weather_form"), "carol", T0 + 1.02),
        broker(SlotSet("requested_slot", "city"), "carol", T0 + 1.03),
        said("carol", T0 + 1.04, "For which city?", "utter_ask_city"),
        listen("carol", T0 + 1.05),
        user("carol", T0 + 2, "hello", "greet"),
        broker(ActionExecutionRejected("weather_form", "RulePolicy", 1.0), "carol", T0 + 2.01),
        ran("carol", T0 + 2.02, "utter_greet"),
        said("carol", T0 + 2.03, "Hello!", "utter_greet"),
        ran("carol", T0 + 2.04, "weather_form"),
        broker(SlotSet("requested_slot", "city"), "carol", T0 + 2.05),
        said("carol", T0 + 2.06, "For which city?", "utter_ask_city"),
        listen("carol", T0 + 2.07),
        user("carol", T0 + 3, "berlin", "nlu_fallback", 0.5, berlin),
        broker(SlotSet("city", "berlin"), "carol", T0 + 3.01),
        ran("carol", T0 + 3.02, "weather_form"),
        broker(SlotSet("requested_slot", None), "carol", T0 + 3.03),
        broker(ActiveLoop(None), "carol", T0 + 3.04),
        ran("carol", T0 + 3.05, "utter_weather"),
        said("carol", T0 + 3.06, "It is sunny in berlin.", "utter_weather"),
        listen("carol", T0 + 3.07),
    ]


def interleaved() -> List[Dict[str, Any]]:
    return [
        user("alice", T0 + 1.0, "hi", "greet"),
        user(
            "bob",
            T0 + 1.1,
            "play jazz",
            "play_music",
            0.8,
            [{"entity": "genre", "start": 5, "end": 9, "value": "jazz"}],
        ),
        ran("alice", T0 + 1.2, "utter_greet"),
        ran("bob", T0 + 1.3, "utter_play"),
        said("alice", T0 + 1.4, "Hello!", "utter_greet"),
        said("bob", T0 + 1.5, "Playing jazz.", "utter_play"),
        listen("bob", T0 + 1.6),
        listen("alice", T0 + 1.7),
    ]


def restarted() -> List[Dict[str, Any]]:
    return [
        *session_start("dave", T0),
        user("dave", T0 + 1, "hi", "greet"),
        ran("dave", T0 + 1.01, "utter_greet"),
        said("dave", T0 + 1.02, "Hello!", "utter_greet"),
        listen("dave", T0 + 1.03),
        user("dave", T0 + 2, "/restart", "restart"),
        ran("dave", T0 + 2.01, "action_restart"),
        broker(Restarted(), "dave", T0 + 2.02),
        *session_start("dave", T0 + 2.03),
        user("dave", T0 + 3, "hi again", "greet"),
        ran("dave", T0 + 3.01, "utter_greet"),
        said("dave", T0 + 3.02, "Hello again!", "utter_greet"),
        # no action_listen: the input ends mid-turn
    ]


CONVERSATIONS = {
    "matched_intent": matched_intent,
    "fallback": fallback,
    "form_with_rejection": form_with_rejection,
    "interleaved": interleaved,
    "restarted": restarted,
}


def test_a_matched_intent_with_entities() -> None:
    [event] = broker_events_to_turn_events(matched_intent())
    event_id = event.pop("event_id")
    assert event_id.startswith("rasa-") and len(event_id) == 37
    assert event == {
        "schema_version": 1,
        "timestamp_ms": ms(T0 + 1),
        "user_id": "alice",
        "session_hint": f"alice#{ms(T0 + 0.001)}",
        "device": {"id": "rasa-rest", "kind": "other", "has_screen": True},
        "asr": {"text": "play imagin dragons in the kitchen"},
        "nlu": {
            "intent": "play_music",
            "confidence": 0.93,
            "slots": [
                {"name": "artist", "value": "imagin dragons"},
                {"name": "room.target", "value": "kitchen"},
            ],
        },
        # The synonym mapper resolved the spoken words; "kitchen" was taken as said.
        "entities": [
            {
                "slot": "artist",
                "value": "imagin dragons",
                "resolved": "imagine dragons",
                "candidates": 1,
            }
        ],
        "response": {"text": "Playing Imagine Dragons in the kitchen.", "outcome": "success"},
        "context": {"input_channel": "rest"},
    }


def test_a_fallback_is_not_understood() -> None:
    [event] = broker_events_to_turn_events(fallback())
    assert event["nlu"] == {"intent": "nlu_fallback", "confidence": 0.3}
    assert event["response"] == {
        "text": "Sorry, I didn't get that. Can you rephrase?",
        "outcome": "not_understood",
    }


@pytest.mark.parametrize(
    "intent, action",
    [
        ("greet", "action_default_fallback"),  # the policies' fallback, NLU was sure
        ("nlu_fallback", "action_two_stage_fallback"),
        ("play_music", "action_default_ask_rephrase"),
    ],
)
def test_every_built_in_fallback_is_not_understood(intent: str, action: str) -> None:
    events = [
        user("erin", T0, "uh", intent, 0.9),
        ran("erin", T0 + 0.1, action),
        listen("erin", T0 + 0.2),
    ]
    [event] = broker_events_to_turn_events(events)
    assert event["response"]["outcome"] == "not_understood"


def test_an_assistants_own_fallback_action_can_be_named() -> None:
    events = [
        user("erin", T0, "uh", "nlu_fallback", 0.2),
        ran("erin", T0 + 0.1, "utter_please_rephrase"),
        said("erin", T0 + 0.2, "Could you say that differently?", "utter_please_rephrase"),
        listen("erin", T0 + 0.3),
    ]
    # The fallback intent alone already says it; a named action says it for other intents.
    [event] = broker_events_to_turn_events(events)
    assert event["response"]["outcome"] == "not_understood"
    events[0] = user("erin", T0, "uh", "chitchat", 0.9)
    assert broker_events_to_turn_events(events)[0]["response"]["outcome"] == "success"
    options = MappingOptions(not_understood_actions=frozenset({"utter_please_rephrase"}))
    assert (
        broker_events_to_turn_events(events, options)[0]["response"]["outcome"] == "not_understood"
    )


def test_a_form_asks_then_rejects_then_takes_an_entity_of_a_fallback_message() -> None:
    asked, rejected, filled = broker_events_to_turn_events(form_with_rejection())
    assert asked["response"] == {"text": "For which city?", "outcome": "clarification"}
    assert rejected["response"] == {"text": "Hello!\nFor which city?", "outcome": "failure"}
    # NLU could not classify "berlin", but the form took it as the city and answered.
    assert filled["nlu"]["intent"] == "nlu_fallback"
    assert filled["nlu"]["slots"] == [{"name": "city", "value": "berlin"}]
    assert filled["response"] == {"text": "It is sunny in berlin.", "outcome": "success"}


def test_a_fallback_message_whose_entity_nothing_used_is_not_understood() -> None:
    events = [
        user(
            "fay",
            T0,
            "berlin",
            "nlu_fallback",
            0.4,
            [{"entity": "city", "start": 0, "end": 6, "value": "berlin"}],
        ),
        ran("fay", T0 + 0.1, "utter_default"),
        listen("fay", T0 + 0.2),
    ]
    assert broker_events_to_turn_events(events)[0]["response"]["outcome"] == "not_understood"


def test_two_users_interleaved_get_their_own_turns() -> None:
    bob, alice = broker_events_to_turn_events(interleaved())
    assert (bob["user_id"], bob["asr"]["text"], bob["response"]["text"]) == (
        "bob",
        "play jazz",
        "Playing jazz.",
    )
    assert (alice["user_id"], alice["asr"]["text"], alice["response"]["text"]) == (
        "alice",
        "hi",
        "Hello!",
    )
    assert bob["nlu"]["slots"] == [{"name": "genre", "value": "jazz"}]
    assert "session_hint" not in bob  # the session's start was not seen
    assert bob["event_id"] != alice["event_id"]


def test_a_restart_closes_the_turn_and_starts_a_new_session() -> None:
    before, restart, after = broker_events_to_turn_events(restarted())
    assert before["session_hint"] == restart["session_hint"] == f"dave#{ms(T0 + 0.001)}"
    assert after["session_hint"] == f"dave#{ms(T0 + 2.031)}"
    assert restart["asr"]["text"] == "/restart"
    assert restart["response"] == {"text": "", "outcome": "success"}
    # The last turn had no action_listen yet; the end of input closes it.
    assert after["response"] == {"text": "Hello again!", "outcome": "success"}


def test_a_turn_where_nothing_happened_is_no_action() -> None:
    events = [user("gil", T0, "", None, 0.0), listen("gil", T0 + 0.1)]
    [event] = broker_events_to_turn_events(events)
    assert "nlu" not in event
    assert event["asr"] == {"text": ""}
    assert event["response"] == {"text": "", "outcome": "no_action"}


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_every_event_is_valid_against_the_schema(name: str, validate: Any) -> None:
    events = broker_events_to_turn_events(CONVERSATIONS[name]())
    assert events
    for event in events:
        validate(event)


def test_the_same_broker_events_give_the_same_events_and_ids() -> None:
    everything = [e for make in CONVERSATIONS.values() for e in make()]
    first = broker_events_to_turn_events(everything)
    again = broker_events_to_turn_events(json.loads(json.dumps(everything)))
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    ids = [e["event_id"] for e in first]
    assert len(ids) == len(set(ids)) == 10


def test_ids_are_stable_without_message_ids_too() -> None:
    events = interleaved()
    for event in events:
        event.pop("message_id", None)
    first = [e["event_id"] for e in broker_events_to_turn_events(events)]
    again = [e["event_id"] for e in broker_events_to_turn_events(events)]
    assert first == again and len(set(first)) == 2


def test_the_id_namespace_separates_installations() -> None:
    ids = {
        ns: broker_events_to_turn_events(interleaved(), MappingOptions(id_namespace=ns))[0][
            "event_id"
        ]
        for ns in ("home-1", "home-2")
    }
    assert ids["home-1"] != ids["home-2"]


def test_a_message_delivered_twice_is_one_turn() -> None:
    assembler = TurnAssembler()
    produced = []
    for event in matched_intent() + matched_intent():
        produced.extend(assembler.feed(event))
    produced.extend(assembler.flush())
    assert len(produced) == 1
    assert assembler.stats.skipped == {"repeated_message": 1}


def test_a_rewrite_recorded_by_the_proxy_becomes_the_rewrite_record(validate: Any) -> None:
    metadata = {
        "selflearn": {
            "device": {"id": "kitchen-speaker", "kind": "speaker", "has_screen": False},
            "asr_confidence": 0.81,
            "context": {"locale": "en-GB"},
            "rewrite": {
                "original_text": "play imagin dragons",
                "rewritten_text": "play imagine dragons",
                "layer": "precomputed",
                "artifact_version": "2026-12-01T03:00:00Z",
                "score": 0.9,
            },
        },
        "model_id": "d497cab6",
    }
    events = [
        user("hal", T0, "play imagine dragons", "play_music", metadata=metadata),
        listen("hal", T0 + 0.1),
    ]
    [event] = broker_events_to_turn_events(events)
    validate(event)
    assert event["asr"] == {"text": "play imagin dragons", "confidence": 0.81}
    assert event["device"] == {"id": "kitchen-speaker", "kind": "speaker", "has_screen": False}
    assert event["rewrite"] == {
        "original_text": "play imagin dragons",
        "rewritten_text": "play imagine dragons",
        "layer": "precomputed",
        "artifact_version": "2026-12-01T03:00:00Z",
        "score": 0.9,
    }
    assert event["context"] == {"locale": "en-GB", "input_channel": "rest"}


def test_a_rewrite_claim_that_changed_nothing_is_no_rewrite() -> None:
    metadata = {"selflearn": {"rewrite": {"original_text": "hi", "layer": "global"}}}
    [event] = broker_events_to_turn_events([user("ida", T0, "hi", "greet", metadata=metadata)])
    assert "rewrite" not in event


def test_device_defaults_come_from_the_options() -> None:
    options = MappingOptions(device_id="web-widget", device_kind="phone", has_screen=True)
    [event] = broker_events_to_turn_events(
        [user("jo", T0, "hi", "greet", channel="socketio")], options
    )
    assert event["device"] == {"id": "web-widget", "kind": "phone", "has_screen": True}
    [event] = broker_events_to_turn_events([user("jo", T0, "hi", "greet", channel="socketio")])
    assert event["device"]["id"] == "rasa-socketio"


def test_what_cannot_be_an_honest_turn_is_skipped() -> None:
    external = user("kim", T0, "EXTERNAL: remind_me", "remind_me", metadata={"is_external": True})
    no_time = user("kim", T0 + 1, "hi", "greet")
    no_time["timestamp"] = None
    invisible = user("kim\u200b", T0 + 2, "hi", "greet")
    no_sender = user("kim", T0 + 3, "hi", "greet")
    del no_sender["sender_id"]
    assembler = TurnAssembler()
    for event in (external, no_time, invisible, no_sender):
        assert assembler.feed(event) == []
    assert assembler.flush() == []
    assert assembler.stats.skipped == {
        "external_intent": 1,
        "bad_timestamp": 1,
        "bad_sender_id": 1,
        "no_sender_id": 1,
    }


def test_options_refuse_a_device_kind_outside_the_schema() -> None:
    with pytest.raises(ValueError):
        MappingOptions(device_kind="toaster")


# -- recorded and documented JSON lines ---------------------------------------------------


def read(path: Path) -> List[Dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return list(read_jsonl(handle, path.name))


def test_the_events_of_a_real_rasa_file_broker(validate: Any) -> None:
    """Recorded from Rasa 3.6.21 (file event broker) through the proxy; see README."""
    events = broker_events_to_turn_events(read(FIXTURES / "rasa-3.6.21-file-broker.jsonl"))
    for event in events:
        validate(event)
    summary = [
        (e["user_id"], e["asr"]["text"], e.get("nlu", {}).get("intent"), e["response"]["outcome"])
        for e in events
    ]
    assert summary == [
        ("alice", "hello", "greet", "success"),
        ("alice", "play imagin dragons", "play_music", "success"),
        ("bob", "blorp", "nlu_fallback", "not_understood"),
        ("bob", "weather", "weather", "clarification"),
        ("bob", "hello", "greet", "failure"),
        ("bob", "berlin", "nlu_fallback", "success"),
        ("alice", "/restart", "restart", "success"),
        ("alice", "hello", "greet", "success"),
        ("bob", "bye", "goodbye", "success"),
    ]
    rewritten = events[1]
    assert rewritten["rewrite"]["rewritten_text"] == "play imagine dragons"
    assert rewritten["rewrite"]["layer"] == "precomputed"
    assert events[6]["session_hint"] != events[7]["session_hint"]  # /restart


def _sqlite(path: Path, ddl: str, rows: List[Dict[str, Any]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute(ddl)
    columns = list(rows[0])
    conn.executemany(
        f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [tuple(row[c] for c in columns) for row in rows],
    )
    conn.commit()
    conn.close()


# The tables as Rasa 3.6.21 created them in SQLite.
TRACKER_STORE_DDL = """CREATE TABLE events (
	id INTEGER NOT NULL, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL,
	timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT,
	PRIMARY KEY (id))"""
SQL_BROKER_DDL = """CREATE TABLE events (
	id INTEGER NOT NULL, sender_id VARCHAR(255), data TEXT, PRIMARY KEY (id))"""


def test_rows_of_rasas_sql_tables_read_as_files_or_databases(tmp_path: Path, validate: Any) -> None:
    tracker_rows = [
        json.loads(line) for line in (FIXTURES / "rasa-3.6.21-sql-tracker-store-rows.jsonl").open()
    ]
    broker_rows = [
        json.loads(line) for line in (FIXTURES / "rasa-3.6.21-sql-broker-rows.jsonl").open()
    ]
    _sqlite(tmp_path / "tracker.db", TRACKER_STORE_DDL, tracker_rows)
    _sqlite(tmp_path / "broker.db", SQL_BROKER_DDL, broker_rows)
    results = [
        broker_events_to_turn_events(read(FIXTURES / "rasa-3.6.21-sql-tracker-store-rows.jsonl")),
        broker_events_to_turn_events(read(FIXTURES / "rasa-3.6.21-sql-broker-rows.jsonl")),
        broker_events_to_turn_events(read_sqlite(str(tmp_path / "tracker.db"))),
        broker_events_to_turn_events(read_sqlite(str(tmp_path / "broker.db"))),
    ]
    for other in results[1:]:
        assert other == results[0]
    events = results[0]
    for event in events:
        validate(event)
    assert [(e["asr"]["text"], e["response"]["outcome"]) for e in events] == [
        ("hello", "success"),
        ("play imagin dragons", "success"),
        ("bye", "success"),
    ]
    assert events[1]["rewrite"]["original_text"] == "play imagin dragons"


def test_lines_in_the_documented_broker_format(validate: Any) -> None:
    """The fields of Rasa's event-broker docs: the bot example with string ``data`` too."""
    events = broker_events_to_turn_events(read(FIXTURES / "documented-broker-events.jsonl"))
    [event] = events
    validate(event)
    assert event["user_id"] == "default"
    assert event["timestamp_ms"] == 1528402837000
    assert event["asr"]["text"] == "what is the weather in berlin"
    assert event["nlu"] == {
        "intent": "ask_weather",
        "confidence": 0.9765,
        "slots": [{"name": "city", "value": "berlin"}],
    }
    assert event["entities"] == [
        {"slot": "city", "value": "berlin", "resolved": "Berlin", "candidates": 1}
    ]
    assert event["response"] == {"text": "what your bot said", "outcome": "success"}


def test_a_long_running_assembler_forgets_old_sessions_not_turns() -> None:
    assembler = TurnAssembler(remember_sessions=1)
    for event in session_start("alice", T0) + session_start("bob", T0 + 1):
        assembler.feed(event)
    for event in [user("alice", T0 + 2, "hi", "greet"), listen("alice", T0 + 3)]:
        done = assembler.feed(event)
    [event] = done
    assert "session_hint" not in event  # alice's session start was forgotten for bob's
    assert event["asr"]["text"] == "hi"
