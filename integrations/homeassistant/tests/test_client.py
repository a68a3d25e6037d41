"""The HTTP client: deadlines, error bodies, and connections closed under it."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from custom_components.selflearn.client import (
    SelflearnAuthError,
    SelflearnClient,
    SelflearnConnectionError,
    SelflearnResponseError,
)

from .common import TOKEN, FakeSelflearn

_DEVICE = {"id": "d", "kind": "speaker", "has_screen": False}


async def test_a_connection_closed_before_the_answer_is_tried_once_more(
    socket_enabled: None,
) -> None:
    """The first connection is dropped without an answer; the request goes again."""
    connections = 0

    async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        if connections == 1:
            writer.close()
            return
        body = json.dumps({"text": "unchanged", "rewritten": False}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            client = SelflearnClient(session, f"http://127.0.0.1:{port}", TOKEN)
            answer = await client.async_rewrite(
                {"user_id": "u", "device": _DEVICE, "text": "unchanged"}, 2.0
            )
        assert answer.text == "unchanged" and answer.rewritten is False
        assert connections == 2
    finally:
        server.close()
        await server.wait_closed()


async def test_error_bodies_become_typed_errors(selflearn: FakeSelflearn) -> None:
    """401 is an auth error, 422 a refused request (not retryable); codes are kept."""
    async with aiohttp.ClientSession() as session:
        unknown = SelflearnClient(session, selflearn.url, "slt_unknown")
        with pytest.raises(SelflearnAuthError) as auth:
            await unknown.async_post_events([], 2.0)
        assert auth.value.code == "unauthorized"

        client = SelflearnClient(session, selflearn.url, TOKEN)
        with pytest.raises(SelflearnResponseError) as refused:
            await client.async_post_events([{"event_id": "only"}], 2.0)
        assert refused.value.status == 422
        assert refused.value.code == "invalid_event"
        assert refused.value.retryable is False


async def test_the_deadline_covers_a_stalled_answer(selflearn: FakeSelflearn) -> None:
    """A service that never answers costs the timeout, then a connection error."""
    selflearn.hang = True
    async with aiohttp.ClientSession() as session:
        client = SelflearnClient(session, selflearn.url, TOKEN)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(SelflearnConnectionError):
            await client.async_rewrite({"user_id": "u", "device": _DEVICE, "text": "x"}, 0.3)
        assert loop.time() - started < 1.0
