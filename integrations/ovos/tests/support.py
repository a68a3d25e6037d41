"""Stand-ins for the selflearn service and helpers shared by the tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_PATH = FIXTURES / "turn-event.v1.schema.json"
TOKEN = "slt_" + "ab" * 32


def event_validator():
    """A JSON Schema (2020-12) validator for the turn-event schema copied into fixtures/."""
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid_event(event: Dict[str, Any]) -> None:
    errors = sorted(event_validator().iter_errors(event), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


class FakeSelflearn:
    """A threaded HTTP server answering like selflearn's ``/v1/rewrite`` and ``/v1/events``.

    It records every request, checks the bearer token (401 like the real service), validates
    each posted event against the schema (422 ``invalid_event`` with the record's index) and
    rewrites the texts listed in ``rewrites``.
    """

    def __init__(self, token: Optional[str] = TOKEN) -> None:
        self.token = token
        self.rewrites: Dict[str, Dict[str, Any]] = {}
        self.requests: List[Dict[str, Any]] = []
        self.events: List[Dict[str, Any]] = []
        self.fail_events_with: List[int] = []  # statuses to answer before accepting events
        self._validator = event_validator()
        self._changed = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/v1/health":
                    self._answer(200, {"status": "ok", "version": "fake"})
                else:
                    self._answer(404, {"error": {"code": "not_found", "message": self.path}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else None
                record = {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                with server._changed:
                    server.requests.append(record)
                    server._changed.notify_all()
                if server.token is not None and \
                        self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._answer(401, {"error": {"code": "unauthorized",
                                                 "message": "missing or unknown token"}})
                elif self.path == "/v1/rewrite":
                    self._answer(200, server._rewrite(body))
                elif self.path == "/v1/events":
                    self._answer(*server._ingest(body))
                else:
                    self._answer(404, {"error": {"code": "not_found", "message": self.path}})

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def _rewrite(self, body: Dict[str, Any]) -> Dict[str, Any]:
        text = body["text"]
        rule = self.rewrites.get(text)
        if rule is None:
            return {"text": text, "rewritten": False}
        return {"text": rule["text"], "rewritten": True, "layer": rule.get("layer", "precomputed"),
                "score": rule.get("score", 0.9), "explanation": "fake",
                "artifact_version": rule.get("artifact_version", "v-test-1")}

    def _ingest(self, body: Any) -> Tuple[int, Dict[str, Any]]:
        if self.fail_events_with:
            status = self.fail_events_with.pop(0)
            return status, {"error": {"code": "overloaded" if status == 429 else "internal",
                                      "message": "try again"}}
        if not isinstance(body, list):
            return 422, {"error": {"code": "invalid_request", "message": "not an array",
                                   "field": "."}}
        for index, event in enumerate(body):
            error = next(iter(self._validator.iter_errors(event)), None)
            if error is not None:
                return 422, {"error": {"code": "invalid_event", "message": error.message,
                                       "index": index,
                                       "field": ".".join(str(p) for p in error.path) or "."}}
        with self._changed:
            self.events.extend(body)
            self._changed.notify_all()
        return 200, {"accepted": len(body), "inserted": len(body), "duplicates": 0}

    def wait_for_events(self, count: int, timeout: float = 5.0) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.events) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.events)

    def requests_to(self, path: str) -> List[Dict[str, Any]]:
        with self._changed:
            return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class HangingServer:
    """Accepts connections and never answers, until closed: a selflearn that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: List[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._closed.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(connection)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        for connection in self.connections:
            connection.close()
        self.sock.close()


#: The pipeline the tests' sessions use: ovos-core's own plugins plus Padacioso, which
#: ovos-core installs (Padatious and Adapt are separate packages).
PIPELINE = ["ovos-stop-pipeline-plugin-high", "ovos-converse-pipeline-plugin",
            "ovos-padacioso-pipeline-plugin-high", "ovos-fallback-pipeline-plugin-low"]


def utterance_message(utterances, session_id: str = "kitchen-session", lang: str = "en-US",
                      **context: Any):
    """``recognizer_loop:utterance`` as ovos-dinkum-listener emits it after STT."""
    from ovos_bus_client.message import Message
    from ovos_bus_client.session import Session

    session = Session(session_id)
    session.pipeline = list(PIPELINE)
    session.lang = lang
    if isinstance(utterances, str):
        utterances = [utterances]
    base = {"session": session.serialize(), "source": "audio", "destination": ["skills"],
            "client_name": "ovos_dinkum_listener"}
    base.update(context)
    return Message("recognizer_loop:utterance", {"utterances": list(utterances), "lang": lang},
                   base)


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class OvosStack:
    """ovos-core's IntentService with this plugin loaded from ``mycroft.conf``, and the test
    skill, on one FakeBus; the transformer is bound to that bus, which starts its turn logger
    there (in a real install it opens its own messagebus connection instead)."""

    def __init__(self, write_conf, block: Dict[str, Any]) -> None:
        from ovos_bus_client.message import Message
        from ovos_core.intent_services import IntentService
        from ovos_utils.fakebus import FakeBus

        from ovos_selflearn.settings import Settings
        from weather_skill import SKILL_ID, WeatherSkill

        write_conf({"utterance_transformers": {
            "ovos-selflearn": {**block, "log_turns": False},
            "ovos-utterance-corrections-plugin": {"active": False}}})
        self.bus = FakeBus()
        self.service = IntentService(self.bus)
        self.skill = WeatherSkill(bus=self.bus, skill_id=SKILL_ID)
        self.plugin = self.service.utterance_plugins.loaded_plugins["ovos-selflearn"]
        self.plugin.settings = Settings.from_config({**self.plugin.config, "log_turns": True})
        self.plugin.bind(self.bus)
        self.seen: List[Any] = []
        self.bus.on("message", lambda raw: self.seen.append(Message.deserialize(raw)))

    def types(self) -> List[str]:
        return [m.msg_type for m in self.seen]

    def say(self, text: str, until: str, count: int = 1, **context: Any) -> None:
        """Emits an utterance and waits until ``until`` was seen ``count`` times in all."""
        self.bus.emit(utterance_message(text, **context))
        assert wait_until(lambda: self.types().count(until) >= count), \
            f"no {until} after {text!r}: {self.types()}"

    def close(self) -> None:
        self.plugin.shutdown()
        self.skill.default_shutdown()
        self.service.shutdown()


class TricklingServer(HangingServer):
    """Answers one byte at a time, each well within a socket timeout: only a deadline on the
    whole call, not a per-read timeout, stops a client from waiting for it."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        super().__init__()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._closed.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(connection)
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"." * 200
        for byte in answer:
            if self._closed.wait(self.interval):
                return
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                return
