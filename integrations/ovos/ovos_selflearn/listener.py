"""The turn logger: follows a turn on the OVOS messagebus and sends it as a turn event.

It subscribes to the bus's catch-all ``message`` event, which ``MessageBusClient`` and
``FakeBus`` both fire with every serialized message *before* the typed handlers run. That gives
one stream in emit order (on ``FakeBus`` the intent service answers inside its own
``recognizer_loop:utterance`` handler, so typed handlers would see the answer before the
question) and shows the utterance as the listener sent it, before any transformer changed it.

Turns are kept per OVOS session, so that HiveMind satellites sharing one ovos-core do not mix.
Every handler only updates memory under a lock and queues events for the sender thread: it
returns at once whatever state selflearn is in.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ovos_utils.log import LOG

from ovos_selflearn import mapping
from ovos_selflearn.client import SelflearnClient
from ovos_selflearn.sender import EventSender
from ovos_selflearn.settings import Settings
from ovos_selflearn.turns import Turn, clamp_ms

UTTERANCE = "recognizer_loop:utterance"
INTENT_FAILURE = "complete_intent_failure"
SPEAK = "speak"
AUDIO_START = "recognizer_loop:audio_output_start"
AUDIO_END = "recognizer_loop:audio_output_end"
SPEECH_STOP = "mycroft.audio.speech.stop"
HANDLER_ERROR = "mycroft.skill.handler.error"
CANCELLED = "ovos.utterance.cancelled"

_ALWAYS_PARSED = {UTTERANCE, INTENT_FAILURE, SPEAK, AUDIO_START, AUDIO_END, SPEECH_STOP,
                  HANDLER_ERROR, CANCELLED}

# ``Message.serialize`` writes the type first; reading it without parsing the whole message
# keeps the cost of the catch-all subscription low (GUI messages can be large).
_TYPE_PREFIX = re.compile(r'^\s*\{\s*"type"\s*:\s*"([^"\\]*)"')


class TurnLogger:
    """Builds turn events from bus messages and hands them to an :class:`EventSender`."""

    def __init__(self, bus: Any, settings: Settings, sender: Optional[EventSender] = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.settings = settings
        self.sender = sender or EventSender(
            SelflearnClient(settings.url, settings.token), timeout=settings.events_timeout,
            queue_size=settings.queue_size, batch_size=settings.batch_size)
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.RLock()
        self._open: Dict[str, Turn] = {}
        self._held: Dict[str, Turn] = {}
        self._stop = threading.Event()
        self._reaper: Optional[threading.Thread] = None
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "TurnLogger":
        """Subscribes to the bus and starts the thread that sends quiet turns."""
        if self._started:
            return self
        self._started = True
        self.bus.on("message", self.handle_raw)
        self._reaper = threading.Thread(target=self._reap_forever, name="selflearn-turns",
                                        daemon=True)
        self._reaper.start()
        return self

    def stop(self, flush_timeout: float = 2.0) -> None:
        """Unsubscribes, sends every turn still open and gives the sender time to post them."""
        if not self._started:
            return
        self._started = False
        try:
            self.bus.remove("message", self.handle_raw)
        except Exception:  # noqa: BLE001 - a bus that is already closed is fine here
            pass
        self._stop.set()
        with self._lock:
            turns = list(self._held.values()) + list(self._open.values())
            self._held.clear()
            self._open.clear()
        for turn in turns:
            self._send(turn)
        self.sender.close(flush_timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Sends every open turn now and waits until the sender posted them (for tests)."""
        with self._lock:
            turns = list(self._held.values()) + list(self._open.values())
            self._held.clear()
            self._open.clear()
        for turn in turns:
            self._send(turn)
        return self.sender.flush(timeout)

    # -- the bus -----------------------------------------------------------------------------

    def handle_raw(self, raw: Any) -> None:
        """The ``message`` handler: never raises, never waits on anything but a local lock."""
        try:
            parsed = self._parse(raw)
            if parsed is not None:
                self.handle(*parsed)
        except Exception:  # noqa: BLE001 - the assistant must not see our bugs
            LOG.exception("selflearn: ignoring a bus message the turn logger could not read")

    def handle(self, msg_type: str, data: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        """Applies one message to the turn state."""
        now = self._clock()
        with self._lock:
            if msg_type == UTTERANCE:
                self._on_utterance(data, context, now)
            elif msg_type == SPEAK:
                self._on_speak(data, context, now)
            elif msg_type == AUDIO_START:
                turn = self._speaking_turn(mapping.session_id_of(context))
                if turn is not None and turn.audio_start_at is None:
                    turn.audio_start_at = now
                    turn.last_seen = now
            elif msg_type == AUDIO_END:
                self._on_audio_end(context, now)
            elif msg_type == SPEECH_STOP:
                self._on_speech_stop(context, now)
            elif msg_type == INTENT_FAILURE:
                turn = self._open.get(mapping.session_id_of(context))
                if turn is not None and turn.nlu is None:
                    turn.unmatched = True
                    self._take_rewrite(turn, context)
                    turn.last_seen = now
            elif msg_type == HANDLER_ERROR:
                turn = self._open.get(mapping.session_id_of(context))
                skill = mapping.skill_of(data, context)
                if turn is not None and turn.nlu is not None and skill in (None, turn.domain):
                    turn.handler_error = True
                    turn.last_seen = now
            elif msg_type == CANCELLED:
                turn = self._open.get(mapping.session_id_of(context))
                if turn is not None:
                    turn.cancelled = True
                    turn.last_seen = now
            elif mapping.is_match_message(msg_type, data):
                turn = self._open.get(mapping.session_id_of(context))
                if turn is not None and turn.nlu is None and not turn.unmatched:
                    turn.nlu = mapping.nlu_of_match(msg_type, data, context,
                                                    set(turn.utterance_keys))
                    turn.match_type = msg_type
                    self._take_rewrite(turn, context)
                    turn.last_seen = now

    def _parse(self, raw: Any) -> Optional[Tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
        if not isinstance(raw, str):
            # A bus that hands out Message objects on "message".
            msg_type = getattr(raw, "msg_type", None)
            if isinstance(msg_type, str):
                return msg_type, getattr(raw, "data", {}) or {}, getattr(raw, "context", {}) or {}
            return None
        prefix = _TYPE_PREFIX.match(raw)
        if prefix is not None and prefix.group(1) not in _ALWAYS_PARSED:
            with self._lock:
                awaiting = any(t.nlu is None and not t.unmatched for t in self._open.values())
            if not awaiting:
                return None
        if prefix is not None:
            message = json.loads(raw)
        else:
            # Not in the plain layout, e.g. encrypted with the bus's secret key.
            from ovos_bus_client.message import Message

            decoded = Message.deserialize(raw)
            message = {"type": decoded.msg_type, "data": decoded.data,
                       "context": decoded.context}
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return None
        data = message.get("data")
        context = message.get("context")
        return (message["type"], data if isinstance(data, dict) else {},
                context if isinstance(context, dict) else {})

    # -- turn state --------------------------------------------------------------------------

    def _on_utterance(self, data: Mapping[str, Any], context: Mapping[str, Any],
                      now: float) -> None:
        session_id = mapping.session_id_of(context)
        previous = self._open.pop(session_id, None)
        if previous is not None:
            self._close(previous, now)
        utterances = mapping.utterances_of(data)
        record = mapping.rewrite_record_of(context)
        originals = mapping.original_utterances_of(context)
        if record and originals and utterances and utterances[0] == record["rewritten_text"]:
            # This bus showed the message after the transformer had already rewritten it.
            utterances = originals
        if not utterances:
            return
        turn = Turn(
            session_id=session_id,
            started_ms=int(self._wall_clock() * 1000),
            started_at=now,
            utterances=utterances,
            user_id=mapping.user_id_of(context, self.settings),
            device=self.settings.device.as_json(),
            context=mapping.request_context(data, context),
            utterance_keys=tuple(data.keys()),
        )
        self._take_rewrite(turn, context)
        self._open[session_id] = turn

    def _on_speak(self, data: Mapping[str, Any], context: Mapping[str, Any],
                  now: float) -> None:
        session_id = mapping.session_id_of(context)
        turn = self._open.get(session_id)
        text = data.get("utterance")
        if turn is None or not isinstance(text, str):
            return  # an announcement outside any turn (a timer, a notification)
        skill = mapping.skill_of(data, context)
        if (turn.match_type is not None and ":" in turn.match_type and turn.domain
                and skill and skill != turn.domain):
            return  # another skill speaking while this intent's skill answers
        held = self._held.pop(session_id, None)
        if held is not None:
            self._send(held)  # the previous answer is over: this one replaces it
        if text:
            turn.speech.append(text)
        if data.get("expect_response") is True:
            turn.asked = True
        if turn.speak_at is None:
            turn.speak_at = now
        turn.speaking = True
        turn.last_seen = now
        self._take_rewrite(turn, context)

    def _on_audio_end(self, context: Mapping[str, Any], now: float) -> None:
        turn = self._speaking_turn(mapping.session_id_of(context))
        if turn is None:
            return
        turn.audio_end_at = now
        turn.speaking = False
        turn.last_seen = now
        self._release(turn)

    def _on_speech_stop(self, context: Mapping[str, Any], now: float) -> None:
        turn = self._speaking_turn(mapping.session_id_of(context))
        if turn is None:
            return
        began = turn.audio_start_at if turn.audio_start_at is not None else turn.speak_at
        if turn.barge_in_ms is None and began is not None:
            turn.barge_in_ms = clamp_ms(now - began)
        turn.speaking = False
        turn.last_seen = now
        self._release(turn)

    def _speaking_turn(self, session_id: str) -> Optional[Turn]:
        """The turn whose answer is playing in this session.

        ovos-audio does not always carry the speaking session on its output messages, and a
        bus client stamps its own ``default`` session on a message that has none; for those,
        the latest answer playing in any session is the one they are about (the device has
        one loudspeaker).
        """
        for turn in (self._held.get(session_id), self._open.get(session_id)):
            if turn is not None and turn.speaking:
                return turn
        if session_id != "default":
            return None
        speaking = [t for t in list(self._held.values()) + list(self._open.values())
                    if t.speaking]
        return max(speaking, key=lambda t: t.speak_at or 0.0) if speaking else None

    def _take_rewrite(self, turn: Turn, context: Mapping[str, Any]) -> None:
        """Copies the transformer's rewrite record when it is about this turn's words."""
        if turn.rewrite is not None:
            return
        record = mapping.rewrite_record_of(context)
        if record is not None and turn.utterances and record["original_text"] == turn.utterances[0]:
            turn.rewrite = record

    def _close(self, turn: Turn, now: float) -> None:
        """Ends a turn (its session moved on); one still speaking waits for a barge-in."""
        if turn.speaking and now < self._expiry(turn):
            earlier = self._held.pop(turn.session_id, None)
            if earlier is not None:
                self._send(earlier)
            self._held[turn.session_id] = turn
        else:
            self._send(turn)

    def _release(self, turn: Turn) -> None:
        if self._held.get(turn.session_id) is turn:
            del self._held[turn.session_id]
            self._send(turn)

    def _expiry(self, turn: Turn) -> float:
        playing = turn.speaking and turn.audio_start_at is not None and turn.audio_end_at is None
        return turn.last_seen + (self.settings.speech_timeout if playing
                                 else self.settings.turn_timeout)

    def expire(self, now: Optional[float] = None) -> None:
        """Sends the turns that have been quiet for longer than their timeout."""
        now = self._clock() if now is None else now
        due: List[Turn] = []
        with self._lock:
            for store in (self._open, self._held):
                for session_id, turn in list(store.items()):
                    if now >= self._expiry(turn):
                        del store[session_id]
                        due.append(turn)
        for turn in due:
            self._send(turn)

    def _reap_forever(self) -> None:
        interval = max(0.05, min(0.5, self.settings.turn_timeout / 4))
        while not self._stop.wait(interval):
            try:
                self.expire()
            except Exception:  # noqa: BLE001 - keep the thread alive whatever happens
                LOG.exception("selflearn: failed to send quiet turns")

    def _send(self, turn: Turn) -> None:
        try:
            self.sender.submit(turn.to_event(self.settings.not_understood_skills))
        except Exception:  # noqa: BLE001
            LOG.exception("selflearn: could not build a turn event")
