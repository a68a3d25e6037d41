"""A pre-NLU rewrite hook as an HTTP proxy in front of Rasa.

Clients talk to the proxy as they would to Rasa. For the two routes that carry a person's
words it asks selflearn ``POST /v1/rewrite`` first:

* ``POST /webhooks/rest/webhook`` (``{"sender", "message", "metadata"}``): ``message`` is
  replaced by the rewrite, and ``metadata.selflearn`` records the device asked for and, when
  a rewrite was applied, ``rewrite`` (original text, rewritten text, layer, artifact version,
  score). Rasa stores the metadata with the user message, its event broker publishes it, and
  the event consumer turns it into the turn event's ``rewrite`` record.
* ``POST /model/parse`` (``{"text"}``, plus optional ``sender`` and ``metadata`` that Rasa
  ignores): ``text`` is replaced, and the answer gains ``selflearn.rewrite``.

Every other request is passed through untouched (a streamed answer stays streamed), so the
proxy can stand in front of the whole Rasa server. Whatever happens with selflearn, Rasa gets
the request, with the original text when there is no rewrite within the timeout.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from . import __version__
from .rewriter import AppliedRewrite, Rewriter
from .turns import DEVICE_KINDS, METADATA_KEY, valid_id

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/rest/webhook"
PARSE_PATH = "/model/parse"
HEALTH_PATH = "/selflearn-proxy/health"

# Headers that belong to one connection and are not forwarded (RFC 9110, section 7.6.1).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# Client metadata the proxy keeps under ``metadata.selflearn``; ``rewrite`` is only ever
# written by the proxy itself, so a client cannot claim a rewrite that did not happen.
_CLIENT_KEYS = ("user_id", "context", "asr_confidence")


@dataclass(frozen=True)
class ProxySettings:
    """Where Rasa is and how patient to be with it."""

    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_s: float = 30.0
    max_body_bytes: int = 1 << 20
    #: The device of a rewrite request whose client names none in its metadata; without an
    #: id, ``rasa-<input_channel>`` (``rasa-rest``), as the event consumer's default.
    device_id: Optional[str] = None
    device_kind: str = "other"
    has_screen: bool = True
    #: The user id of ``/model/parse`` requests that name no ``sender``.
    anonymous_user: str = "anonymous"


class RewriteProxy:
    """Rewrites request bodies; :meth:`make_server` serves it over HTTP."""

    def __init__(self, settings: ProxySettings, rewriter: Rewriter) -> None:
        parts = urlsplit(settings.rasa_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Rasa URL must be http(s)://host[:port], got {settings.rasa_url!r}")
        probe = {
            "id": settings.device_id or "rasa",
            "kind": settings.device_kind,
            "has_screen": settings.has_screen,
        }
        if not _valid_device(probe):
            raise ValueError(f"default device {probe!r} is not a valid schema-v1 device")
        self.settings = settings
        self.rewriter = rewriter
        self._rasa_scheme = parts.scheme
        self._rasa_host = parts.hostname
        self._rasa_port = parts.port
        self._rasa_prefix = parts.path.rstrip("/")

    # -- body rewriting (no I/O but the rewrite request) --------------------------------

    def prepare_webhook(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """The REST-channel body to forward: message rewritten, ``metadata.selflearn`` set."""
        message = body.get("message")
        metadata = body.get("metadata")
        if not isinstance(message, str) or not (metadata is None or isinstance(metadata, dict)):
            return body
        sender = body.get("sender")
        # Rasa's REST channel names a message without sender "default".
        user_id = sender if isinstance(sender, str) and sender else "default"
        channel = body.get("input_channel")
        channel = channel if isinstance(channel, str) and valid_id(channel) else "rest"
        ours, device, user_id, context = self._ours(metadata, user_id, f"rasa-{channel}")
        applied = self.rewriter.rewrite(
            user_id=user_id, device=device, text=message, context=context
        )
        out = dict(body)
        if applied is not None:
            out["message"] = applied.rewritten_text
            ours["rewrite"] = applied.as_metadata()
        out["metadata"] = {**(metadata or {}), METADATA_KEY: ours}
        return out

    def prepare_parse(
        self, body: Dict[str, Any]
    ) -> Tuple[Dict[str, Any], Optional[AppliedRewrite]]:
        """The ``/model/parse`` body to forward, and the rewrite applied to it."""
        text = body.get("text")
        metadata = body.get("metadata")
        if not isinstance(text, str) or not (metadata is None or isinstance(metadata, dict)):
            return body, None
        sender = body.get("sender")
        user_id = sender if isinstance(sender, str) and sender else self.settings.anonymous_user
        _, device, user_id, context = self._ours(metadata, user_id, "rasa")
        applied = self.rewriter.rewrite(user_id=user_id, device=device, text=text, context=context)
        if applied is None:
            return body, None
        return {**body, "text": applied.rewritten_text}, applied

    def default_device(self, default_id: str) -> Dict[str, Any]:
        return {
            "id": self.settings.device_id or default_id,
            "kind": self.settings.device_kind,
            "has_screen": self.settings.has_screen,
        }

    def _ours(
        self, metadata: Optional[Dict[str, Any]], user_id: str, default_device_id: str
    ) -> Tuple[Dict[str, Any], Mapping[str, Any], str, Optional[Dict[str, str]]]:
        given = (metadata or {}).get(METADATA_KEY)
        given = given if isinstance(given, dict) else {}
        ours = {k: given[k] for k in _CLIENT_KEYS if k in given}
        claimed = given.get("device")
        device = (
            _clean_device(claimed)
            if isinstance(claimed, Mapping) and _valid_device(claimed)
            else self.default_device(default_device_id)
        )
        ours["device"] = device
        if valid_id(given.get("user_id")):
            user_id = given["user_id"]
        context = given.get("context")
        context = (
            {k: v for k, v in context.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(context, dict)
            else None
        )
        return ours, device, user_id, context or None

    # -- HTTP ------------------------------------------------------------------------

    def make_server(self, host: str, port: int) -> ThreadingHTTPServer:
        """A threaded HTTP server for this proxy (call ``serve_forever`` on it)."""
        proxy = self

        class Handler(_ProxyHandler):
            pass

        Handler.proxy = proxy

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        return Server((host, port), Handler)

    def rasa_connection(self) -> http.client.HTTPConnection:
        timeout = self.settings.rasa_timeout_s
        if self._rasa_scheme == "https":
            return http.client.HTTPSConnection(self._rasa_host, self._rasa_port, timeout=timeout)
        return http.client.HTTPConnection(self._rasa_host, self._rasa_port, timeout=timeout)

    def rasa_path(self, path: str) -> str:
        return self._rasa_prefix + path


def _valid_device(device: Any) -> bool:
    return (
        isinstance(device, Mapping)
        and valid_id(device.get("id"))
        and device.get("kind") in DEVICE_KINDS
        and isinstance(device.get("has_screen"), bool)
    )


def _clean_device(device: Mapping[str, Any]) -> Dict[str, Any]:
    """Only the schema's fields: selflearn refuses a device with any other."""
    clean = {"id": device["id"], "kind": device["kind"], "has_screen": device["has_screen"]}
    state = device.get("state")
    if isinstance(state, Mapping):
        state = {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, str)}
        if state:
            clean["state"] = state
    return clean


class _BodyTooLargeError(Exception):
    pass


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards one request to Rasa, rewriting the two routes that carry a person's words."""

    proxy: RewriteProxy
    protocol_version = "HTTP/1.1"
    server_version = f"rasa-selflearn-proxy/{__version__}"

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle()

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        if path == HEALTH_PATH and self.command == "GET":
            self._reply_json(200, {"status": "ok", "selflearn": self.proxy.rewriter.state})
            return
        try:
            body = self._read_body()
        except _BodyTooLargeError:
            self._reply_json(413, {"error": "request body too large"})
            self.close_connection = True
            return
        except (OSError, ValueError) as exc:
            logger.info("could not read a request from %s: %s", self.address_string(), exc)
            self.close_connection = True
            return
        applied: Optional[AppliedRewrite] = None
        if self.command == "POST" and path in (WEBHOOK_PATH, PARSE_PATH) and body:
            body, applied = self._rewrite_body(path, body)
        self._forward(body, applied if path == PARSE_PATH else None)

    def _rewrite_body(self, path: str, body: bytes) -> Tuple[bytes, Optional[AppliedRewrite]]:
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return body, None  # Rasa answers the malformed request itself
        if not isinstance(parsed, dict):
            return body, None
        try:
            if path == WEBHOOK_PATH:
                prepared, applied = self.proxy.prepare_webhook(parsed), None
            else:
                prepared, applied = self.proxy.prepare_parse(parsed)
        except Exception:  # never let a bug here keep the message from Rasa
            logger.exception("could not prepare a request for Rasa; forwarding it unchanged")
            return body, None
        if prepared is parsed:
            return body, applied
        return json.dumps(prepared, ensure_ascii=False).encode("utf-8"), applied

    def _read_body(self) -> bytes:
        limit = self.proxy.settings.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        size = int(length)
        if size < 0:
            raise ValueError("negative Content-Length")
        if size > limit:
            raise _BodyTooLargeError()
        return self.rfile.read(size)

    def _read_chunked(self, limit: int) -> bytes:
        chunks: List[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > limit:
                raise _BodyTooLargeError()
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _forward(self, body: bytes, applied: Optional[AppliedRewrite]) -> None:
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in _HOP_BY_HOP
            and k.lower() not in ("host", "content-length", "accept-encoding")
        }
        forwarded_for = self.headers.get("X-Forwarded-For")
        client = self.client_address[0]
        headers["X-Forwarded-For"] = f"{forwarded_for}, {client}" if forwarded_for else client
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn = self.proxy.rasa_connection()
        try:
            try:
                conn.request(
                    self.command,
                    self.proxy.rasa_path(self.path),
                    body=body or None,
                    headers=headers,
                )
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                timed_out = isinstance(exc, socket.timeout)
                logger.error("Rasa did not answer %s %s: %s", self.command, self.path, exc)
                self._reply_json(504 if timed_out else 502, {"error": f"Rasa unreachable: {exc}"})
                return
            try:
                self._relay(resp, applied)
            except (BrokenPipeError, ConnectionResetError):
                logger.debug("the client of %s %s went away", self.command, self.path)
                self.close_connection = True
            except (OSError, http.client.HTTPException) as exc:
                # Headers may be out already: all that is left is to end the connection.
                logger.error(
                    "relaying Rasa's answer to %s %s failed: %s", self.command, self.path, exc
                )
                self.close_connection = True
        finally:
            conn.close()

    def _relay(self, resp: http.client.HTTPResponse, applied: Optional[AppliedRewrite]) -> None:
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        if no_body:
            length = resp.getheader("Content-Length")
            if self.command == "HEAD" and length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            return
        if applied is not None and resp.status == 200:
            data = _with_rewrite(resp.read(), applied)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        length = resp.getheader("Content-Length")
        if length is not None and length.isdigit():
            self.send_header("Content-Length", length)
            self.end_headers()
            self._copy(resp, chunked=False)
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._copy(resp, chunked=True)

    def _copy(self, resp: http.client.HTTPResponse, *, chunked: bool) -> None:
        # read1 returns what has arrived, so a streamed answer (Rasa's ?stream=true) reaches
        # the client as Rasa writes it.
        while True:
            chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
            if not chunk:
                break
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.wfile.write(chunk)
            self.wfile.flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _reply_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _with_rewrite(raw: bytes, applied: AppliedRewrite) -> bytes:
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw
    if not isinstance(parsed, dict):
        return raw
    parsed[METADATA_KEY] = {"rewrite": applied.as_metadata()}
    return json.dumps(parsed, ensure_ascii=False).encode("utf-8")
