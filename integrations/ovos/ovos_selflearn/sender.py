"""Sends turn events to ``POST /v1/events`` from one background thread.

The bus handlers only append to a bounded queue and return; this thread does every network
call. When selflearn is down the queue fills, and then the oldest event is dropped (and
counted) for each new one: a voice assistant that runs for months must not grow its memory
because a service on the LAN went away, and the newest turns are the most useful to learn from.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Optional

from ovos_utils.log import LOG

from ovos_selflearn.client import SelflearnClient

# Statuses after which the same batch is tried again later: selflearn (or the proxy in front
# of it) could not take it now, and it did not say anything about the events themselves.
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}


@dataclass
class SenderStats:
    """Counters, for logs and tests; read them under no lock (they only ever grow)."""

    queued: int = 0
    sent: int = 0
    dropped: int = 0
    rejected: int = 0
    failed_attempts: int = 0


class EventSender:
    """A bounded queue of turn events and the thread that posts them in batches."""

    def __init__(self, client: SelflearnClient, timeout: float = 5.0,
                 queue_size: int = 1000, batch_size: int = 50,
                 min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self._client = client
        self._timeout = timeout
        self._queue_size = max(1, queue_size)
        self._batch_size = max(1, batch_size)
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._queue: Deque[Dict[str, Any]] = deque()
        self._lock = threading.Condition()
        self._stopping = False
        self._in_flight = 0
        self.stats = SenderStats()
        self._thread = threading.Thread(target=self._run, name="selflearn-events", daemon=True)
        self._thread.start()

    def submit(self, event: Dict[str, Any]) -> None:
        """Queues one event; never blocks on the network and never raises."""
        with self._lock:
            if self._stopping:
                self._count_drop("the sender is stopped")
                return
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._count_drop(f"the queue is full ({self._queue_size} events)")
            self._queue.append(event)
            self.stats.queued += 1
            self._lock.notify()

    def pending(self) -> int:
        """Events queued or being posted."""
        with self._lock:
            return len(self._queue) + self._in_flight

    def flush(self, timeout: float) -> bool:
        """Waits until every queued event was posted (or refused); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Tries to post what is queued within ``timeout``, then stops the thread."""
        self.flush(timeout)
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout=max(timeout, self._timeout) + 1.0)

    def _count_drop(self, why: str) -> None:
        self.stats.dropped += 1
        if self.stats.dropped == 1 or self.stats.dropped % 100 == 0:
            LOG.warning(f"selflearn: dropped the oldest turn event because {why} "
                        f"({self.stats.dropped} dropped so far)")

    def _run(self) -> None:
        backoff = self._min_backoff
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                batch = [self._queue.popleft()
                         for _ in range(min(self._batch_size, len(self._queue)))]
                self._in_flight = len(batch)
            retry = self._post(batch)
            with self._lock:
                self._in_flight = 0
                if retry:
                    # Put the batch back in front, still within the bound.
                    for event in reversed(retry):
                        if len(self._queue) >= self._queue_size:
                            self._count_drop(f"the queue is full ({self._queue_size} events)")
                            break
                        self._queue.appendleft(event)
                self._lock.notify_all()
                if retry:
                    # New events must not cut the pause short, or a dead service would be
                    # called once per turn; only close() does.
                    resume = time.monotonic() + backoff
                    while not self._stopping and time.monotonic() < resume:
                        self._lock.wait(resume - time.monotonic())
                    backoff = min(backoff * 2, self._max_backoff)
                else:
                    backoff = self._min_backoff

    def _post(self, batch: List[Dict[str, Any]]) -> Optional[List[Dict[str, Any]]]:
        """Posts one batch; returns the events to try again later, or ``None``."""
        while batch:
            try:
                reply = self._client.post_events(batch, self._timeout)
            except Exception as error:  # noqa: BLE001 - a network failure must never escape
                self.stats.failed_attempts += 1
                LOG.warning(f"selflearn: could not post {len(batch)} turn events to "
                            f"{self._client.url}: {error}")
                return batch
            if 200 <= reply.status < 300:
                self.stats.sent += len(batch)
                return None
            if reply.status in _RETRY_STATUSES:
                self.stats.failed_attempts += 1
                LOG.warning(f"selflearn: /v1/events answered {reply.status} "
                            f"({reply.error_code}); will retry")
                return batch
            index = reply.error_index
            if reply.status in (403, 409, 422) and index is not None and 0 <= index < len(batch):
                # One record refused the batch: drop it alone and post the others again.
                LOG.error(f"selflearn: refused turn event {batch[index].get('event_id')!r}: "
                          f"{reply.body}")
                self.stats.rejected += 1
                batch = batch[:index] + batch[index + 1:]
                continue
            self.stats.rejected += len(batch)
            LOG.error(f"selflearn: /v1/events refused {len(batch)} turn events with "
                      f"{reply.status}: {reply.body}")
            return None
        return None
