"""A small HTTP client for selflearn's API, built on the standard library.

The adapter sits next to a running assistant, so it keeps its dependencies to none: a
conflicting ``requests`` or ``aiohttp`` pin in a Rasa environment must not stop it from
installing. Every call has a deadline, and transport problems come back as
:class:`TransportError` so callers decide whether to retry, fall back or log.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from . import __version__

USER_AGENT = f"rasa-selflearn/{__version__}"

# Responses of selflearn are small JSON documents; anything larger is not an answer of the
# API and is not read into memory.
_MAX_RESPONSE_BYTES = 1 << 20


class TransportError(Exception):
    """selflearn could not be reached or did not answer within the deadline."""


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, lower-cased headers and the body parsed as JSON when it is."""

    status: int
    headers: Mapping[str, str]
    body: Any = None

    @property
    def error_code(self) -> Optional[str]:
        """The ``error.code`` of selflearn's error body, when there is one."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) else None

    @property
    def error_message(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return message if isinstance(message, str) else f"HTTP {self.status}"

    @property
    def error_index(self) -> Optional[int]:
        """The batch index selflearn names in a refusal of one record."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        index = error.get("index") if isinstance(error, dict) else None
        return index if isinstance(index, int) and not isinstance(index, bool) else None


@dataclass(frozen=True)
class RewriteResult:
    """selflearn's answer to ``POST /v1/rewrite``."""

    text: str
    rewritten: bool
    layer: Optional[str] = None
    score: Optional[float] = None
    artifact_version: Optional[str] = None
    explanation: Optional[str] = None

    @classmethod
    def from_body(cls, body: Any, original: str) -> RewriteResult:
        """Reads an answer defensively: anything unexpected means "not rewritten"."""
        if not isinstance(body, dict):
            return cls(text=original, rewritten=False)
        answer = body.get("text")
        text = answer if isinstance(answer, str) and answer.strip() else None
        rewritten = body.get("rewritten") is True and text is not None
        layer = body.get("layer")
        score = body.get("score")
        version = body.get("artifact_version")
        explanation = body.get("explanation")
        return cls(
            text=text if rewritten and text is not None else original,
            rewritten=rewritten,
            layer=layer if isinstance(layer, str) else None,
            score=float(score)
            if isinstance(score, (int, float)) and not isinstance(score, bool)
            else None,
            artifact_version=version if isinstance(version, str) else None,
            explanation=explanation if isinstance(explanation, str) else None,
        )


@dataclass
class SelflearnClient:
    """Calls one selflearn service.

    ``base_url`` is the service root (``http://127.0.0.1:8080``); ``token`` the bearer token
    from ``selflearn token --role ingest,rewrite``. A fresh connection per call keeps the
    client safe to share between threads and means a restarted service is picked up at once.
    """

    base_url: str
    token: Optional[str] = None
    extra_headers: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"selflearn URL must be http(s)://host[:port], got {self.base_url!r}")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")

    def request(self, method: str, path: str, body: Any = None, *, timeout: float) -> Response:
        """Sends one request and reads the answer, all within ``timeout`` seconds.

        The socket timeout bounds the connect and every read; the deadline is checked again
        between reads so that a peer trickling bytes cannot stretch the call much past it.
        """
        deadline = time.monotonic() + timeout
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.extra_headers}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = self._connection(timeout)
        try:
            conn.request(method, self._prefix + path, body=payload, headers=headers)
            _shrink_timeout(conn, deadline)
            resp = conn.getresponse()
            raw = _read_limited(resp, deadline, conn)
            status = resp.status
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"{method} {path}: {_describe(exc)}") from exc
        finally:
            conn.close()
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                parsed = None
        return Response(status=status, headers=resp_headers, body=parsed)

    def rewrite(
        self,
        *,
        user_id: str,
        device: Mapping[str, Any],
        text: str,
        timeout: float,
        timestamp_ms: Optional[int] = None,
        context: Optional[Mapping[str, str]] = None,
    ) -> Tuple[RewriteResult, Response]:
        """Asks ``POST /v1/rewrite``; raises :class:`TransportError` or returns the answer.

        A non-200 answer is returned as "not rewritten" together with the response, so the
        caller can log why.
        """
        body: Dict[str, Any] = {"user_id": user_id, "device": dict(device), "text": text}
        if timestamp_ms is not None:
            body["timestamp_ms"] = timestamp_ms
        if context:
            body["context"] = dict(context)
        resp = self.request("POST", "/v1/rewrite", body, timeout=timeout)
        if resp.status != 200:
            return RewriteResult(text=text, rewritten=False), resp
        return RewriteResult.from_body(resp.body, text), resp

    def post_events(self, events: Sequence[Mapping[str, Any]], *, timeout: float) -> Response:
        """Sends one batch to ``POST /v1/events``."""
        return self.request("POST", "/v1/events", list(events), timeout=timeout)

    def health(self, *, timeout: float) -> Response:
        return self.request("GET", "/v1/health", timeout=timeout)

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)


def _shrink_timeout(conn: http.client.HTTPConnection, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise socket.timeout("deadline passed")
    if conn.sock is not None:
        conn.sock.settimeout(remaining)


def _read_limited(
    resp: http.client.HTTPResponse, deadline: float, conn: http.client.HTTPConnection
) -> bytes:
    chunks: List[bytes] = []
    total = 0
    while True:
        _shrink_timeout(conn, deadline)
        chunk = resp.read(16384)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > _MAX_RESPONSE_BYTES:
            raise http.client.HTTPException("response larger than expected")
        chunks.append(chunk)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
