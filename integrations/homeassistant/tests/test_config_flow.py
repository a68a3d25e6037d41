"""The config flow: it checks the URL and the token before creating an entry."""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import AsyncMock, patch

import pytest

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.selflearn.const import (
    CONF_EVENT_TIMEOUT,
    CONF_REWRITE_ENABLED,
    CONF_REWRITE_TIMEOUT,
    CONF_TOKEN,
    CONF_URL,
    DOMAIN,
)

from .common import REWRITE_ONLY_TOKEN, TOKEN, FakeSelflearn, free_port, setup_entry


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock, None, None]:
    """Keep the flow tests to the flow: the created entry is not set up for real."""
    with patch(
        "custom_components.selflearn.async_setup_entry", return_value=True
    ) as mock:
        yield mock


async def _start(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] == FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result["flow_id"]


async def test_a_reachable_service_and_a_good_token_create_an_entry(
    hass: HomeAssistant, selflearn: FakeSelflearn, mock_setup_entry: AsyncMock
) -> None:
    """The entry holds the URL and token; the checks stored nothing in selflearn."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_URL: selflearn.url + "/", CONF_TOKEN: f" {TOKEN} "}
    )

    assert result["type"] == FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_URL: selflearn.url, CONF_TOKEN: TOKEN}
    assert result["options"] == {
        CONF_REWRITE_ENABLED: True,
        CONF_REWRITE_TIMEOUT: 1.0,
        CONF_EVENT_TIMEOUT: 5.0,
    }
    assert result["title"].startswith("selflearn (127.0.0.1:")
    assert result["result"].unique_id == selflearn.url
    assert [r.path for r in selflearn.requests] == ["/v1/health", "/v1/rewrite", "/v1/events"]
    assert selflearn.requests_to("/v1/events")[0].body == []
    assert selflearn.events == []
    assert len(mock_setup_entry.mock_calls) == 1


async def test_an_unreachable_url_is_refused_with_a_form_error(
    hass: HomeAssistant, socket_enabled: None, mock_setup_entry: AsyncMock
) -> None:
    """Nothing listens: the form comes back with cannot_connect, no entry is made."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_URL: f"http://127.0.0.1:{free_port()}", CONF_TOKEN: TOKEN}
    )
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert hass.config_entries.async_entries(DOMAIN) == []


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("slt_not_a_known_token", "invalid_auth"),
        (None, "invalid_auth"),
        (REWRITE_ONLY_TOKEN, "missing_role"),
    ],
)
async def test_a_refused_token_is_a_form_error_on_the_token(
    hass: HomeAssistant,
    selflearn: FakeSelflearn,
    mock_setup_entry: AsyncMock,
    token: str | None,
    error: str,
) -> None:
    """Unknown or missing token: invalid_auth; a token without ingest: missing_role."""
    flow_id = await _start(hass)
    user_input = {CONF_URL: selflearn.url}
    if token is not None:
        user_input[CONF_TOKEN] = token
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {CONF_TOKEN: error}

    # The same flow goes through once the token is right.
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_URL: selflearn.url, CONF_TOKEN: TOKEN}
    )
    assert result["type"] == FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:8080", "not a url", "http://"])
async def test_a_malformed_url_is_refused(
    hass: HomeAssistant, mock_setup_entry: AsyncMock, url: str
) -> None:
    """Only http(s) URLs with a host are accepted, before anything is contacted."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_URL: url, CONF_TOKEN: TOKEN}
    )
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {CONF_URL: "invalid_url"}


async def test_the_same_service_cannot_be_added_twice(
    hass: HomeAssistant, selflearn: FakeSelflearn, mock_setup_entry: AsyncMock
) -> None:
    """The URL is the entry's unique id."""
    flow_id = await _start(hass)
    await hass.config_entries.flow.async_configure(
        flow_id, {CONF_URL: selflearn.url, CONF_TOKEN: TOKEN}
    )
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_URL: selflearn.url, CONF_TOKEN: TOKEN}
    )
    assert result["type"] == FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_change_the_timeouts_and_reload_the_entry(
    hass: HomeAssistant, selflearn: FakeSelflearn, home: object
) -> None:
    """The options dialog stores the new values; the entry is set up again with them."""
    entry = await setup_entry(hass, selflearn.url)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] == FlowResultType.FORM
    assert result["step_id"] == "init"

    before = hass.data[DOMAIN][entry.entry_id]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_REWRITE_ENABLED: False,
            CONF_REWRITE_TIMEOUT: 0.3,
            CONF_EVENT_TIMEOUT: 2.0,
        },
    )
    await hass.async_block_till_done()

    assert result["type"] == FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_REWRITE_ENABLED: False,
        CONF_REWRITE_TIMEOUT: 0.3,
        CONF_EVENT_TIMEOUT: 2.0,
    }
    after = hass.data[DOMAIN][entry.entry_id]
    assert after is not before
    assert after.sender._timeout == 2.0
