"""One assistant turn as the bus showed it, and its turn event (schema v1).

A turn holds only what a bus message said, with the monotonic clock time it was seen; it is
turned into an event once, when it is sent. Fields OVOS does not know (ASR confidences, entity
resolution, explicit feedback) are left out of the event rather than guessed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

@dataclass
class Turn:
    """State of one turn, from ``recognizer_loop:utterance`` until it is sent."""

    session_id: str
    started_ms: int
    started_at: float
    utterances: List[str]
    user_id: str
    device: Dict[str, Any]
    context: Dict[str, str]
    utterance_keys: Tuple[str, ...] = ()
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    last_seen: float = 0.0
    nlu: Optional[Dict[str, Any]] = None
    match_type: Optional[str] = None
    unmatched: bool = False
    handler_error: bool = False
    cancelled: bool = False
    asked: bool = False
    speech: List[str] = field(default_factory=list)
    speak_at: Optional[float] = None
    audio_start_at: Optional[float] = None
    audio_end_at: Optional[float] = None
    speaking: bool = False
    barge_in_ms: Optional[int] = None
    rewrite: Optional[Dict[str, Any]] = None

    def __post_init__(self) -> None:
        self.last_seen = self.last_seen or self.started_at

    @property
    def domain(self) -> Optional[str]:
        """The skill that took the turn, when a match named one."""
        return (self.nlu or {}).get("domain")

    def outcome(self, not_understood_skills: Tuple[str, ...] = ()) -> str:
        """The outcome as OVOS itself saw it.

        ``complete_intent_failure`` or OVOS's "I don't understand" fallback skill is
        ``not_understood``; a skill handler that raised (``mycroft.skill.handler.error``) is
        ``failure``; a cancelled utterance (``ovos.utterance.cancelled``) is ``no_action``; a
        match whose answer expected a reply (``speak`` with ``expect_response``) is
        ``clarification``; any other match, or an answer spoken without one, is ``success``.
        """
        if self.cancelled:
            return "no_action"
        if self.unmatched:
            return "not_understood"
        if self.handler_error:
            return "failure"
        if self.nlu is not None:
            if self.domain in not_understood_skills:
                return "not_understood"
            return "clarification" if self.asked else "success"
        return "success" if self.speech else "no_action"

    def to_event(self, not_understood_skills: Tuple[str, ...] = ()) -> Dict[str, Any]:
        """The turn event, valid against ``schema/turn-event.v1.schema.json``."""
        text = self.utterances[0] if self.utterances else ""
        asr: Dict[str, Any] = {"text": text}
        if len(self.utterances) > 1:
            asr["nbest"] = [{"text": u} for u in self.utterances[1:]]
        response: Dict[str, Any] = {"text": " ".join(self.speech),
                                    "outcome": self.outcome(not_understood_skills)}
        if self.audio_start_at is not None and self.audio_end_at is not None:
            response["duration_ms"] = clamp_ms(self.audio_end_at - self.audio_start_at)
        event: Dict[str, Any] = {
            "schema_version": 1,
            "event_id": self.event_id,
            "timestamp_ms": self.started_ms,
            "user_id": self.user_id,
            "device": dict(self.device),
            "asr": asr,
            "response": response,
            "session_hint": self.session_id,
        }
        if self.nlu is not None:
            event["nlu"] = dict(self.nlu)
        if self.barge_in_ms is not None:
            event["barge_in"] = {"at_ms": self.barge_in_ms}
        if self.rewrite is not None:
            event["rewrite"] = dict(self.rewrite)
        if self.context:
            event["context"] = dict(self.context)
        return event


def clamp_ms(seconds: float) -> int:
    """Seconds as whole milliseconds within the schema's uint32."""
    return max(0, min(int(round(seconds * 1000)), 2**32 - 1))
