"""selflearn for Home Assistant: a conversation agent that learns from failed requests.

The agent wraps Home Assistant's built-in agent. selflearn rewrites requests that keep failing
(a mishearing such as "turn of the kitchen light") before the built-in agent sees them, and
learns from the turn events this integration sends after every answer. Setting up does not
contact the service: Assist must work even when selflearn is down when Home Assistant starts.
The action selflearn.export_sentences offers what was learned without the live hook: it writes
learned rewrites as custom sentences of the built-in agent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging

from homeassistant.components import conversation as ha_conversation
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .client import SelflearnClient
from .const import (
    CONF_EVENT_TIMEOUT,
    CONF_TOKEN,
    CONF_URL,
    DEFAULT_AGENT_ID,
    DEFAULT_EVENT_TIMEOUT,
    DEFAULT_RULES_FILE,
    DOMAIN,
    SERVICE_EXPORT_SENTENCES,
)
from .conversation import SelflearnConversationAgent
from .events import EventSender
from .export import async_export_sentences

_LOGGER = logging.getLogger(__name__)

# At unload, queued events get at most this long to reach a service that was answering.
UNLOAD_FLUSH_TIMEOUT = 2.0

# Set up from config entries only; async_setup just registers the actions.
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

EXPORT_SENTENCES_SCHEMA = vol.Schema(
    {
        vol.Optional("rules_file", default=DEFAULT_RULES_FILE): cv.string,
        vol.Optional("language"): cv.string,
    }
)


@dataclass(slots=True)
class SelflearnData:
    """What one config entry runs."""

    client: SelflearnClient
    sender: EventSender
    agent: SelflearnConversationAgent


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register selflearn.export_sentences, which needs no selflearn service to run."""
    # One export at a time: each rewrites the same file and reloads the agent.
    lock = asyncio.Lock()

    async def _async_export(call: ServiceCall) -> ServiceResponse:
        async with lock:
            report = await async_export_sentences(
                hass, call.data["rules_file"], call.data.get("language")
            )
        _LOGGER.info(
            "selflearn: exported %d rewrites as custom sentences to %s, skipped %d",
            len(report["exported"]),
            report["file"],
            len(report["skipped"]),
        )
        return report

    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT_SENTENCES,
        _async_export,
        schema=EXPORT_SENTENCES_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Register the agent and start the event sender."""
    client = SelflearnClient.from_hass(hass, entry.data[CONF_URL], entry.data.get(CONF_TOKEN))
    sender = EventSender(
        client, float(entry.options.get(CONF_EVENT_TIMEOUT, DEFAULT_EVENT_TIMEOUT))
    )
    languages = await ha_conversation.async_get_conversation_languages(hass, DEFAULT_AGENT_ID)
    agent = SelflearnConversationAgent(
        hass,
        entry,
        client,
        sender,
        languages if isinstance(languages, str) else sorted(languages),
    )
    sender.async_start(hass, entry)
    ha_conversation.async_set_agent(hass, entry, agent)
    hass.data.setdefault(DOMAIN, {})[entry.entry_id] = SelflearnData(client, sender, agent)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Unregister the agent and stop the sender, handing over what it still holds."""
    ha_conversation.async_unset_agent(hass, entry)
    data: SelflearnData = hass.data[DOMAIN].pop(entry.entry_id)
    event_timeout = float(entry.options.get(CONF_EVENT_TIMEOUT, DEFAULT_EVENT_TIMEOUT))
    timeout = min(UNLOAD_FLUSH_TIMEOUT, event_timeout)
    await data.sender.async_stop(timeout)
    if data.sender.dropped:
        _LOGGER.info(
            "selflearn: %d turn events sent, %d dropped while the service was unavailable",
            data.sender.sent,
            data.sender.dropped,
        )
    return True


async def _async_options_updated(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Apply changed options (timeouts, rewriting on or off) by reloading the entry."""
    await hass.config_entries.async_reload(entry.entry_id)
