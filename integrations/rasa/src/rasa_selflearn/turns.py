"""From Rasa tracker events to selflearn turn events.

Rasa's event brokers (Pika, Kafka, SQL, file) publish every tracker event as one JSON object:
the event's own ``as_dict()`` plus the ``sender_id`` of its conversation. A conversation reads
like this::

    action (action_session_start), session_started, action (action_listen),
    user "play jazz", user_featurization, action (utter_play), bot "Playing jazz",
    action (action_listen), user ..., ...

A selflearn turn is one request and what came of it, so a ``user`` event opens a turn and the
turn closes at the ``action_listen`` that hands the floor back to the person (or at the next
``user`` event, a ``session_started``, ``restart`` or ``session_ended``, or the end of input).
Events of different conversations may arrive interleaved; each ``sender_id`` has its own turn.

Everything in a produced event comes from the events of its own turn (plus the options), so
consuming the same events again gives byte-identical events with the same ids, which selflearn
counts as duplicates. The one exception is ``session_hint``, which needs the session's start:
it is left out when the start was not seen (a consumer joining mid-conversation).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Hashable, Iterable, List, Mapping, Optional, Tuple

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

#: Device kinds of the turn-event schema.
DEVICE_KINDS: FrozenSet[str] = frozenset(
    {"speaker", "screen_speaker", "phone", "tv", "car", "wearable", "other"}
)

#: Rasa's built-in fallback intent (FallbackClassifier).
DEFAULT_NOT_UNDERSTOOD_INTENTS: FrozenSet[str] = frozenset({"nlu_fallback"})

#: Rasa's built-in fallback actions: the policy fallback and the two-stage fallback's steps.
DEFAULT_NOT_UNDERSTOOD_ACTIONS: FrozenSet[str] = frozenset(
    {
        "action_default_fallback",
        "action_two_stage_fallback",
        "action_default_ask_affirmation",
        "action_default_ask_rephrase",
    }
)

#: Actions Rasa runs on its own around every message; they do not answer the request.
BOOKKEEPING_ACTIONS: FrozenSet[str] = frozenset(
    {"action_listen", "action_session_start", "action_extract_slots", "action_unlikely_intent"}
)

#: Key under a user message's metadata where the adapter keeps what it knows of the turn.
METADATA_KEY = "selflearn"

# Rasa marks intents triggered from outside (reminders, /trigger_intent) this way; they are
# not something a person said.
_EXTERNAL_PREFIX = "EXTERNAL: "

_MIN_TIMESTAMP_MS = 946_684_800_000  # 2000-01-01
_MAX_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01


@dataclass(frozen=True)
class MappingOptions:
    """How Rasa's events are mapped where Rasa itself has no answer.

    Rasa knows nothing of devices, so a turn's device comes from the user message's metadata
    (``metadata.selflearn.device``, which the proxy sets) or else from these defaults; the
    default device id is ``rasa-<input_channel>``. Keep the options the same between runs:
    they are part of the events, and an event re-sent with other content is refused.
    """

    device_id: Optional[str] = None
    device_kind: str = "other"
    has_screen: bool = True
    not_understood_intents: FrozenSet[str] = DEFAULT_NOT_UNDERSTOOD_INTENTS
    not_understood_actions: FrozenSet[str] = DEFAULT_NOT_UNDERSTOOD_ACTIONS
    #: Mixed into every event id, so that two Rasa installations cannot collide.
    id_namespace: str = "rasa"
    #: Put the message's ``input_channel`` into the event's ``context``.
    channel_in_context: bool = True

    def __post_init__(self) -> None:
        if self.device_kind not in DEVICE_KINDS:
            raise ValueError(
                f"device kind must be one of {sorted(DEVICE_KINDS)}, got {self.device_kind!r}"
            )
        if self.device_id is not None and not valid_id(self.device_id):
            raise ValueError(f"device id {self.device_id!r} is empty or has invisible characters")


@dataclass
class AssemblerStats:
    """What the assembler saw, for the CLI's summary."""

    broker_events: int = 0
    turns: int = 0
    skipped: Dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


_UNSET: Any = object()


@dataclass
class _Turn:
    sender_id: str
    user: Mapping[str, Any]
    session_hint: Optional[str]
    marker: Optional[Hashable]
    last_fed: float
    bot_texts: List[str] = field(default_factory=list)
    #: The response template of each bot message (Rasa's ``metadata.utter_action``).
    utterances: List[str] = field(default_factory=list)
    actions: List[str] = field(default_factory=list)
    rejected: bool = False
    requested_slot: Any = _UNSET
    #: Values of slots set during the turn (other than ``requested_slot``).
    slot_values: List[Any] = field(default_factory=list)


class TurnAssembler:
    """Turns a stream of broker events into turn events, one conversation at a time.

    Feed events in the order Rasa published them; :meth:`feed` returns the turns an event
    closed, :meth:`flush` the ones still open (call it at the end of input). ``marker`` is
    remembered with the turn an event opens (a live consumer passes the message's delivery
    tag, to know which messages are still held by open turns).
    """

    def __init__(
        self,
        options: Optional[MappingOptions] = None,
        *,
        clock: Any = time.monotonic,
        remember_ids: int = 100_000,
        remember_sessions: int = 100_000,
    ) -> None:
        self.options = options or MappingOptions()
        self.stats = AssemblerStats()
        self._clock = clock
        self._open: Dict[str, _Turn] = {}
        # The session of each recent conversation, for session_hint; bounded, since a live
        # consumer sees conversations without end (a forgotten one's hint is left out).
        self._sessions: OrderedDict[str, Optional[str]] = OrderedDict()
        self._remember_sessions = remember_sessions
        # Ids produced recently: a broker that delivers an event twice must not make selflearn
        # see the same id twice in one batch (that refuses the batch).
        self._recent_ids: OrderedDict[str, None] = OrderedDict()
        self._remember_ids = remember_ids

    @property
    def open_turns(self) -> int:
        return len(self._open)

    def oldest_open_marker(self) -> Optional[Hashable]:
        """The smallest marker among open turns (``None`` when none is open or marked)."""
        markers = [t.marker for t in self._open.values() if t.marker is not None]
        return min(markers) if markers else None  # type: ignore[type-var]

    def feed(
        self, event: Mapping[str, Any], marker: Optional[Hashable] = None
    ) -> List[Dict[str, Any]]:
        """Applies one broker event; returns the turn events it completed."""
        return [turn_event for turn_event, _ in self.feed_marked(event, marker)]

    def feed_marked(
        self, event: Mapping[str, Any], marker: Optional[Hashable] = None
    ) -> List[Tuple[Dict[str, Any], Optional[Hashable]]]:
        """Like :meth:`feed`, with the marker of each completed turn's first event."""
        self.stats.broker_events += 1
        if not isinstance(event, Mapping):
            self.stats.skip("not_an_object")
            return []
        sender = event.get("sender_id")
        if not isinstance(sender, str) or not sender:
            self.stats.skip("no_sender_id")
            return []
        kind = event.get("event")
        done: List[Tuple[Dict[str, Any], Optional[Hashable]]] = []
        turn = self._open.get(sender)
        if kind == "user":
            if turn is not None:
                done.extend(self._close(sender))
            if _is_external(event):
                self.stats.skip("external_intent")
                return done
            self._open[sender] = _Turn(
                sender_id=sender,
                user=event,
                session_hint=self._sessions.get(sender),
                marker=marker,
                last_fed=self._clock(),
            )
            return done
        if kind in ("session_started", "restart"):
            done.extend(self._close(sender))
            started = _timestamp_ms(event.get("timestamp"))
            self._remember_session(sender, f"{sender}#{started}" if started is not None else None)
            return done
        if kind == "session_ended":
            done.extend(self._close(sender))
            self._remember_session(sender, None)
            return done
        if turn is None:
            return done
        turn.last_fed = self._clock()
        if kind == "action":
            name = event.get("name")
            if name in ("action_listen", "action_session_start"):
                done.extend(self._close(sender))
            elif isinstance(name, str) and name:
                turn.actions.append(name)
        elif kind == "bot":
            text = event.get("text")
            if isinstance(text, str) and text.strip():
                turn.bot_texts.append(text)
            metadata = event.get("metadata")
            template = metadata.get("utter_action") if isinstance(metadata, Mapping) else None
            if isinstance(template, str):
                turn.utterances.append(template)
        elif kind == "action_execution_rejected":
            turn.rejected = True
        elif kind == "slot":
            if event.get("name") == "requested_slot":
                turn.requested_slot = event.get("value")
            else:
                turn.slot_values.append(event.get("value"))
        return done

    def flush(self) -> List[Dict[str, Any]]:
        """Closes every open turn (end of input)."""
        done: List[Dict[str, Any]] = []
        for sender in list(self._open):
            done.extend(turn_event for turn_event, _ in self._close(sender))
        return done

    def flush_idle(self, idle_s: float) -> List[Dict[str, Any]]:
        """Closes turns that received nothing for ``idle_s`` seconds (see below)."""
        return [turn_event for turn_event, _ in self.flush_idle_marked(idle_s)]

    def flush_idle_marked(self, idle_s: float) -> List[Tuple[Dict[str, Any], Optional[Hashable]]]:
        """Closes turns that received nothing for ``idle_s`` seconds.

        A live consumer needs this for conversations whose last turn never gets its
        ``action_listen`` (Rasa stopped mid-turn): their messages would stay unacknowledged.
        """
        now = self._clock()
        done: List[Tuple[Dict[str, Any], Optional[Hashable]]] = []
        for sender, turn in list(self._open.items()):
            if now - turn.last_fed >= idle_s:
                done.extend(self._close(sender))
        return done

    def _remember_session(self, sender: str, hint: Optional[str]) -> None:
        self._sessions[sender] = hint
        self._sessions.move_to_end(sender)
        while len(self._sessions) > self._remember_sessions:
            self._sessions.popitem(last=False)

    def _close(self, sender: str) -> List[Tuple[Dict[str, Any], Optional[Hashable]]]:
        turn = self._open.pop(sender, None)
        if turn is None:
            return []
        event = build_turn_event(turn, self.options, self.stats)
        if event is None:
            return []
        event_id = event["event_id"]
        if event_id in self._recent_ids:
            self.stats.skip("repeated_message")
            return []
        self._recent_ids[event_id] = None
        while len(self._recent_ids) > self._remember_ids:
            self._recent_ids.popitem(last=False)
        self.stats.turns += 1
        return [(event, turn.marker)]


def broker_events_to_turn_events(
    events: Iterable[Mapping[str, Any]], options: Optional[MappingOptions] = None
) -> List[Dict[str, Any]]:
    """Maps a complete sequence of broker events (a dump, a test) to turn events."""
    assembler = TurnAssembler(options)
    out: List[Dict[str, Any]] = []
    for event in events:
        out.extend(assembler.feed(event))
    out.extend(assembler.flush())
    return out


def build_turn_event(
    turn: _Turn, options: MappingOptions, stats: Optional[AssemblerStats] = None
) -> Optional[Dict[str, Any]]:
    """Builds the schema-v1 event of one closed turn, or ``None`` when it cannot be honest."""
    stats = stats or AssemblerStats()
    user = turn.user
    timestamp_ms = _timestamp_ms(user.get("timestamp"))
    if timestamp_ms is None:
        stats.skip("bad_timestamp")
        logger.warning("skipping a user message of %r without a usable timestamp", turn.sender_id)
        return None
    text = _str(user.get("text")) or ""
    parse = _mapping(user.get("parse_data"))
    ours = _mapping(_mapping(user.get("metadata")).get(METADATA_KEY))
    channel = _str(user.get("input_channel"))

    claimed_user = ours.get("user_id")
    user_id: str = (
        claimed_user if isinstance(claimed_user, str) and valid_id(claimed_user) else turn.sender_id
    )
    if not valid_id(user_id):
        stats.skip("bad_sender_id")
        logger.warning("skipping a turn: sender id %r has invisible characters", user_id)
        return None

    rewrite = _rewrite(ours.get("rewrite"), text)
    asr: Dict[str, Any] = {"text": rewrite["original_text"] if rewrite else text}
    asr_confidence = _probability(ours.get("asr_confidence"))
    if asr_confidence is not None:
        asr["confidence"] = asr_confidence

    nlu = _nlu(parse, text)
    intent = nlu["intent"] if nlu else None
    event: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id(options.id_namespace, turn.sender_id, user, text),
        "timestamp_ms": timestamp_ms,
        "user_id": user_id,
    }
    if turn.session_hint is not None and valid_id(turn.session_hint):
        event["session_hint"] = turn.session_hint
    event["device"] = _device(ours.get("device"), channel, options)
    event["asr"] = asr
    if nlu:
        event["nlu"] = nlu
        resolved = _resolved_entities(parse, text)
        if resolved:
            event["entities"] = resolved
    event["response"] = {
        "text": "\n".join(turn.bot_texts),
        "outcome": outcome(turn, intent, options),
    }
    if rewrite:
        event["rewrite"] = rewrite
    context = _context(ours.get("context"), channel, options)
    if context:
        event["context"] = context
    return event


def outcome(turn: _Turn, intent: Optional[str], options: MappingOptions) -> str:
    """The turn's outcome, as far as Rasa's events tell it.

    In order:

    * ``not_understood``: a fallback action ran, or NLU gave a fallback intent and nothing
      used the message anyway (a form that takes an entity of a message NLU could not
      classify, "berlin" when asked for a city, did understand it: a slot was set to one of
      the message's entity values, nothing fell back and nothing was rejected);
    * ``failure``: an action rejected the message (a form whose validation refused it);
    * ``clarification``: the turn ends with a form asking for a slot (``requested_slot``
      set), or its last action or response is an ``utter_ask_``/``action_ask_`` one;
    * ``success``: any other action ran, or something was said;
    * ``no_action``: nothing happened.
    """
    answering = [a for a in turn.actions if a not in BOOKKEEPING_ACTIONS]
    if any(a in options.not_understood_actions for a in answering):
        return "not_understood"
    if intent is not None and intent in options.not_understood_intents:
        if turn.rejected or not _used_message(turn):
            return "not_understood"
    if turn.rejected:
        return "failure"
    asking_slot = turn.requested_slot is not _UNSET and turn.requested_slot is not None
    asks = ("utter_ask_", "action_ask_")
    last_action = answering[-1] if answering else ""
    last_utterance = turn.utterances[-1] if turn.utterances else ""
    if asking_slot or last_action.startswith(asks) or last_utterance.startswith(asks):
        return "clarification"
    if answering or turn.bot_texts:
        return "success"
    return "no_action"


def _used_message(turn: _Turn) -> bool:
    """Whether a slot was set to a value of one of the message's entities."""
    parse = turn.user.get("parse_data")
    entities = parse.get("entities") if isinstance(parse, Mapping) else None
    if not isinstance(entities, list) or not turn.slot_values:
        return False
    values = [
        e.get("value") for e in entities if isinstance(e, Mapping) and e.get("value") is not None
    ]
    return any(v in values for v in turn.slot_values)


def event_id(namespace: str, sender_id: str, user: Mapping[str, Any], text: str) -> str:
    """A stable id for the turn a user message opened.

    Rasa gives every message a ``message_id``; older stores may lack it, and then the
    message's timestamp and text stand in. Hashed, so that a sender id's characters never
    reach selflearn's id rules.
    """
    message_id = user.get("message_id")
    if isinstance(message_id, str) and message_id:
        parts = [namespace, sender_id, "m", message_id]
    else:
        parts = [namespace, sender_id, "t", repr(user.get("timestamp")), text]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"rasa-{digest[:32]}"


def valid_id(value: Any) -> bool:
    """Whether selflearn would take ``value`` as an id: non-empty, no control or invisible
    characters (it refuses those, since two ids that look alike would be two people)."""
    if not isinstance(value, str) or not value.strip():
        return False
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value)


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_external(event: Mapping[str, Any]) -> bool:
    metadata = event.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("is_external") is True:
        return True
    text = event.get("text")
    return isinstance(text, str) and text.startswith(_EXTERNAL_PREFIX)


def _timestamp_ms(value: Any) -> Optional[int]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return None
    ms = int(round(value * 1000))
    if not _MIN_TIMESTAMP_MS <= ms < _MAX_TIMESTAMP_MS:
        return None
    return ms


def _probability(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    # Classifiers' softmax outputs can land a rounding error outside [0, 1].
    if -1e-6 <= value < 0:
        return 0.0
    if 1 < value <= 1 + 1e-6:
        return 1.0
    return value if 0 <= value <= 1 else None


def _nlu(parse: Mapping[str, Any], text: str) -> Optional[Dict[str, Any]]:
    intent = parse.get("intent")
    if not isinstance(intent, Mapping):
        return None
    name = intent.get("name")
    if not isinstance(name, str) or not name:
        return None
    nlu: Dict[str, Any] = {"intent": name}
    confidence = _probability(intent.get("confidence"))
    if confidence is not None:
        nlu["confidence"] = confidence
    slots = [
        {"name": slot, "value": spoken} for slot, spoken, _ in _entities(parse, text) if spoken
    ]
    if slots:
        nlu["slots"] = slots
    return nlu


def _entities(
    parse: Mapping[str, Any], text: str
) -> List[Tuple[str, Optional[str], Optional[str]]]:
    """(slot name, the words that fill it, Rasa's normalised value) for each entity."""
    out: List[Tuple[str, Optional[str], Optional[str]]] = []
    entities = parse.get("entities")
    if not isinstance(entities, list):
        return out
    for entity in entities:
        if not isinstance(entity, Mapping):
            continue
        kind = entity.get("entity")
        if not isinstance(kind, str) or not kind:
            continue
        role = entity.get("role")
        name = f"{kind}.{role}" if isinstance(role, str) and role else kind
        value = _value_text(entity.get("value"))
        start, end = entity.get("start"), entity.get("end")
        spoken = None
        if (
            isinstance(start, int)
            and isinstance(end, int)
            and not isinstance(start, bool)
            and not isinstance(end, bool)
            and 0 <= start < end <= len(text)
        ):
            spoken = text[start:end]
        if spoken is None:
            spoken = value
        out.append((name, spoken, value))
    return out


def _resolved_entities(parse: Mapping[str, Any], text: str) -> List[Dict[str, Any]]:
    """Entities whose value Rasa normalised (synonyms, Duckling): the words and what they
    were resolved to. An entity taken verbatim was not resolved, so it is not listed."""
    out = []
    for slot, spoken, value in _entities(parse, text):
        if spoken and value is not None and value != spoken:
            out.append({"slot": slot, "value": spoken, "resolved": value, "candidates": 1})
    return out


def _value_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return None


def _device(claimed: Any, channel: Optional[str], options: MappingOptions) -> Dict[str, Any]:
    if isinstance(claimed, Mapping):
        dev_id, kind, screen = claimed.get("id"), claimed.get("kind"), claimed.get("has_screen")
        if valid_id(dev_id) and kind in DEVICE_KINDS and isinstance(screen, bool):
            device: Dict[str, Any] = {"id": dev_id, "kind": kind, "has_screen": screen}
            state = _string_map(claimed.get("state"))
            if state:
                device["state"] = state
            return device
    dev_id = options.device_id
    if dev_id is None:
        dev_id = f"rasa-{channel}" if channel and valid_id(channel) else "rasa"
    return {"id": dev_id, "kind": options.device_kind, "has_screen": options.has_screen}


def _rewrite(claimed: Any, text: str) -> Optional[Dict[str, Any]]:
    """The rewrite record, when the proxy applied one: Rasa received ``text`` instead of the
    person's ``original_text``."""
    if not isinstance(claimed, Mapping):
        return None
    original, layer = claimed.get("original_text"), claimed.get("layer")
    if not isinstance(original, str) or not isinstance(layer, str) or not layer:
        return None
    if original == text:
        return None
    record: Dict[str, Any] = {"original_text": original, "rewritten_text": text, "layer": layer}
    version = claimed.get("artifact_version")
    if isinstance(version, str):
        record["artifact_version"] = version
    score = _probability(claimed.get("score"))
    if score is not None:
        record["score"] = score
    return record


def _context(claimed: Any, channel: Optional[str], options: MappingOptions) -> Dict[str, str]:
    context = _string_map(claimed)
    if options.channel_in_context and channel and "input_channel" not in context:
        context["input_channel"] = channel
    return context


def _string_map(value: Any) -> Dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
