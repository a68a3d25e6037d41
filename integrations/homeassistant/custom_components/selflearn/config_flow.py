"""Config flow: where selflearn runs and the token to reach it with.

The flow refuses a service it cannot reach, or a token it refuses, with a form error: both
are set once and then silently cost every turn (no rewrites, no learning), so the person
setting it up is the one to hear about it. Both checks are free of side effects: a rewrite
request is not stored, and an empty event batch stores nothing. Outages after setup are a
different matter: the agent then falls back to the built-in agent without a word.
"""

from __future__ import annotations

import logging
from typing import Any

import voluptuous as vol
from yarl import URL

from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResult
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .client import (
    SelflearnAuthError,
    SelflearnClient,
    SelflearnConnectionError,
    SelflearnError,
    SelflearnForbiddenError,
)
from .const import (
    CONF_EVENT_TIMEOUT,
    CONF_REWRITE_ENABLED,
    CONF_REWRITE_TIMEOUT,
    CONF_TOKEN,
    CONF_URL,
    DEFAULT_EVENT_TIMEOUT,
    DEFAULT_REWRITE_TIMEOUT,
    DEFAULT_URL,
    DOMAIN,
    MAX_TIMEOUT,
    MIN_TIMEOUT,
    VALIDATION_TIMEOUT,
)

_LOGGER = logging.getLogger(__name__)

# A rewrite request nobody will learn from: it only proves the token holds the rewrite role.
_PROBE_REWRITE = {
    "user_id": "ha-config-check",
    "device": {"id": "ha-config-check", "kind": "other", "has_screen": False},
    "text": "configuration check",
}


class InvalidUrl(Exception):
    """The URL is not an http(s) URL with a host."""


def normalise_url(raw: str) -> str:
    """The service's base URL without trailing slash; raises InvalidUrl."""
    text = raw.strip().rstrip("/")
    try:
        url = URL(text)
    except ValueError as err:
        raise InvalidUrl from err
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidUrl
    return text


async def async_validate(hass: HomeAssistant, url: str, token: str | None) -> str:
    """Check that the service answers and accepts the token; return its version."""
    client = SelflearnClient.from_hass(hass, url, token)
    version = await client.async_health(VALIDATION_TIMEOUT)
    await client.async_rewrite(_PROBE_REWRITE, VALIDATION_TIMEOUT)
    await client.async_post_events([], VALIDATION_TIMEOUT)
    return version


def _user_schema(defaults: dict[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_URL, default=defaults.get(CONF_URL, DEFAULT_URL)): TextSelector(
                TextSelectorConfig(type=TextSelectorType.URL)
            ),
            vol.Optional(CONF_TOKEN): TextSelector(
                TextSelectorConfig(type=TextSelectorType.PASSWORD)
            ),
        }
    )


class SelflearnConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one selflearn service."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Ask for the URL and token, and check both before creating the entry."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            token = (user_input.get(CONF_TOKEN) or "").strip() or None
            try:
                url = normalise_url(user_input[CONF_URL])
            except InvalidUrl:
                errors[CONF_URL] = "invalid_url"
            else:
                await self.async_set_unique_id(url)
                self._abort_if_unique_id_configured()
                try:
                    version = await async_validate(self.hass, url, token)
                except SelflearnAuthError:
                    errors[CONF_TOKEN] = "invalid_auth"
                except SelflearnForbiddenError as err:
                    errors[CONF_TOKEN] = "missing_role"
                    placeholders["detail"] = str(err)
                except SelflearnConnectionError as err:
                    errors["base"] = "cannot_connect"
                    placeholders["detail"] = str(err)
                except SelflearnError as err:
                    errors["base"] = "unexpected_answer"
                    placeholders["detail"] = str(err)
                else:
                    _LOGGER.debug("selflearn %s at %s accepted the token", version, url)
                    data = {CONF_URL: url}
                    if token:
                        data[CONF_TOKEN] = token
                    return self.async_create_entry(
                        title=f"selflearn ({URL(url).host}:{URL(url).port})",
                        data=data,
                        options={
                            CONF_REWRITE_ENABLED: True,
                            CONF_REWRITE_TIMEOUT: DEFAULT_REWRITE_TIMEOUT,
                            CONF_EVENT_TIMEOUT: DEFAULT_EVENT_TIMEOUT,
                        },
                    )
        placeholders.setdefault("detail", "")
        return self.async_show_form(
            step_id="user",
            data_schema=_user_schema(user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Timeouts and the rewrite switch can change without setting up again."""
        return SelflearnOptionsFlow(config_entry)


class SelflearnOptionsFlow(OptionsFlow):
    """Change how long selflearn may take, or turn rewriting off (events are still sent)."""

    def __init__(self, entry: ConfigEntry) -> None:
        """Keep the entry whose options are edited."""
        self._entry = entry

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Show and store the options."""
        if user_input is not None:
            return self.async_create_entry(title="", data=user_input)
        options = self._entry.options
        timeout_selector = NumberSelector(
            NumberSelectorConfig(
                min=MIN_TIMEOUT,
                max=MAX_TIMEOUT,
                step=0.1,
                unit_of_measurement="s",
                mode=NumberSelectorMode.BOX,
            )
        )
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_REWRITE_ENABLED, default=options.get(CONF_REWRITE_ENABLED, True)
                ): BooleanSelector(),
                vol.Required(
                    CONF_REWRITE_TIMEOUT,
                    default=options.get(CONF_REWRITE_TIMEOUT, DEFAULT_REWRITE_TIMEOUT),
                ): timeout_selector,
                vol.Required(
                    CONF_EVENT_TIMEOUT,
                    default=options.get(CONF_EVENT_TIMEOUT, DEFAULT_EVENT_TIMEOUT),
                ): timeout_selector,
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
