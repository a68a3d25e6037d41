"""Test helpers: a fake selflearn service, a small home, the schema and entry setup."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
from pathlib import Path
import socket
from typing import Any

from aiohttp import web
import jsonschema
from homeassistant.components.light import ColorMode, LightEntity
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.selflearn.const import (
    CONF_EVENT_TIMEOUT,
    CONF_REWRITE_ENABLED,
    CONF_REWRITE_TIMEOUT,
    CONF_TOKEN,
    CONF_URL,
    DOMAIN,
)

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_PATH = FIXTURES / "turn-event.v1.schema.json"
TOKEN = "slt_test_token_ingest_rewrite"
REWRITE_ONLY_TOKEN = "slt_test_token_rewrite_only"

_SCHEMA = json.loads(SCHEMA_PATH.read_text())
_VALIDATOR = jsonschema.Draft202012Validator(_SCHEMA)
_DEVICE_VALIDATOR = jsonschema.Draft202012Validator(
    {"$ref": "#/$defs/Device", "$defs": _SCHEMA["$defs"]}
)


def validate_event(event: dict[str, Any]) -> None:
    """Fail with the schema's message when the event is not a valid schema-v1 turn event."""
    _VALIDATOR.validate(event)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Recorded:
    """One request the fake service received."""

    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeSelflearn:
    """A selflearn stand-in that records requests and answers like `selflearn serve`.

    It checks bearer tokens and roles, refuses rewrite requests of the wrong shape and event
    batches that break the schema (422, as the real service does), and rewrites the texts
    listed in `rewrites`. `hang` makes every guarded route stall until the test ends.
    """

    tokens: dict[str, set[str]] = field(
        default_factory=lambda: {
            TOKEN: {"ingest", "rewrite"},
            REWRITE_ONLY_TOKEN: {"rewrite"},
        }
    )
    rewrites: dict[str, str] = field(default_factory=dict)
    layer: str = "precomputed"
    artifact_version: str | None = "artifacts-test-1"
    hang: bool = False
    requests: list[Recorded] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    refused_batches: list[Any] = field(default_factory=list)
    url: str = ""
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def app(self) -> web.Application:
        """The aiohttp application serving the three routes the integration uses."""
        app = web.Application()
        app.router.add_get("/v1/health", self._health)
        app.router.add_post("/v1/rewrite", self._rewrite)
        app.router.add_post("/v1/events", self._events)
        return app

    def requests_to(self, path: str) -> list[Recorded]:
        """The recorded requests to one route, in arrival order."""
        return [r for r in self.requests if r.path == path]

    async def wait_for_events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until `count` events were stored; return them."""
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.events) >= count)
        return list(self.events)

    def release(self) -> None:
        """Let hanging handlers finish (at teardown)."""
        self._release.set()

    @staticmethod
    def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return web.json_response(
            {"error": {"code": code, "message": message, **extra}},
            status=status,
            headers=headers,
        )

    async def _guard(self, request: web.Request, role: str) -> tuple[web.Response | None, Any]:
        """Record the request, stall when hanging, check the token's role; parse the body."""
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append(
            Recorded(request.method, request.path, request.headers.get("Authorization"), body)
        )
        if self.hang:
            await self._release.wait()
            return self._error(503, "shutting_down", "test over"), None
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token is None or token not in self.tokens:
            return self._error(401, "unauthorized", "no bearer token, or an unknown one"), None
        if role not in self.tokens[token]:
            return self._error(403, "forbidden", f"the token lacks the {role} role"), None
        if not raw:
            return self._error(400, "empty_body", "the request body is empty"), None
        if isinstance(body, bytes):
            return self._error(400, "invalid_json", "not JSON"), None
        return None, body

    async def _health(self, request: web.Request) -> web.Response:
        self.requests.append(Recorded(request.method, request.path, None, None))
        return web.json_response({"status": "ok", "version": "0.1.0"})

    async def _rewrite(self, request: web.Request) -> web.Response:
        refused, body = await self._guard(request, "rewrite")
        if refused is not None:
            return refused
        allowed = {"user_id", "device", "text", "timestamp_ms", "context", "source"}
        if not isinstance(body, dict):
            return self._error(422, "invalid_request", "expected an object", field=".")
        for name in ("user_id", "device", "text"):
            if name not in body:
                return self._error(422, "invalid_request", f"missing {name}", field=name)
        if unknown := set(body) - allowed:
            return self._error(422, "invalid_request", f"unknown {unknown}", field=".")
        try:
            _DEVICE_VALIDATOR.validate(body["device"])
        except jsonschema.ValidationError as err:
            return self._error(422, "invalid_request", err.message, field="device")
        text = body["text"]
        if text in self.rewrites:
            answer: dict[str, Any] = {
                "text": self.rewrites[text],
                "rewritten": True,
                "layer": self.layer,
                "score": 0.9,
                "explanation": "test rewrite",
            }
            if self.artifact_version is not None:
                answer["artifact_version"] = self.artifact_version
            return web.json_response(answer)
        return web.json_response({"text": text, "rewritten": False})

    async def _events(self, request: web.Request) -> web.Response:
        refused, body = await self._guard(request, "ingest")
        if refused is not None:
            return refused
        if not isinstance(body, list):
            return self._error(422, "invalid_request", "expected a sequence", field=".")
        for index, event in enumerate(body):
            try:
                validate_event(event)
            except jsonschema.ValidationError as err:
                self.refused_batches.append(body)
                return self._error(
                    422, "invalid_event", err.message, index=index, field=err.json_path
                )
        async with self._arrived:
            self.events.extend(body)
            self._arrived.notify_all()
        return web.json_response(
            {"accepted": len(body), "inserted": len(body), "duplicates": 0}
        )


class KitchenLight(LightEntity):
    """A plain on/off light whose state changes only through Home Assistant's services."""

    _attr_name = "Kitchen Light"
    _attr_unique_id = "kitchen_light"
    _attr_color_mode = ColorMode.ONOFF
    _attr_supported_color_modes = {ColorMode.ONOFF}
    _attr_is_on = False

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn on."""
        self._attr_is_on = True
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn off."""
        self._attr_is_on = False
        self.async_write_ha_state()


@dataclass
class Home:
    """The test home: a kitchen with a light, a satellite and the satellite's player."""

    light_entity_id: str
    satellite_id: str
    player_entity_id: str
    kitchen_area_id: str


async def setup_entry(
    hass: HomeAssistant,
    url: str,
    *,
    token: str | None = TOKEN,
    rewrite_timeout: float = 1.0,
    event_timeout: float = 5.0,
    rewrite_enabled: bool = True,
) -> MockConfigEntry:
    """Add and set up a selflearn config entry pointing at `url`."""
    data = {CONF_URL: url}
    if token is not None:
        data[CONF_TOKEN] = token
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=data,
        options={
            CONF_REWRITE_ENABLED: rewrite_enabled,
            CONF_REWRITE_TIMEOUT: rewrite_timeout,
            CONF_EVENT_TIMEOUT: event_timeout,
        },
        unique_id=url,
        title="selflearn",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
