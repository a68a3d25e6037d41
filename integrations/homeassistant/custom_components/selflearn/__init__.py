"""selflearn for Home Assistant: a conversation agent that learns from failed requests.

The agent wraps Home Assistant's built-in agent. selflearn rewrites requests that keep failing
(a mishearing such as "turn of the kitchen light") before the built-in agent sees them, and
learns from the turn events this integration sends after every answer. Setting up does not
contact the service: Assist must work even when selflearn is down when Home Assistant starts.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging

from homeassistant.components import conversation as ha_conversation
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .client import SelflearnClient
from .const import (
    CONF_EVENT_TIMEOUT,
    CONF_TOKEN,
    CONF_URL,
    DEFAULT_AGENT_ID,
    DEFAULT_EVENT_TIMEOUT,
    DOMAIN,
)
from .conversation import SelflearnConversationAgent
from .events import EventSender

_LOGGER = logging.getLogger(__name__)

# At unload, queued events get at most this long to reach a service that was answering.
UNLOAD_FLUSH_TIMEOUT = 2.0


@dataclass(slots=True)
class SelflearnData:
    """What one config entry runs."""

    client: SelflearnClient
    sender: EventSender
    agent: SelflearnConversationAgent


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
