"""Test support: broker-event builders and fake servers.

The fakes are small threaded HTTP servers on loopback that record every request. The fake
selflearn answers as the real API does (the status codes and bodies of README's "HTTP API"),
including 401 for a wrong token and 409 for an id stored with other content; the fake Rasa
answers like Rasa's REST channel and ``/model/parse``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "slt_test_token"


def broker(
    event: Dict[str, Any], sender_id: str, timestamp: float, **fields: Any
) -> Dict[str, Any]:
    """A broker message: an event of ``rasa_sdk.events`` plus what Rasa's tracker store adds
    when it publishes (``sender_id``, the event's ``timestamp``, and for user messages the
    ``message_id`` and ``metadata`` of Rasa's own ``UserUttered.as_dict``)."""
    message = {"sender_id": sender_id, **event, "timestamp": timestamp}
    message.update(fields)
    return message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: Any


class _Server:
    """A threaded HTTP server whose handler calls ``self.handle``."""

    def __init__(self) -> None:
        owner = self
        self.requests: List[Recorded] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                record = Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with owner._lock:
                    owner.requests.append(record)
                status, headers, payload = owner.handle(record)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815 (the stdlib's names)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def handle(self, request: Recorded) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def on(self, path: str) -> List[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]


@dataclass
class _Behaviour:
    rewrites: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: Seconds to sleep before answering a rewrite (a hanging selflearn).
    rewrite_delay_s: float = 0.0
    #: Statuses to answer POST /v1/events with, one per request, before answering normally.
    event_failures: List[int] = field(default_factory=list)


class FakeSelflearn(_Server):
    """Answers /v1/health, /v1/rewrite and /v1/events like selflearn, storing events."""

    JSON = {"Content-Type": "application/json"}

    def __init__(self, token: Optional[str] = TOKEN) -> None:
        self.token = token
        self.behaviour = _Behaviour()
        self.stored: Dict[str, Dict[str, Any]] = {}
        super().__init__()

    def handle(self, request: Recorded) -> Any:
        path = request.path.split("?")[0]
        if path == "/v1/health":
            return 200, self.JSON, {"status": "ok", "version": "fake"}
        if (
            self.token is not None
            and request.headers.get("authorization") != f"Bearer {self.token}"
        ):
            return (
                401,
                {**self.JSON, "WWW-Authenticate": "Bearer"},
                {"error": {"code": "unauthorized", "message": "unknown token"}},
            )
        if path == "/v1/rewrite" and request.method == "POST":
            if self.behaviour.rewrite_delay_s:
                time.sleep(self.behaviour.rewrite_delay_s)
            text = request.body["text"]
            answer = self.behaviour.rewrites.get(text)
            if answer is None:
                return 200, self.JSON, {"text": text, "rewritten": False}
            return 200, self.JSON, {"rewritten": True, **answer}
        if path == "/v1/events" and request.method == "POST":
            if self.behaviour.event_failures:
                status = self.behaviour.event_failures.pop(0)
                return status, self.JSON, {"error": {"code": "internal", "message": "try later"}}
            return self._store(request.body)
        return 404, self.JSON, {"error": {"code": "not_found", "message": path}}

    def _store(self, batch: List[Dict[str, Any]]) -> Any:
        seen: Dict[str, int] = {}
        for index, event in enumerate(batch):
            event_id = event["event_id"]
            if event_id in seen:
                return (
                    422,
                    self.JSON,
                    {
                        "error": {
                            "code": "duplicate_event_id",
                            "message": f"record {index} repeats",
                            "index": index,
                            "field": "event_id",
                        }
                    },
                )
            seen[event_id] = index
            if event_id in self.stored and self.stored[event_id] != event:
                return (
                    409,
                    self.JSON,
                    {
                        "error": {
                            "code": "conflicting_event_id",
                            "message": f"record {index}: other content",
                            "index": index,
                            "field": "event_id",
                        }
                    },
                )
        inserted = 0
        for event in batch:
            if event["event_id"] not in self.stored:
                self.stored[event["event_id"]] = event
                inserted += 1
        return (
            200,
            self.JSON,
            {"accepted": len(batch), "inserted": inserted, "duplicates": len(batch) - inserted},
        )


class FakeRasa(_Server):
    """Answers like Rasa's REST channel (echoing the message it got) and /model/parse."""

    def handle(self, request: Recorded) -> Any:
        path = request.path.split("?")[0]
        json_type = {"Content-Type": "application/json"}
        if path == "/webhooks/rest/webhook":
            body = request.body
            return (
                200,
                json_type,
                [
                    {
                        "recipient_id": body.get("sender") or "default",
                        "text": f"you said: {body['message']}",
                    }
                ],
            )
        if path == "/model/parse":
            text = request.body["text"]
            return (
                200,
                json_type,
                {
                    "text": text,
                    "intent": {"name": "play_music", "confidence": 0.97},
                    "entities": [],
                },
            )
        if path == "/":
            return 200, {"Content-Type": "text/plain"}, b"Hello from Rasa: 3.6.21"
        return 404, json_type, {"status": "failure", "message": "not found"}


class HangingServer:
    """Accepts connections and never answers (until closed)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: List[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self.accepted:
            conn.close()
        self.sock.close()
