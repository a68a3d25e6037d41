"""The agent against a fake selflearn: rewrite first, built-in agent second, event last."""

from __future__ import annotations

import time

from homeassistant.components import conversation
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.selflearn.const import NO_DEVICE_ID

from .common import TOKEN, FakeSelflearn, Home, setup_entry, validate_event

MISHEARD = "turn of the kitchen light"
MEANT = "turn on the kitchen light"


async def _ask(
    hass: HomeAssistant,
    agent_id: str,
    text: str,
    *,
    device_id: str | None = None,
    context: Context | None = None,
    conversation_id: str | None = None,
) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass,
        text,
        conversation_id,
        context or Context(),
        language="en",
        agent_id=agent_id,
        device_id=device_id,
    )


async def test_the_rewrite_is_asked_first_and_its_text_reaches_the_built_in_agent(
    hass: HomeAssistant, home: Home, selflearn: FakeSelflearn
) -> None:
    """A misheard request, rewritten by selflearn, turns the real light on."""
    selflearn.rewrites[MISHEARD] = MEANT
    entry = await setup_entry(hass, selflearn.url)
    assert hass.states.get(home.light_entity_id).state == STATE_OFF

    before_ms = int(time.time() * 1000)
    result = await _ask(hass, entry.entry_id, MISHEARD, device_id=home.satellite_id)
    after_ms = int(time.time() * 1000)

    assert result.response.response_type == intent.IntentResponseType.ACTION_DONE
    assert hass.states.get(home.light_entity_id).state == STATE_ON

    # The rewrite was asked before anything was recorded, with the device and its state.
    assert [r.path for r in selflearn.requests][0] == "/v1/rewrite"
    (asked,) = selflearn.requests_to("/v1/rewrite")
    assert asked.authorization == f"Bearer {TOKEN}"
    assert asked.body["text"] == MISHEARD
    assert asked.body["user_id"] == f"device:{home.satellite_id}"
    assert asked.body["device"] == {
        "id": home.satellite_id,
        "kind": "speaker",
        "has_screen": False,
        "state": {"area": "Kitchen", "media": "playing", "lights": "off"},
    }
    assert asked.body["context"]["locale"] == "en"
    assert asked.body["context"]["area_id"] == home.kitchen_area_id

    (event,) = await selflearn.wait_for_events(1)
    validate_event(event)
    (posted,) = selflearn.requests_to("/v1/events")
    assert posted.authorization == f"Bearer {TOKEN}"
    assert before_ms <= event["timestamp_ms"] <= after_ms
    assert event["asr"] == {"text": MISHEARD}
    assert event["rewrite"] == {
        "original_text": MISHEARD,
        "rewritten_text": MEANT,
        "layer": "precomputed",
        "artifact_version": "artifacts-test-1",
        "score": 0.9,
    }
    assert event["nlu"]["intent"] == "HassTurnOn"
    assert event["nlu"]["domain"] == "light"
    assert {"name": "name", "value": "kitchen light"} in event["nlu"]["slots"]
    assert event["entities"] == [
        {
            "slot": "name",
            "value": "kitchen light",
            "candidates": 1,
            "resolved": home.light_entity_id,
        }
    ]
    assert event["response"]["outcome"] == "success"
    assert event["response"]["text"]
    assert event["context"]["ha_response_type"] == "action_done"
    assert "ha_error_code" not in event["context"]
    # The device state is the one at request time: the light was still off.
    assert event["device"]["state"]["lights"] == "off"


async def test_without_a_rewrite_the_misheard_request_fails(
    hass: HomeAssistant, home: Home, selflearn: FakeSelflearn
) -> None:
    """The control: the same words unrewritten do nothing, and the event says why.

    Home Assistant reads "turn ... of the kitchen light" as a turn-on of something it does
    not have, so its error code is no_valid_targets.
    """
    entry = await setup_entry(hass, selflearn.url)

    result = await _ask(hass, entry.entry_id, MISHEARD, device_id=home.satellite_id)

    assert result.response.response_type == intent.IntentResponseType.ERROR
    assert result.response.error_code == intent.IntentResponseErrorCode.NO_VALID_TARGETS
    assert hass.states.get(home.light_entity_id).state == STATE_OFF
    (event,) = await selflearn.wait_for_events(1)
    validate_event(event)
    assert event["context"]["ha_error_code"] == "no_valid_targets"
    assert event["context"]["ha_response_type"] == "error"
    assert event["response"]["outcome"] == "not_understood"
    assert event["response"]["text"] == result.response.speech["plain"]["speech"]
    assert "rewrite" not in event
    assert "nlu" not in event


async def test_a_sentence_no_intent_matches_carries_no_intent_match(
    hass: HomeAssistant, home: Home, selflearn: FakeSelflearn
) -> None:
    """Words the built-in agent has no sentence for: error code no_intent_match."""
    entry = await setup_entry(hass, selflearn.url)

    result = await _ask(hass, entry.entry_id, "flibber the wobble", device_id=home.satellite_id)

    assert result.response.error_code == intent.IntentResponseErrorCode.NO_INTENT_MATCH
    (event,) = await selflearn.wait_for_events(1)
    validate_event(event)
    assert event["context"]["ha_error_code"] == "no_intent_match"
    assert event["response"]["outcome"] == "not_understood"


async def test_an_unknown_device_name_is_reported_as_no_valid_targets(
    hass: HomeAssistant, home: Home, selflearn: FakeSelflearn
) -> None:
    """A sentence that matches but names nothing in the home carries HA's error code."""
    entry = await setup_entry(hass, selflearn.url)

    result = await _ask(
        hass, entry.entry_id, "turn on the garage light", device_id=home.satellite_id
    )

    assert result.response.error_code == intent.IntentResponseErrorCode.NO_VALID_TARGETS
    (event,) = await selflearn.wait_for_events(1)
    validate_event(event)
    assert event["context"]["ha_error_code"] == "no_valid_targets"
    assert event["response"]["outcome"] == "not_understood"


async def test_each_turn_is_its_own_event_with_the_user_when_known(
    hass: HomeAssistant, home: Home, selflearn: FakeSelflearn, hass_admin_user: MockUser
) -> None:
    """Several turns: unique ids, the HA user when the context has one, no device typed."""
    selflearn.rewrites[MISHEARD] = MEANT
    entry = await setup_entry(hass, selflearn.url)
    user_context = Context(user_id=hass_admin_user.id)

    await _ask(hass, entry.entry_id, MISHEARD, device_id=home.satellite_id)
    await _ask(hass, entry.entry_id, "turn off the kitchen light", context=user_context)
    await _ask(hass, entry.entry_id, "", device_id=home.satellite_id)

    events = await selflearn.wait_for_events(3)
    for event in events:
        validate_event(event)
    assert len({event["event_id"] for event in events}) == 3
    assert [event["response"]["outcome"] for event in events] == [
        "success",
        "success",
        "no_action",
    ]
    typed = events[1]
    assert typed["user_id"] == user_context.user_id
    assert typed["device"] == {"id": NO_DEVICE_ID, "kind": "other", "has_screen": True}
    assert hass.states.get(home.light_entity_id).state == STATE_OFF
    # An empty request is not worth a rewrite round trip.
    assert [r.body["text"] for r in selflearn.requests_to("/v1/rewrite")] == [
        MISHEARD,
        "turn off the kitchen light",
    ]


async def test_with_rewriting_off_turns_are_still_recorded(
    hass: HomeAssistant, home: Home, selflearn: FakeSelflearn
) -> None:
    """The option that turns rewriting off keeps learning going (an A/B control)."""
    selflearn.rewrites[MISHEARD] = MEANT
    entry = await setup_entry(hass, selflearn.url, rewrite_enabled=False)

    await _ask(hass, entry.entry_id, MISHEARD, device_id=home.satellite_id)

    assert hass.states.get(home.light_entity_id).state == STATE_OFF
    assert selflearn.requests_to("/v1/rewrite") == []
    (event,) = await selflearn.wait_for_events(1)
    assert "rewrite" not in event


async def test_the_agent_is_listed_and_unloads_cleanly(
    hass: HomeAssistant, home: Home, selflearn: FakeSelflearn
) -> None:
    """The entry registers an agent beside the built-in one and removes it on unload."""
    entry = await setup_entry(hass, selflearn.url)
    info = conversation.async_get_agent_info(hass, entry.entry_id)
    assert info is not None and info.name == "selflearn"

    await _ask(hass, entry.entry_id, MEANT, device_id=home.satellite_id)
    await selflearn.wait_for_events(1)
    assert await hass.config_entries.async_unload(entry.entry_id)

    assert conversation.async_get_agent_info(hass, entry.entry_id) is None
