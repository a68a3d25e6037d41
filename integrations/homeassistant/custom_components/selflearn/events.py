"""Background delivery of turn events.

A turn event is worth little next to the answer the person is waiting for, so delivery never
sits on the conversation's path: `submit` only appends to a bounded queue, and one background
task posts batches. When selflearn is down the queue keeps the newest events (the oldest are
dropped once it is full), a batch that failed for a transient reason is retried a few times
with a doubling pause, and the outage is logged once rather than once per turn.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .client import SelflearnClient, SelflearnError
from .const import (
    EVENT_BATCH_SIZE,
    EVENT_MAX_ATTEMPTS,
    EVENT_QUEUE_SIZE,
    EVENT_RETRY_BASE_DELAY,
    EVENT_RETRY_MAX_DELAY,
)

_LOGGER = logging.getLogger(__name__)


class EventSender:
    """Queues turn events and posts them to selflearn from a background task."""

    def __init__(
        self,
        client: SelflearnClient,
        timeout: float,
        *,
        queue_size: int = EVENT_QUEUE_SIZE,
        batch_size: int = EVENT_BATCH_SIZE,
        max_attempts: int = EVENT_MAX_ATTEMPTS,
        retry_base_delay: float = EVENT_RETRY_BASE_DELAY,
    ) -> None:
        """Set the limits; nothing is sent before `async_start`."""
        self._client = client
        self._timeout = timeout
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._retry_base_delay = retry_base_delay
        # A deque with maxlen drops from the far end on append: the oldest event goes.
        self._queue: deque[dict[str, Any]] = deque(maxlen=queue_size)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The problem last logged, so that an outage is reported once, not per batch.
        self._problem: str | None = None
        self.sent = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Events waiting in the queue."""
        return len(self._queue)

    @callback
    def async_start(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Start the delivery task, tied to the config entry's lifetime."""
        self._task = entry.async_create_background_task(
            hass, self._run(), name=f"selflearn event sender {entry.entry_id}"
        )

    @callback
    def submit(self, event: dict[str, Any]) -> None:
        """Queue one event for delivery; never blocks, never raises."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
            _LOGGER.debug(
                "Event queue full (%s): dropping the oldest turn event", self._queue.maxlen
            )
        self._queue.append(event)
        self._wakeup.set()

    async def async_stop(self, flush_timeout: float) -> None:
        """Stop the task; hand over what is still queued if the service was answering."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # A service that is known to be down would only make the unload wait for nothing.
        if not self._queue or self._problem is not None:
            return
        batch = list(self._queue)
        self._queue.clear()
        try:
            await self._client.async_post_events(batch, flush_timeout)
        except SelflearnError as err:
            self.dropped += len(batch)
            _LOGGER.debug("Dropped %d turn events at unload: %s", len(batch), err)
        else:
            self.sent += len(batch)

    async def _run(self) -> None:
        """Post batches for as long as the entry is loaded."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                count = min(self._batch_size, len(self._queue))
                batch = [self._queue.popleft() for _ in range(count)]
                await self._deliver(batch)

    async def _deliver(self, batch: list[dict[str, Any]]) -> None:
        """Post one batch, retrying transient failures; failures are logged, not raised."""
        delay = self._retry_base_delay
        for attempt in range(1, self._max_attempts + 1):
            try:
                reply = await self._client.async_post_events(batch, self._timeout)
            except SelflearnError as err:
                last = not err.retryable or attempt == self._max_attempts
                self._report_problem(err, len(batch), dropping=last)
                if last:
                    self.dropped += len(batch)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, EVENT_RETRY_MAX_DELAY)
                continue
            self.sent += len(batch)
            if self._problem is not None:
                _LOGGER.info("selflearn at %s accepts turn events again", self._client.url)
                self._problem = None
            _LOGGER.debug("Posted %d turn events: %s", len(batch), reply)
            return

    def _report_problem(self, err: SelflearnError, count: int, *, dropping: bool) -> None:
        """Log a new kind of failure as a warning, repeats of it at debug level."""
        problem = f"{type(err).__name__}: {err}"
        if problem != self._problem:
            _LOGGER.warning(
                "Could not send turn events to selflearn at %s (%s); "
                "Assist is unaffected, events are retried or dropped",
                self._client.url,
                err,
            )
            self._problem = problem
        else:
            _LOGGER.debug(
                "Still failing (%s): %s %d turn events",
                err,
                "dropping" if dropping else "will retry",
                count,
            )
