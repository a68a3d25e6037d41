"""Running the proxy in a thread, and talking to it, for the proxy tests."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest

from rasa_selflearn.client import SelflearnClient
from rasa_selflearn.proxy import ProxySettings, RewriteProxy
from rasa_selflearn.rewriter import Rewriter

from support import TOKEN

StartProxy = Callable[..., Tuple[str, RewriteProxy]]


@pytest.fixture
def start_proxy() -> Iterator[StartProxy]:
    servers: List[Any] = []

    def start(
        selflearn_url: str,
        rasa_url: str,
        *,
        token: Optional[str] = TOKEN,
        rewrite_timeout: float = 1.0,
        cooldown: float = 10.0,
        **settings: Any,
    ) -> Tuple[str, RewriteProxy]:
        rewriter = Rewriter(
            SelflearnClient(selflearn_url, token=token),
            timeout_s=rewrite_timeout,
            cooldown_s=cooldown,
        )
        proxy = RewriteProxy(ProxySettings(rasa_url=rasa_url, **settings), rewriter)
        server = proxy.make_server("127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", proxy

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def call(
    base: str, method: str, path: str, body: Any = None, timeout: float = 10.0
) -> Tuple[int, Any, float, Dict[str, str]]:
    """One request; returns status, the body (JSON when it parses), seconds taken, headers."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    started = time.monotonic()
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        elapsed = time.monotonic() - started
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw
        return resp.status, parsed, elapsed, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def say(
    base: str, sender: str, message: str, metadata: Optional[Dict[str, Any]] = None
) -> Tuple[int, Any, float]:
    body: Dict[str, Any] = {"sender": sender, "message": message}
    if metadata is not None:
        body["metadata"] = metadata
    status, parsed, elapsed, _ = call(base, "POST", "/webhooks/rest/webhook", body)
    return status, parsed, elapsed
