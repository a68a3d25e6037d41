"""How OVOS message fields map to selflearn's fields.

Kept apart from the bus and HTTP code so that the transformer (which sees a message's context
inside ovos-core) and the turn logger (which sees serialized bus messages) describe a request in
exactly the same words: the rewrite request and the turn event of one turn must agree on user,
device and context, or the learner cannot join them.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ovos_selflearn.settings import Settings

#: The message-context key under which the transformer leaves its rewrite record.
CONTEXT_KEY = "selflearn"

#: The message-context key OVOS's user-database code reads the speaking person's id from.
USER_CONTEXT_KEY = "user_id"

# Match types emitted by ovos-core's own pipeline plugins (converse, fallback, stop), whose
# message type is not ``<skill_id>:<intent>``; each maps to (intent, where the skill id is).
_PIPELINE_TYPES = (
    (re.compile(r"^stop:(global|skill)$"), "stop:{0}", "context"),
    (re.compile(r"^converse:skill$"), "converse:skill", "data"),
    (re.compile(r"^(?P<skill>.+)\.converse\.get_response$"), "converse.get_response", "type"),
    (re.compile(r"^ovos\.skills\.fallback\.(?P<skill>.+)\.request$"), "fallback", "type"),
)

# Keys the intent service or the pipelines put in a match message's data that are not slots.
_NON_SLOT_KEYS = {"utterance", "utterances", "lang", "intent_type", "confidence", "conf",
                  "target", "__tags__", "skill_id", "session"}


def session_of(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The serialized ``Session`` a message carries (``{}`` when it carries none)."""
    session = context.get("session")
    return session if isinstance(session, Mapping) else {}


def session_id_of(context: Mapping[str, Any]) -> str:
    """The OVOS session id; messages without one belong to the device's ``default`` session."""
    session_id = session_of(context).get("session_id")
    return session_id if isinstance(session_id, str) and session_id else "default"


def user_id_of(context: Mapping[str, Any], settings: Settings) -> str:
    """The person speaking: the context's ``user_id`` when OVOS identified them, else the
    configured ``user_id`` (one person per installation until a voice or user id says more)."""
    value = context.get(USER_CONTEXT_KEY)
    if isinstance(value, bool):
        value = None
    if isinstance(value, (str, int)) and str(value).strip():
        return str(value).strip()
    return settings.user_id


def lang_of(data: Mapping[str, Any], context: Mapping[str, Any]) -> Optional[str]:
    """The request's language as OVOS tagged it: per-utterance data, context, then session."""
    for value in (data.get("lang"), context.get("lang"), session_of(context).get("lang")):
        if isinstance(value, str) and value:
            return value
    return None


def request_context(data: Mapping[str, Any], context: Mapping[str, Any]) -> Dict[str, str]:
    """The free-form ``context`` of an event or rewrite request (string values only).

    Only what the utterance message itself says: its language, where on the bus it came from
    and was going to, which listener produced it, and the session's site and configured place
    (not OVOS's shipped placeholder location, which would claim every device is in Kansas).
    """
    session = session_of(context)
    out: Dict[str, str] = {}
    lang = lang_of(data, context)
    if lang:
        out["locale"] = lang
    for key, name in (("source", "ovos.source"), ("destination", "ovos.destination"),
                      ("client_name", "ovos.client_name")):
        value = _as_text(context.get(key))
        if value:
            out[name] = value
    site_id = session.get("site_id")
    if isinstance(site_id, str) and site_id and site_id != "unknown":
        out["ovos.site_id"] = site_id
    location = session.get("location")
    if isinstance(location, Mapping) and not _is_shipped_placeholder(location):
        city = location.get("city")
        if isinstance(city, Mapping) and isinstance(city.get("name"), str) and city["name"]:
            out["location"] = city["name"]
        zone = location.get("timezone")
        if isinstance(zone, Mapping) and isinstance(zone.get("code"), str) and zone["code"]:
            out["time_zone"] = zone["code"]
    return out


def utterances_of(data: Mapping[str, Any]) -> List[str]:
    """The recogniser's hypotheses, best first, as ``recognizer_loop:utterance`` carries them."""
    utterances = data.get("utterances")
    if not isinstance(utterances, list):
        return []
    return [u for u in utterances if isinstance(u, str)]


def skill_of(data: Mapping[str, Any], context: Mapping[str, Any]) -> Optional[str]:
    """The skill a message speaks for: ``context.skill_id``, else ``data.meta.skill``."""
    skill = context.get("skill_id")
    if isinstance(skill, str) and skill:
        return skill
    meta = data.get("meta")
    if isinstance(meta, Mapping) and isinstance(meta.get("skill"), str) and meta["skill"]:
        return meta["skill"]
    return None


def is_match_message(msg_type: str, data: Mapping[str, Any]) -> bool:
    """Whether a message is ovos-core's announcement of a match for the current utterance.

    ovos-core (``IntentService._emit_match_message``) answers a matched utterance with a reply
    of the match's own type whose data holds the utterance's data plus ``utterance`` and
    ``lang``; no other message it sends during matching carries all three.
    """
    if msg_type in ("recognizer_loop:utterance", "complete_intent_failure", "speak"):
        return False
    return (isinstance(data.get("utterance"), str) and isinstance(data.get("lang"), str)
            and isinstance(data.get("utterances"), list))


def nlu_of_match(msg_type: str, data: Mapping[str, Any], context: Mapping[str, Any],
                 utterance_keys: Optional[set] = None) -> Dict[str, Any]:
    """The turn event's ``nlu`` for a match message.

    ``<skill_id>:<intent>`` (Adapt, Padatious, Padacioso intents) becomes intent and domain, with
    the intent parser's entities as slots; ovos-core's pipeline matches (stop, converse,
    fallback) keep their own names; any other match type is reported as OVOS names it.
    """
    context_skill = context.get("skill_id") if isinstance(context.get("skill_id"), str) else None
    data_skill = data.get("skill_id") if isinstance(data.get("skill_id"), str) else None
    nlu: Dict[str, Any]
    skill, _, intent = msg_type.partition(":")
    if intent and context_skill and skill == context_skill:
        nlu = {"intent": intent, "domain": skill}
        ignore = _NON_SLOT_KEYS | set(utterance_keys or ())
        slots = [{"name": key, "value": value} for key, value in data.items()
                 if key not in ignore and isinstance(value, str) and value]
        if slots:
            nlu["slots"] = slots
    else:
        nlu = {"intent": msg_type, "domain": data_skill or context_skill}
        for pattern, name, skill_from in _PIPELINE_TYPES:
            found = pattern.match(msg_type)
            if found:
                domain = {"context": context_skill, "data": data_skill,
                          "type": found.groupdict().get("skill")}[skill_from]
                nlu = {"intent": name.format(*found.groups()), "domain": domain or None}
                break
    confidence = _probability(data.get("confidence", data.get("conf")))
    if confidence is not None:
        nlu["confidence"] = confidence
    if not nlu.get("domain"):
        nlu.pop("domain", None)
    return nlu


def rewrite_record_of(context: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The rewrite the transformer applied, as the turn event's ``rewrite`` object."""
    block = context.get(CONTEXT_KEY)
    if not isinstance(block, Mapping):
        return None
    record = block.get("rewrite")
    if not isinstance(record, Mapping):
        return None
    original, rewritten, layer = (record.get("original_text"), record.get("rewritten_text"),
                                  record.get("layer"))
    if not (isinstance(original, str) and isinstance(rewritten, str) and isinstance(layer, str)):
        return None
    out: Dict[str, Any] = {"original_text": original, "rewritten_text": rewritten,
                           "layer": layer}
    if isinstance(record.get("artifact_version"), str):
        out["artifact_version"] = record["artifact_version"]
    score = _probability(record.get("score"))
    if score is not None:
        out["score"] = score
    return out


def original_utterances_of(context: Mapping[str, Any]) -> Optional[List[str]]:
    """The hypotheses as recognised, before the transformer replaced the first one."""
    block = context.get(CONTEXT_KEY)
    if isinstance(block, Mapping) and isinstance(block.get("original_utterances"), list):
        return [u for u in block["original_utterances"] if isinstance(u, str)]
    return None


@lru_cache(maxsize=1)
def _shipped_location() -> Tuple[Optional[str], Optional[str]]:
    """City and time zone of the placeholder location in OVOS's default ``mycroft.conf``."""
    try:
        from ovos_config import Configuration

        shipped = Configuration.default.get("location") or {}
        return (shipped.get("city", {}).get("name"), shipped.get("timezone", {}).get("code"))
    except Exception:  # noqa: BLE001 - without ovos-config there is no placeholder to skip
        return (None, None)


def _is_shipped_placeholder(location: Mapping[str, Any]) -> bool:
    """Whether a session's location is still the default OVOS ships (Lawrence, Kansas), which
    says nothing about where the device is."""
    city = location.get("city")
    zone = location.get("timezone")
    city = city if isinstance(city, Mapping) else {}
    zone = zone if isinstance(zone, Mapping) else {}
    shipped = _shipped_location()
    return shipped != (None, None) and (city.get("name"), zone.get("code")) == shipped


def _probability(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def _as_text(value: Any) -> Optional[str]:
    if isinstance(value, str):
        return value or None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return None
