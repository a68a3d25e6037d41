"""Mapping between Home Assistant's conversation objects and selflearn's records.

Kept free of I/O so that every field of the turn event can be checked on its own: what was
heard, what the built-in agent understood (or its error code), what it said, how the turn
ended as Home Assistant saw it, and which rewrite, if any, was applied before understanding.
"""

from __future__ import annotations

from typing import Any

from homeassistant.helpers import intent

from .client import RewriteAnswer
from .const import SCHEMA_VERSION
from .home import DeviceFacts

# Outcome of an error response, by Home Assistant's error code. A request that matched no
# sentence, or named something the home does not have, was not understood; a matched request
# whose handling failed is a failure of the system.
_ERROR_OUTCOMES: dict[intent.IntentResponseErrorCode, str] = {
    intent.IntentResponseErrorCode.NO_INTENT_MATCH: "not_understood",
    intent.IntentResponseErrorCode.NO_VALID_TARGETS: "not_understood",
    intent.IntentResponseErrorCode.FAILED_TO_HANDLE: "failure",
    intent.IntentResponseErrorCode.UNKNOWN: "failure",
}

# Slots whose resolution against the home is worth reporting.
_RESOLVED_SLOTS = ("name", "area")

# Context values are free-form strings; keep an accidental long one from bloating the log.
_MAX_CONTEXT_VALUE = 200


def outcome_of(response: intent.IntentResponse, heard: str) -> str:
    """The schema-v1 outcome of a turn, from the response type and error code."""
    if not heard.strip():
        return "no_action"
    match response.response_type:
        case intent.IntentResponseType.ACTION_DONE | intent.IntentResponseType.QUERY_ANSWER:
            return "success"
        case intent.IntentResponseType.PARTIAL_ACTION_DONE:
            # Some of the targets failed: the system reported a failure for those.
            return "failure"
        case intent.IntentResponseType.ERROR:
            if response.error_code is None:
                return "failure"
            return _ERROR_OUTCOMES.get(response.error_code, "failure")
    return "failure"


def speech_of(response: intent.IntentResponse) -> str:
    """The plain-text answer, empty when the agent stayed silent."""
    for speech_type in ("plain", "ssml"):
        if speech := response.speech.get(speech_type, {}).get("speech"):
            return str(speech)
    return ""


def _slot_text(slot: Any) -> str | None:
    """The words of the request that filled a slot (Home Assistant keeps value and text)."""
    if isinstance(slot, dict):
        text = slot.get("text") or slot.get("value")
    else:
        text = slot
    if isinstance(text, list | tuple | set):
        text = ", ".join(str(item) for item in text)
    if text is None or isinstance(text, dict):
        return None
    text = str(text)
    return text or None


def nlu_of(response: intent.IntentResponse) -> dict[str, Any] | None:
    """The interpretation the built-in agent acted on; None when it matched no intent."""
    matched = response.intent
    if matched is None:
        return None
    slots = []
    for name, slot in sorted(matched.slots.items()):
        if (text := _slot_text(slot)) is not None:
            slots.append({"name": str(name), "value": text})
    nlu: dict[str, Any] = {"intent": matched.intent_type, "slots": slots}
    if domain := _domain_of(response, matched.slots):
        nlu["domain"] = domain
    return nlu


def _domain_of(response: intent.IntentResponse, slots: dict[str, Any]) -> str | None:
    """The entity domain acted on: the `domain` slot, else the single domain matched.

    Home Assistant's intents are domain-free (HassTurnOn serves lights and locks alike);
    selflearn holds back rewrites toward sensitive domains such as `lock`, so the domain
    actually touched is what it should see.
    """
    if "domain" in slots and (text := _slot_text(slots["domain"])):
        return text
    domains = {state.domain for state in response.matched_states}
    return domains.pop() if len(domains) == 1 else None


def entities_of(response: intent.IntentResponse) -> list[dict[str, Any]]:
    """How the `name` and `area` slots resolved against the home."""
    matched = response.intent
    if matched is None:
        return []
    resolved: list[dict[str, Any]] = []
    for slot_name in _RESOLVED_SLOTS:
        if slot_name not in matched.slots:
            continue
        if (value := _slot_text(matched.slots[slot_name])) is None:
            continue
        if slot_name == "name":
            ids = [state.entity_id for state in response.matched_states]
        else:
            ids = [
                target.id or target.name
                for target in response.intent_targets
                if target.type == intent.IntentResponseTargetType.AREA
            ]
        record: dict[str, Any] = {"slot": slot_name, "value": value, "candidates": len(ids)}
        if len(ids) == 1:
            record["resolved"] = ids[0]
        resolved.append(record)
    return resolved


def rewrite_request(
    *,
    user_id: str,
    device: DeviceFacts,
    text: str,
    timestamp_ms: int,
    context: dict[str, str],
) -> dict[str, Any]:
    """The body of `POST /v1/rewrite`."""
    return {
        "user_id": user_id,
        "device": device.as_event_device(),
        "text": text,
        "timestamp_ms": timestamp_ms,
        "context": context,
    }


def request_context(
    *, language: str | None, time_zone: str | None, device: DeviceFacts
) -> dict[str, str]:
    """Context shared by the rewrite request and the turn event."""
    context: dict[str, str] = {}
    if language:
        context["locale"] = language
    if time_zone:
        context["time_zone"] = time_zone
    if device.area_id:
        context["area_id"] = device.area_id
    return {key: value[:_MAX_CONTEXT_VALUE] for key, value in context.items()}


def applied_rewrite(heard: str, answer: RewriteAnswer | None) -> dict[str, Any] | None:
    """The event's `rewrite` record, when a rewrite was applied before understanding."""
    if answer is None or not answer.rewritten or answer.text == heard:
        return None
    record: dict[str, Any] = {
        "original_text": heard,
        "rewritten_text": answer.text,
        # The learner judges a rewrite by its layer and artifact version.
        "layer": answer.layer or "unknown",
        "artifact_version": answer.artifact_version,
    }
    if answer.score is not None and 0.0 <= answer.score <= 1.0:
        record["score"] = answer.score
    return record


def turn_event(
    *,
    event_id: str,
    timestamp_ms: int,
    user_id: str,
    device: DeviceFacts,
    heard: str,
    response: intent.IntentResponse,
    rewrite: dict[str, Any] | None,
    conversation_id: str | None,
    context: dict[str, str],
) -> dict[str, Any]:
    """A schema-v1 turn event for one request handled by the built-in agent."""
    event_context = dict(context)
    event_context["ha_response_type"] = response.response_type.value
    if response.error_code is not None:
        event_context["ha_error_code"] = response.error_code.value
    event: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        "timestamp_ms": timestamp_ms,
        "user_id": user_id,
        "device": device.as_event_device(),
        "asr": {"text": heard},
        "response": {"text": speech_of(response), "outcome": outcome_of(response, heard)},
        "context": event_context,
    }
    if conversation_id:
        event["session_hint"] = conversation_id
    if (nlu := nlu_of(response)) is not None:
        event["nlu"] = nlu
    if entities := entities_of(response):
        event["entities"] = entities
    if rewrite is not None:
        event["rewrite"] = rewrite
    return event
