"""Asking selflearn for a rewrite without ever holding up the assistant.

A rewrite is an improvement, never a dependency: any problem (selflearn down, slow, refusing
the token, answering nonsense) yields "no rewrite" within the timeout. After a transport
failure or a 5xx the rewriter stops asking for ``cooldown_s`` seconds, so a hanging
selflearn costs one timeout per cool-down period instead of one per message.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional

from .client import RewriteResult, SelflearnClient, TransportError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppliedRewrite:
    """A rewrite to apply: what Rasa gets instead of ``original_text``."""

    original_text: str
    rewritten_text: str
    layer: str
    artifact_version: Optional[str]
    score: Optional[float]

    def as_metadata(self) -> Dict[str, Any]:
        record: Dict[str, Any] = {
            "original_text": self.original_text,
            "rewritten_text": self.rewritten_text,
            "layer": self.layer,
        }
        if self.artifact_version is not None:
            record["artifact_version"] = self.artifact_version
        if self.score is not None:
            record["score"] = self.score
        return record


class Rewriter:
    """Wraps :meth:`SelflearnClient.rewrite` with skip rules, a timeout and a breaker.

    Thread-safe: the proxy calls it from one thread per request.
    """

    def __init__(
        self,
        client: Optional[SelflearnClient],
        *,
        timeout_s: float = 1.0,
        cooldown_s: float = 10.0,
        max_text_bytes: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self.max_text_bytes = max_text_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._last_warning: Dict[str, float] = {}
        self._healthy: Optional[bool] = None

    @property
    def state(self) -> str:
        """``up``, ``down`` (cooling down after a failure) or ``unknown`` (not asked yet)."""
        with self._lock:
            if self.client is None:
                return "disabled"
            if self._clock() < self._open_until:
                return "down"
            if self._healthy is None:
                return "unknown"
            return "up" if self._healthy else "down"

    def rewrite(
        self,
        *,
        user_id: str,
        device: Mapping[str, Any],
        text: str,
        context: Optional[Mapping[str, str]] = None,
    ) -> Optional[AppliedRewrite]:
        """The rewrite to apply to ``text``, or ``None``: never raises."""
        if self.client is None or not self._worth_asking(text):
            return None
        with self._lock:
            if self._clock() < self._open_until:
                return None
        try:
            result, resp = self.client.rewrite(
                user_id=user_id,
                device=device,
                text=text,
                timeout=self.timeout_s,
                timestamp_ms=int(time.time() * 1000),
                context=context,
            )
        except TransportError as exc:
            self._failed(f"selflearn did not answer a rewrite request: {exc}", trip=True)
            return None
        except Exception:  # a bug here must not reach the assistant
            logger.exception("unexpected error asking selflearn for a rewrite")
            return None
        if resp.status != 200:
            trip = resp.status >= 500 or resp.status == 429
            self._failed(
                f"selflearn refused a rewrite request: HTTP {resp.status} {resp.error_message}",
                trip=trip,
            )
            return None
        self._succeeded()
        return _applied(result, text)

    def _worth_asking(self, text: Any) -> bool:
        if not isinstance(text, str) or not text.strip():
            return False
        # "/intent{...}" is Rasa's syntax for a button payload or a forced intent: it
        # bypasses NLU, and a rewrite would break it.
        if text.lstrip().startswith("/"):
            return False
        return len(text.encode("utf-8")) <= self.max_text_bytes

    def _failed(self, message: str, *, trip: bool) -> None:
        now = self._clock()
        with self._lock:
            self._healthy = False
            if trip:
                self._open_until = now + self.cooldown_s
            last = self._last_warning.get(message.split(":")[0], -1e18)
            loud = now - last >= max(self.cooldown_s, 1.0)
            if loud:
                self._last_warning[message.split(":")[0]] = now
        if loud:
            suffix = f"; not asking for {self.cooldown_s:g} s" if trip else ""
            logger.warning("%s; forwarding the original text%s", message, suffix)
        else:
            logger.debug("%s", message)

    def _succeeded(self) -> None:
        with self._lock:
            was = self._healthy
            self._healthy = True
            self._last_warning.clear()
        if was is False:
            logger.info("selflearn answers rewrite requests again")


def _applied(result: RewriteResult, text: str) -> Optional[AppliedRewrite]:
    if not result.rewritten or result.text == text or not result.layer:
        return None
    return AppliedRewrite(
        original_text=text,
        rewritten_text=result.text,
        layer=result.layer,
        artifact_version=result.artifact_version,
        score=result.score if result.score is not None and 0 <= result.score <= 1 else None,
    )
