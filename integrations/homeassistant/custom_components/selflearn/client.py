"""A small client for the selflearn HTTP API.

Only the three calls the integration needs: liveness (config flow), rewrite (in front of every
request) and event ingestion (after every turn). Each call has its own deadline, enforced
around the whole exchange, body included, so that a service that accepts the connection and
then stalls costs no more than a refused one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession


class SelflearnError(Exception):
    """Any failure to get a usable answer from selflearn."""

    retryable: bool = False


class SelflearnConnectionError(SelflearnError):
    """The service could not be reached or did not answer in time."""

    retryable = True


class SelflearnResponseError(SelflearnError):
    """The service answered with an error status."""

    def __init__(self, status: int, code: str | None, message: str | None) -> None:
        """Keep the status and the service's error code for logs and the config flow."""
        super().__init__(f"HTTP {status} {code or ''}: {message or ''}".strip())
        self.status = status
        self.code = code
        # Timeouts, overload and server errors can pass; a refused body or token cannot.
        self.retryable = status in (408, 429) or status >= 500


class SelflearnAuthError(SelflearnResponseError):
    """401: no token or an unknown one."""


class SelflearnForbiddenError(SelflearnResponseError):
    """403: the token lacks the route's role, or names another source."""


@dataclass(frozen=True, slots=True)
class RewriteAnswer:
    """The service's answer to a rewrite request."""

    text: str
    rewritten: bool
    layer: str | None = None
    score: float | None = None
    artifact_version: str | None = None


class SelflearnClient:
    """Talks to one selflearn service with one bearer token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str | None,
    ) -> None:
        """Store the session, the service's base URL and the token (if any)."""
        self._session = session
        self._base = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    @classmethod
    def from_hass(cls, hass: HomeAssistant, url: str, token: str | None) -> SelflearnClient:
        """Build a client on Home Assistant's shared HTTP session."""
        return cls(async_get_clientsession(hass), url, token)

    @property
    def url(self) -> str:
        """The service's base URL."""
        return self._base

    async def async_health(self, timeout: float) -> str:
        """Return the service's version from `GET /v1/health` (a public route)."""
        body = await self._request("GET", "/v1/health", None, timeout)
        if not isinstance(body, dict) or body.get("status") != "ok":
            raise SelflearnConnectionError(f"unexpected health answer: {body!r}")
        return str(body.get("version", ""))

    async def async_rewrite(self, request: dict[str, Any], timeout: float) -> RewriteAnswer:
        """Ask `POST /v1/rewrite` which text the agent should receive."""
        body = await self._request("POST", "/v1/rewrite", request, timeout)
        if not isinstance(body, dict):
            raise SelflearnConnectionError(f"unexpected rewrite answer: {body!r}")
        text = body.get("text")
        rewritten = body.get("rewritten")
        if not isinstance(text, str) or not isinstance(rewritten, bool):
            raise SelflearnConnectionError(f"unexpected rewrite answer: {body!r}")
        layer = body.get("layer")
        score = body.get("score")
        version = body.get("artifact_version")
        if isinstance(score, bool) or not isinstance(score, int | float):
            score = None
        return RewriteAnswer(
            text=text,
            rewritten=rewritten,
            layer=layer if isinstance(layer, str) else None,
            score=float(score) if score is not None else None,
            artifact_version=version if isinstance(version, str) else None,
        )

    async def async_post_events(
        self, events: list[dict[str, Any]], timeout: float
    ) -> dict[str, Any]:
        """Store a batch with `POST /v1/events`; an empty batch only checks the token."""
        body = await self._request("POST", "/v1/events", events, timeout)
        return body if isinstance(body, dict) else {}

    async def _request(
        self, method: str, path: str, payload: Any, timeout: float
    ) -> Any:
        """Send one request and decode its JSON answer, all within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                try:
                    return await self._exchange(method, path, payload, timeout)
                except aiohttp.ClientConnectorError:
                    raise
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                    # A pooled keep-alive connection the service had already closed (it
                    # closes one after refusing a request whose body it did not read).
                    # Both calls are safe to send once more, on another connection: a
                    # rewrite stores nothing and a re-sent event id is a duplicate.
                    return await self._exchange(method, path, payload, timeout)
        except SelflearnError:
            raise
        except TimeoutError as err:
            raise SelflearnConnectionError(f"no answer within {timeout:g} s") from err
        except (aiohttp.ClientError, ValueError) as err:
            raise SelflearnConnectionError(str(err) or type(err).__name__) from err

    async def _exchange(self, method: str, path: str, payload: Any, timeout: float) -> Any:
        """One HTTP exchange: an error status becomes the matching exception."""
        async with self._session.request(
            method,
            self._base + path,
            json=payload,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            if resp.status >= 400:
                raise await _error_from(resp)
            return await resp.json(content_type=None)


async def _error_from(resp: aiohttp.ClientResponse) -> SelflearnResponseError:
    """Turn an error status and selflearn's `{"error": {"code", "message"}}` into an exception."""
    code: str | None = None
    message: str | None = None
    try:
        body = await resp.json(content_type=None)
    except (aiohttp.ClientError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(error := body.get("error"), dict):
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
    if resp.status == 401:
        return SelflearnAuthError(resp.status, code, message)
    if resp.status == 403:
        return SelflearnForbiddenError(resp.status, code, message)
    return SelflearnResponseError(resp.status, code, message)
