"""Posts turn events to selflearn in batches, with bounded retries.

selflearn validates a batch whole and refuses it for one bad record, naming the record's
index. Refusing the other records with it would lose good turns for one bad one, so a record
selflearn names (invalid, or already stored with other content) is dropped and logged and the
rest is sent again at once. Transport failures, 5xx, 408 and 429 are retried a bounded number
of times with exponential backoff; what still cannot be delivered is returned to the caller,
never raised, so a consumer can keep it (or its broker messages) for later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from .client import Response, SelflearnClient, TransportError

logger = logging.getLogger(__name__)

#: Error codes with which selflearn refuses one named record of a batch.
RECORD_REFUSALS = frozenset(
    {"invalid_event", "conflicting_event_id", "duplicate_event_id", "other_source"}
)

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class Refusal:
    """One record selflearn refused, and why."""

    event_id: Optional[str]
    code: str
    message: str


@dataclass
class SendReport:
    """The outcome of :meth:`EventSender.send`."""

    accepted: int = 0
    inserted: int = 0
    duplicates: int = 0
    refused: List[Refusal] = field(default_factory=list)
    undelivered: List[Mapping[str, Any]] = field(default_factory=list)
    #: Set when selflearn refuses the caller itself (401, 403): retrying will not help.
    fatal: Optional[str] = None
    errors: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.undelivered

    def merge(self, other: SendReport) -> None:
        self.accepted += other.accepted
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.refused.extend(other.refused)
        self.undelivered.extend(other.undelivered)
        self.errors.extend(other.errors)
        self.fatal = self.fatal or other.fatal


@dataclass
class EventSender:
    """Sends turn events through a :class:`SelflearnClient`.

    ``attempts`` bounds the tries per batch (first try included); ``backoff_s`` doubles after
    each failed try, capped at ``max_backoff_s`` (a ``Retry-After`` from selflearn counts
    instead when it is longer, within the same cap).
    """

    client: SelflearnClient
    batch_size: int = 500
    timeout_s: float = 10.0
    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch size must be at least 1")
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def send(self, events: Sequence[Mapping[str, Any]]) -> SendReport:
        """Delivers ``events``; never raises for network or service problems."""
        report = SendReport()
        for start in range(0, len(events), self.batch_size):
            batch = list(events[start : start + self.batch_size])
            if report.fatal:
                report.undelivered.extend(batch)
                continue
            report.merge(self._send_batch(batch))
        return report

    def _send_batch(self, batch: List[Mapping[str, Any]]) -> SendReport:
        report = SendReport()
        failures = 0
        while batch:
            resp: Optional[Response]
            try:
                resp = self.client.post_events(batch, timeout=self.timeout_s)
                problem = f"HTTP {resp.status}: {resp.error_message}"
            except TransportError as exc:
                resp = None
                problem = str(exc)
            if resp is not None and resp.status == 200:
                body = resp.body if isinstance(resp.body, dict) else {}
                report.accepted += _count(body, "accepted", len(batch))
                report.inserted += _count(body, "inserted", 0)
                report.duplicates += _count(body, "duplicates", 0)
                return report
            if resp is not None and resp.error_code in RECORD_REFUSALS:
                index = resp.error_index
                if index is not None and 0 <= index < len(batch):
                    refused = batch.pop(index)
                    event_id = refused.get("event_id") if isinstance(refused, Mapping) else None
                    logger.warning(
                        "selflearn refused event %s (%s): %s; sending the rest of its batch",
                        event_id,
                        resp.error_code,
                        resp.error_message,
                    )
                    report.refused.append(
                        Refusal(
                            event_id=event_id,
                            code=resp.error_code or "",
                            message=resp.error_message,
                        )
                    )
                    continue
            if resp is not None and resp.status == 413 and len(batch) > 1:
                half = len(batch) // 2
                logger.info("selflearn found a batch of %d too large; halving it", len(batch))
                report.merge(self._send_batch(batch[:half]))
                report.merge(self._send_batch(batch[half:]))
                return report
            if resp is not None and resp.status in (401, 403):
                report.fatal = f"selflearn refused the token: {problem}"
                logger.error("%s; %d events not sent", report.fatal, len(batch))
                report.undelivered.extend(batch)
                report.errors.append(problem)
                return report
            if resp is not None and resp.status not in _RETRY_STATUSES:
                logger.error("selflearn refused a batch of %d events: %s", len(batch), problem)
                report.undelivered.extend(batch)
                report.errors.append(problem)
                return report
            failures += 1
            if failures >= self.attempts:
                logger.error(
                    "could not deliver %d events to selflearn after %d tries: %s",
                    len(batch),
                    failures,
                    problem,
                )
                report.undelivered.extend(batch)
                report.errors.append(problem)
                return report
            delay = self._delay(failures, resp)
            logger.warning(
                "sending %d events to selflearn failed (%s); try %d of %d in %.1f s",
                len(batch),
                problem,
                failures + 1,
                self.attempts,
                delay,
            )
            self.sleep(delay)
        return report

    def _delay(self, failures: int, resp: Optional[Response]) -> float:
        delay = float(min(self.backoff_s * (2 ** (failures - 1)), self.max_backoff_s))
        if resp is not None:
            retry_after = resp.headers.get("retry-after", "")
            if retry_after.isdigit():
                delay = max(delay, min(float(retry_after), self.max_backoff_s))
        return delay


def _count(body: Dict[str, Any], key: str, default: int) -> int:
    value = body.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default
