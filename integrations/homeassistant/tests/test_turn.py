"""Field mapping from Home Assistant's response to the turn event, case by case."""

from __future__ import annotations

import pytest

from homeassistant.helpers import intent

from custom_components.selflearn.client import RewriteAnswer
from custom_components.selflearn.home import DeviceFacts
from custom_components.selflearn.turn import applied_rewrite, outcome_of, turn_event

from .common import validate_event


def _error(code: intent.IntentResponseErrorCode) -> intent.IntentResponse:
    response = intent.IntentResponse(language="en")
    response.async_set_error(code, "Sorry")
    return response


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (intent.IntentResponseErrorCode.NO_INTENT_MATCH, "not_understood"),
        (intent.IntentResponseErrorCode.NO_VALID_TARGETS, "not_understood"),
        (intent.IntentResponseErrorCode.FAILED_TO_HANDLE, "failure"),
        (intent.IntentResponseErrorCode.UNKNOWN, "failure"),
    ],
)
def test_each_error_code_maps_to_an_outcome_and_is_kept(
    code: intent.IntentResponseErrorCode, outcome: str
) -> None:
    """The outcome follows the error code, and the code itself travels in the context."""
    response = _error(code)
    assert outcome_of(response, "do it") == outcome
    event = turn_event(
        event_id="e1",
        timestamp_ms=1_700_000_000_000,
        user_id="u",
        device=DeviceFacts(id="d", kind="speaker", has_screen=False),
        heard="do it",
        response=response,
        rewrite=None,
        conversation_id=None,
        context={"locale": "en"},
    )
    validate_event(event)
    assert event["context"] == {
        "locale": "en",
        "ha_response_type": "error",
        "ha_error_code": code.value,
    }
    assert event["response"] == {"text": "Sorry", "outcome": outcome}


@pytest.mark.parametrize(
    ("response_type", "outcome"),
    [
        (intent.IntentResponseType.ACTION_DONE, "success"),
        (intent.IntentResponseType.QUERY_ANSWER, "success"),
        (intent.IntentResponseType.PARTIAL_ACTION_DONE, "failure"),
    ],
)
def test_response_types_map_to_outcomes(
    response_type: intent.IntentResponseType, outcome: str
) -> None:
    """Done and answered are successes; partly done reports the failed part."""
    response = intent.IntentResponse(language="en")
    response.response_type = response_type
    assert outcome_of(response, "do it") == outcome


def test_an_empty_request_is_no_action() -> None:
    """Nothing heard, nothing done, whatever the agent said."""
    assert outcome_of(_error(intent.IntentResponseErrorCode.NO_INTENT_MATCH), " ") == "no_action"


def test_a_rewrite_is_recorded_only_when_it_changed_the_text() -> None:
    """An unchanged answer, or none, is no rewrite; a score outside [0, 1] is left out."""
    assert applied_rewrite("a", None) is None
    assert applied_rewrite("a", RewriteAnswer(text="a", rewritten=False)) is None
    assert applied_rewrite("a", RewriteAnswer(text="a", rewritten=True, layer="global")) is None
    assert applied_rewrite(
        "a", RewriteAnswer(text="b", rewritten=True, layer="personal", score=1.5)
    ) == {
        "original_text": "a",
        "rewritten_text": "b",
        "layer": "personal",
        "artifact_version": None,
    }
