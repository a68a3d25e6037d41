"""The conversation agent: selflearn's rewrite in front of Home Assistant's built-in agent.

Every request goes through three steps: ask selflearn which text the built-in agent should
receive (bounded by a short timeout, falling back to what was heard), let the built-in agent
understand and act on it, then queue a turn event describing what happened. Only the second
step is allowed to decide the answer; the other two can fail without the person noticing.
"""

from __future__ import annotations

import logging
import time
from typing import Literal
import uuid

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .client import RewriteAnswer, SelflearnClient, SelflearnError
from .const import (
    CONF_REWRITE_ENABLED,
    CONF_REWRITE_TIMEOUT,
    DEFAULT_AGENT_ID,
    DEFAULT_REWRITE_TIMEOUT,
)
from .events import EventSender
from .home import DeviceFacts, async_describe_device, async_user_id
from .turn import applied_rewrite, request_context, rewrite_request, turn_event

_LOGGER = logging.getLogger(__name__)

# selflearn refuses longer rewrite texts (server.max_rewrite_text_bytes); do not ask.
MAX_REWRITE_TEXT_BYTES = 1024


class SelflearnConversationAgent(conversation.AbstractConversationAgent):
    """Rewrites failing requests with selflearn, then hands them to the built-in agent."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: SelflearnClient,
        sender: EventSender,
        languages: list[str] | Literal["*"],
    ) -> None:
        """Wire the agent to its client, its event sender and the built-in agent's languages."""
        self.hass = hass
        self.entry = entry
        self._client = client
        self._sender = sender
        self._languages = languages
        # The last rewrite failure logged, so that an outage is one warning, not one per turn.
        self._rewrite_problem: str | None = None

    @property
    def supported_languages(self) -> list[str] | Literal["*"]:
        """The built-in agent's languages: it does the understanding."""
        return self._languages

    async def async_process(
        self, user_input: conversation.ConversationInput
    ) -> conversation.ConversationResult:
        """Rewrite, let the built-in agent answer, and record the turn."""
        timestamp_ms = int(time.time() * 1000)
        heard = user_input.text
        device: DeviceFacts | None = None
        user_id = ""
        context: dict[str, str] = {}
        answer: RewriteAnswer | None = None
        try:
            device = async_describe_device(self.hass, user_input.device_id)
            user_id = async_user_id(user_input.context, user_input.device_id)
            context = request_context(
                language=user_input.language,
                time_zone=self.hass.config.time_zone,
                device=device,
            )
            answer = await self._async_rewrite(heard, user_id, device, timestamp_ms, context)
        except Exception:  # noqa: BLE001 - nothing before the answer may break Assist
            _LOGGER.exception("Unexpected error preparing the rewrite; using the text as heard")

        rewrite = applied_rewrite(heard, answer)
        text = rewrite["rewritten_text"] if rewrite is not None else heard
        if rewrite is not None:
            _LOGGER.debug(
                "Rewrote %r to %r (%s layer)", heard, text, rewrite["layer"]
            )

        result = await conversation.async_converse(
            self.hass,
            text,
            user_input.conversation_id,
            user_input.context,
            language=user_input.language,
            agent_id=DEFAULT_AGENT_ID,
            device_id=user_input.device_id,
        )

        if device is not None:
            try:
                self._sender.submit(
                    turn_event(
                        event_id=uuid.uuid4().hex,
                        timestamp_ms=timestamp_ms,
                        user_id=user_id,
                        device=device,
                        heard=heard,
                        response=result.response,
                        rewrite=rewrite,
                        conversation_id=result.conversation_id or user_input.conversation_id,
                        context=context,
                    )
                )
            except Exception:  # noqa: BLE001 - recording a turn must not cost its answer
                _LOGGER.exception("Unexpected error recording the turn")
        return result

    async def _async_rewrite(
        self,
        heard: str,
        user_id: str,
        device: DeviceFacts,
        timestamp_ms: int,
        context: dict[str, str],
    ) -> RewriteAnswer | None:
        """Ask selflearn for the text to understand; None means: use what was heard."""
        options = self.entry.options
        if not options.get(CONF_REWRITE_ENABLED, True):
            return None
        if not heard.strip() or len(heard.encode()) > MAX_REWRITE_TEXT_BYTES:
            return None
        timeout = float(options.get(CONF_REWRITE_TIMEOUT, DEFAULT_REWRITE_TIMEOUT))
        request = rewrite_request(
            user_id=user_id,
            device=device,
            text=heard,
            timestamp_ms=timestamp_ms,
            context=context,
        )
        try:
            answer = await self._client.async_rewrite(request, timeout)
        except SelflearnError as err:
            problem = f"{type(err).__name__}: {err}"
            if problem != self._rewrite_problem:
                _LOGGER.warning(
                    "selflearn at %s did not rewrite (%s); requests go to the built-in "
                    "agent as heard until it answers again",
                    self._client.url,
                    err,
                )
                self._rewrite_problem = problem
            else:
                _LOGGER.debug("selflearn still not rewriting: %s", err)
            return None
        if self._rewrite_problem is not None:
            _LOGGER.info("selflearn at %s answers rewrites again", self._client.url)
            self._rewrite_problem = None
        if answer.rewritten and not answer.text.strip():
            # An empty rewrite would silence the request; keep what was heard.
            return None
        return answer
