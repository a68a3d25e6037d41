"""selflearn down, stalled or broken: Assist still answers, with the text as heard, in time."""

from __future__ import annotations

import logging
import time

from aiohttp import web
import pytest

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_ON
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent

from custom_components.selflearn.const import DEFAULT_AGENT_ID

from .common import FakeSelflearn, Home, free_port, setup_entry

MEANT = "turn on the kitchen light"
# What a rewrite may add to an answer beyond its timeout: the built-in agent's own work on
# a loaded test instance plus scheduling noise on a busy 2-core machine.
MARGIN_S = 1.0


async def _warm_up(hass: HomeAssistant) -> None:
    """Load the built-in agent's sentences, so that timings measure the rewrite alone."""
    await conversation.async_converse(
        hass, "what time is it", None, Context(), language="en", agent_id=DEFAULT_AGENT_ID
    )


async def _timed_ask(
    hass: HomeAssistant, agent_id: str, text: str, device_id: str
) -> tuple[conversation.ConversationResult, float]:
    started = time.monotonic()
    result = await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id=agent_id, device_id=device_id
    )
    return result, time.monotonic() - started


async def test_a_closed_port_costs_nothing_and_the_text_goes_as_heard(
    hass: HomeAssistant, home: Home, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens at the URL: every request is answered from what was heard."""
    timeout = 1.0
    entry = await setup_entry(hass, f"http://127.0.0.1:{free_port()}", rewrite_timeout=timeout)
    await _warm_up(hass)

    caplog.set_level(logging.WARNING, logger="custom_components.selflearn")
    for _ in range(3):
        result, elapsed = await _timed_ask(hass, entry.entry_id, MEANT, home.satellite_id)
        assert result.response.response_type == intent.IntentResponseType.ACTION_DONE
        assert elapsed < timeout + MARGIN_S
    assert hass.states.get(home.light_entity_id).state == STATE_ON

    # One outage, one warning about rewrites (not one per turn), and nothing raised.
    rewrite_warnings = [
        r for r in caplog.records if "did not rewrite" in r.getMessage()
    ]
    assert len(rewrite_warnings) == 1


async def test_a_stalled_service_costs_at_most_the_timeout(
    hass: HomeAssistant, home: Home, selflearn: FakeSelflearn
) -> None:
    """The service accepts connections and never answers: the timeout bounds the wait.

    Its event route stalls too, which must not delay the answer at all: events are sent
    from the background.
    """
    timeout = 0.5
    selflearn.hang = True
    selflearn.rewrites[MEANT] = "turn off the kitchen light"  # never reached
    entry = await setup_entry(hass, selflearn.url, rewrite_timeout=timeout, event_timeout=5.0)
    await _warm_up(hass)

    for _ in range(2):
        result, elapsed = await _timed_ask(hass, entry.entry_id, MEANT, home.satellite_id)
        assert result.response.response_type == intent.IntentResponseType.ACTION_DONE
        # The rewrite really was waited for (up to the timeout), and not much longer.
        assert timeout * 0.9 <= elapsed < timeout + MARGIN_S
    assert hass.states.get(home.light_entity_id).state == STATE_ON
    assert len(selflearn.requests_to("/v1/rewrite")) == 2
    # The first event batch is in flight, stalled, while the answers came back.
    assert len(selflearn.requests_to("/v1/events")) >= 1
    assert selflearn.events == []


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": {"code": "internal", "message": "boom"}}),
        (429, {"error": {"code": "overloaded", "message": "busy"}}),
        (200, "not json at all"),
        (200, {"unexpected": "shape"}),
        (200, {"text": "", "rewritten": True, "layer": "global"}),
    ],
)
async def test_a_broken_answer_falls_back_to_the_text_as_heard(
    hass: HomeAssistant,
    home: Home,
    socket_enabled: None,
    status: int,
    body: object,
) -> None:
    """Error statuses, garbage and empty rewrites: the built-in agent gets what was heard."""

    async def _answer(request: web.Request) -> web.Response:
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="application/json")
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/v1/rewrite", _answer)
    app.router.add_post("/v1/events", _answer)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        entry = await setup_entry(hass, url)
        result, _ = await _timed_ask(hass, entry.entry_id, MEANT, home.satellite_id)
        assert result.response.response_type == intent.IntentResponseType.ACTION_DONE
        assert hass.states.get(home.light_entity_id).state == STATE_ON
    finally:
        await runner.cleanup()


async def test_setup_does_not_need_the_service(
    hass: HomeAssistant, home: Home, socket_enabled: None
) -> None:
    """Home Assistant starting while selflearn is down still gets a working agent."""
    entry = await setup_entry(hass, f"http://127.0.0.1:{free_port()}")
    assert entry.state is ConfigEntryState.LOADED
    assert conversation.async_get_agent_info(hass, entry.entry_id) is not None
