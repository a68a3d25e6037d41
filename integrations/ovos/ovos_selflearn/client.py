"""A small HTTP client for selflearn's ``/v1/rewrite`` and ``/v1/events``.

It uses ``http.client`` from the standard library rather than a third-party client so that
every socket operation has an explicit timeout and nothing (environment proxies, retries,
connection pools) happens behind the adapter's back: the transformer runs inside the
assistant's utterance path and must know exactly how long a call can take.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

from ovos_selflearn.version import __version__

#: Largest response body read; selflearn's answers are a few hundred bytes.
MAX_RESPONSE_BYTES = 1 << 20

USER_AGENT = f"ovos-selflearn/{__version__}"


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: the status and the decoded JSON body (``None`` when it was not JSON)."""

    status: int
    body: Any

    @property
    def error_code(self) -> Optional[str]:
        """selflearn's ``error.code`` (e.g. ``invalid_event``), when the body carries one."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code = self.body["error"].get("code")
            return code if isinstance(code, str) else None
        return None

    @property
    def error_index(self) -> Optional[int]:
        """The index of the refused record in a batch, when selflearn names one."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            index = self.body["error"].get("index")
            if isinstance(index, int) and not isinstance(index, bool):
                return index
        return None


class SelflearnClient:
    """Calls one selflearn service; each call opens its own short-lived connection.

    A fresh connection per call costs a TCP handshake on a LAN, which is nothing next to speech
    recognition, and means a half-dead keep-alive socket can never stall a later request.
    """

    def __init__(self, url: str, token: Optional[str] = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"selflearn url must be http:// or https://, got {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._token = token

    def rewrite(self, request: Dict[str, Any], timeout: float) -> Reply:
        """``POST /v1/rewrite``; raises ``OSError`` (timeouts included) when it gets no answer."""
        return self._post("/v1/rewrite", request, timeout)

    def post_events(self, events: List[Dict[str, Any]], timeout: float) -> Reply:
        """``POST /v1/events`` with a batch; raises ``OSError`` when it gets no answer."""
        return self._post("/v1/events", events, timeout)

    def health(self, timeout: float) -> Reply:
        """``GET /v1/health``."""
        return self._request("GET", "/v1/health", None, timeout)

    def _post(self, path: str, payload: Any, timeout: float) -> Reply:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self._request("POST", path, body, timeout)

    def _request(self, method: str, path: str, body: Optional[bytes], timeout: float) -> Reply:
        connection = self._connect(timeout)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT,
                   "Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            connection.request(method, self._prefix + path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read(MAX_RESPONSE_BYTES + 1)
            status = response.status
        except http.client.HTTPException as error:
            raise OSError(f"bad HTTP answer from {self.url}: {error!r}") from error
        finally:
            connection.close()
        if len(raw) > MAX_RESPONSE_BYTES:
            raise OSError(f"answer from {self.url}{path} is larger than {MAX_RESPONSE_BYTES} B")
        try:
            decoded = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            decoded = None
        return Reply(status=status, body=decoded)

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)
