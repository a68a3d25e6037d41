"""End to end against the real `selflearn` binary named by SELFLEARN_BIN.

The whole loop: two installations (two tokens bound to two sources, as two config entries)
each mishear "turn on the kitchen light" and repeat it; the turns are stored by `serve`;
`selflearn learn` mines the rewrite; `serve` loads the new artifact set; the next misheard
request is rewritten by selflearn and the real light entity turns on. Then the service is
stopped and `selflearn export` shows every turn stored as sent, stamped with its source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import signal
import subprocess
import time
from typing import Any
import urllib.error
import urllib.request

import aiohttp
import pytest

from homeassistant import config_entries
from homeassistant.components import conversation
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import intent

from custom_components.selflearn.const import CONF_TOKEN, CONF_URL, DOMAIN

from .common import SCHEMA_PATH, Home, setup_entry, validate_event

MISHEARD = "turn of the kitchen light"
MEANT = "turn on the kitchen light"
SOURCES = ("ha-home-a", "ha-home-b")

BIN = os.environ.get("SELFLEARN_BIN")
pytestmark = pytest.mark.skipif(
    not BIN,
    reason="SELFLEARN_BIN is not set: set it to a built selflearn binary "
    "(e.g. target/release/selflearn) to run the end-to-end test",
)


@dataclass
class RealSelflearn:
    """A running `selflearn serve` in a temporary directory."""

    binary: str
    workdir: Path
    url: str
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def log_dir(self) -> Path:
        return self.workdir / "log"

    @property
    def artifacts(self) -> Path:
        return self.workdir / "artifacts"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another selflearn command on the same log; fail with its output."""
        done = subprocess.run(
            [self.binary, *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"selflearn {args} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def stop(self) -> None:
        """SIGTERM, as a supervisor would: every acknowledged event is committed first."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


def _make_token(binary: str, source: str) -> tuple[str, str]:
    """A new token bound to `source`, and the config entry `selflearn token` prints for it."""
    done = subprocess.run(
        [binary, "token", "--name", source, "--role", "ingest,rewrite", "--source", source],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    token = re.search(r"^(slt_\S+)$", done.stdout, re.MULTILINE)
    entry = done.stdout[done.stdout.index("[[server.tokens]]") :]
    assert token is not None, done.stdout
    return token.group(1), entry


@pytest.fixture
def real_selflearn(
    tmp_path: Path, socket_enabled: None
) -> Generator[RealSelflearn, None, None]:
    """Start `$SELFLEARN_BIN serve` with two source-bound tokens; wait until it is healthy."""
    assert BIN is not None
    tokens: dict[str, str] = {}
    config = ["[log]", 'sync = "normal"', ""]
    for source in SOURCES:
        token, entry = _make_token(BIN, source)
        tokens[source] = token
        config.append(entry)
    config_path = tmp_path / "selflearn.toml"
    config_path.write_text("\n".join(config))
    # As an operator would: an empty log and a first (empty) artifact set, so that `serve`
    # watches the set and loads the one `learn` writes later.
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for args in (
        ["ingest", "--log-dir", str(tmp_path / "log"), str(empty)],
        [
            "learn",
            "--log-dir",
            str(tmp_path / "log"),
            "--artifacts",
            str(tmp_path / "artifacts"),
            "--encoder",
            str(tmp_path / "encoder.safetensors"),
        ],
    ):
        subprocess.run([BIN, *args], capture_output=True, timeout=60, check=True)
    out = (tmp_path / "serve.out").open("wb")
    process = subprocess.Popen(
        [
            BIN,
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--log-dir",
            str(tmp_path / "log"),
            "--artifacts",
            str(tmp_path / "artifacts"),
            "--reload-every-ms",
            "200",
            "--config",
            str(config_path),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    server: RealSelflearn | None = None
    try:
        url = _wait_for_listening(tmp_path / "serve.out", process)
        server = RealSelflearn(BIN, tmp_path, url, tokens, process)
        _wait_for_health(url)
        yield server
    finally:
        if server is not None:
            server.stop()
        elif process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        out.close()


def _wait_for_listening(output: Path, process: subprocess.Popen[bytes]) -> str:
    """The address `serve` printed (port 0 picks a free one)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if match := re.search(r"listening on (http://127\.0\.0\.1:\d+)", output.read_text()):
            return match.group(1)
        if process.poll() is not None:
            pytest.fail(f"selflearn serve exited ({process.returncode}):\n{output.read_text()}")
        time.sleep(0.05)
    pytest.fail(f"selflearn serve did not start:\n{output.read_text()}")


def _wait_for_health(url: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=1) as resp:
                if json.load(resp).get("status") == "ok":
                    return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


async def _ask(
    hass: HomeAssistant, agent_id: str, text: str, device_id: str
) -> intent.IntentResponse:
    result = await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id=agent_id, device_id=device_id
    )
    return result.response


async def _wait_sent(hass: HomeAssistant, entry_id: str, count: int) -> None:
    """Wait until the entry's sender had `count` events acknowledged by selflearn."""
    sender = hass.data[DOMAIN][entry_id].sender
    deadline = time.monotonic() + 10
    while sender.sent < count:
        assert time.monotonic() < deadline, f"only {sender.sent} of {count} events acknowledged"
        await asyncio.sleep(0.05)


async def _get_json(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url) as resp:
        return await resp.json()


async def test_the_integration_against_the_real_service(
    hass: HomeAssistant, home: Home, real_selflearn: RealSelflearn
) -> None:
    """Turns stored, a rewrite learned and applied, tokens enforced, events exported."""
    server = real_selflearn
    schema = await hass.async_add_executor_job(server.run, "schema")
    assert json.loads(schema.stdout) == json.loads(SCHEMA_PATH.read_text())

    # The config flow against the real service: a wrong token is refused on the form, and
    # the right one then goes through (on a session whose connection the refusal closed).
    flow = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    refused = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_URL: server.url, CONF_TOKEN: "slt_" + "0" * 64}
    )
    assert refused["type"] == FlowResultType.FORM
    assert refused["errors"] == {CONF_TOKEN: "invalid_auth"}
    created = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_URL: server.url, CONF_TOKEN: server.tokens[SOURCES[0]]}
    )
    assert created["type"] == FlowResultType.CREATE_ENTRY
    await hass.config_entries.async_remove(created["result"].entry_id)

    entries = {
        source: await setup_entry(hass, server.url, token=server.tokens[source])
        for source in SOURCES
    }

    # Each installation: the misheard request fails, the repetition works.
    for source, entry in entries.items():
        failed = await _ask(hass, entry.entry_id, MISHEARD, home.satellite_id)
        assert failed.error_code == intent.IntentResponseErrorCode.NO_VALID_TARGETS
        assert hass.states.get(home.light_entity_id).state == STATE_OFF
        worked = await _ask(hass, entry.entry_id, MEANT, home.satellite_id)
        assert worked.response_type == intent.IntentResponseType.ACTION_DONE
        assert hass.states.get(home.light_entity_id).state == STATE_ON
        await hass.services.async_call(
            "light", "turn_off", {"entity_id": home.light_entity_id}, blocking=True
        )
        await _wait_sent(hass, entry.entry_id, 2)

    async with aiohttp.ClientSession() as session:
        initial_version = (await _get_json(session, f"{server.url}/v1/ready"))[
            "artifact_version"
        ]
    assert initial_version is not None

    # Learn from what the service stored, beside the running service, and wait for it to
    # load the new artifact set.
    learned = await hass.async_add_executor_job(
        server.run,
        "learn",
        "--log-dir",
        str(server.log_dir),
        "--artifacts",
        str(server.artifacts),
        "--encoder",
        str(server.workdir / "encoder.safetensors"),
    )
    assert "1 rewrites mined" in learned.stdout + learned.stderr
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 10
        while (
            version := (await _get_json(session, f"{server.url}/v1/ready")).get(
                "artifact_version"
            )
        ) == initial_version:
            assert time.monotonic() < deadline, "serve never loaded the new artifact set"
            await asyncio.sleep(0.1)
        assert version is not None

        # Now selflearn repairs the mishearing before the built-in agent sees it.
        entry_a = entries[SOURCES[0]]
        repaired = await _ask(hass, entry_a.entry_id, MISHEARD, home.satellite_id)
        assert repaired.response_type == intent.IntentResponseType.ACTION_DONE
        assert hass.states.get(home.light_entity_id).state == STATE_ON
        await _wait_sent(hass, entry_a.entry_id, 3)

    # Without the token the service refuses both routes the integration uses. (A fresh
    # connection each: after refusing a request whose body it did not read, the service
    # closes the connection.)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True)
    ) as session:
        for path in ("/v1/events", "/v1/rewrite"):
            async with session.post(f"{server.url}{path}", json=[]) as resp:
                assert resp.status == 401
                assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
                assert (await resp.json())["error"]["code"] == "unauthorized"

    for entry in entries.values():
        assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_add_executor_job(server.stop)

    export = server.workdir / "events.jsonl"
    await hass.async_add_executor_job(
        server.run, "export", "--log-dir", str(server.log_dir), "--out", str(export)
    )
    stored = [json.loads(line) for line in export.read_text().splitlines() if line.strip()]
    for event in stored:
        validate_event(event)
    assert [(e["source"], e["asr"]["text"]) for e in stored] == [
        (SOURCES[0], MISHEARD),
        (SOURCES[0], MEANT),
        (SOURCES[1], MISHEARD),
        (SOURCES[1], MEANT),
        (SOURCES[0], MISHEARD),
    ]
    assert [e["response"]["outcome"] for e in stored] == [
        "not_understood",
        "success",
        "not_understood",
        "success",
        "success",
    ]
    assert stored[0]["context"]["ha_error_code"] == "no_valid_targets"
    assert all(e["device"]["id"] == home.satellite_id for e in stored)
    assert "rewrite" not in stored[0]
    assert stored[4]["rewrite"]["original_text"] == MISHEARD
    assert stored[4]["rewrite"]["rewritten_text"] == MEANT
    assert stored[4]["rewrite"]["layer"] == "precomputed"
    assert stored[4]["rewrite"]["artifact_version"] == version
