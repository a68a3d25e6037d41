"""Consuming Rasa's Pika event broker live from RabbitMQ (needs the optional ``pika``).

The work is split in two so that the part that decides what to acknowledge can be tested
without a broker:

* :class:`QueueConsumer` takes messages (delivery tag, body), assembles turns, posts them in
  batches, and says up to which delivery tag everything is done. A message is acknowledged
  only when every turn it belongs to is stored or refused by selflearn; while selflearn is
  down, nothing more is acknowledged, and RabbitMQ's prefetch limit stops delivery, so the
  events wait in the queue instead of in memory.
* :func:`run` is the thin pika loop around it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

from .sender import EventSender
from .turns import TurnAssembler

logger = logging.getLogger(__name__)


class QueueConsumer:
    """Broker messages in, turn events out, acknowledgements decided.

    Delivery tags must grow, as they do on one AMQP channel. ``flush_interval_s`` bounds how
    long a finished turn waits for its batch to fill; ``turn_idle_s`` closes a turn that got
    no event for that long (its ``action_listen`` may never come); ``retry_interval_s`` is how
    long to wait before trying selflearn again after a batch could not be delivered.
    """

    def __init__(
        self,
        assembler: TurnAssembler,
        sender: EventSender,
        *,
        batch_size: int = 200,
        flush_interval_s: float = 2.0,
        turn_idle_s: float = 120.0,
        retry_interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.assembler = assembler
        self.sender = sender
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.turn_idle_s = turn_idle_s
        self.retry_interval_s = retry_interval_s
        self._clock = clock
        # Finished turns not yet stored, each with the delivery tag of its first message.
        self._ready: List[Tuple[int, Dict[str, Any]]] = []
        self._last_tag = 0
        self._acked = 0
        self._last_flush = clock()
        self._retry_after = 0.0
        self.fatal: Optional[str] = None

    def on_message(self, delivery_tag: int, body: bytes) -> None:
        """One message from the queue."""
        self._last_tag = max(self._last_tag, delivery_tag)
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            # It can never be read; keeping it unacknowledged would block the queue.
            logger.warning("message %d is not JSON (%s); dropping it", delivery_tag, exc)
            event = None
        if isinstance(event, dict):
            self._take(self.assembler.feed_marked(event, marker=delivery_tag))
        self._maybe_flush()

    def on_idle(self) -> None:
        """Nothing arrived for a while: close idle turns, send what waits."""
        self._take(self.assembler.flush_idle_marked(self.turn_idle_s))
        self._maybe_flush(force=True)

    def ack_up_to(self) -> Optional[int]:
        """The delivery tag to acknowledge with ``multiple=True`` now, if any.

        Everything before the first message of the oldest turn still open or unsent is done.
        """
        held = [tag for tag, _ in self._ready]
        oldest_open = self.assembler.oldest_open_marker()
        if isinstance(oldest_open, int):
            held.append(oldest_open)
        safe = min(held) - 1 if held else self._last_tag
        if safe > self._acked:
            self._acked = safe
            return safe
        return None

    def close(self) -> None:
        """Sends the finished turns (open ones stay unacknowledged, to be redelivered)."""
        self._maybe_flush(force=True, ignore_backoff=True)

    def _take(self, closed: List[Tuple[Dict[str, Any], Optional[Hashable]]]) -> None:
        for event, marker in closed:
            tag = marker if isinstance(marker, int) else self._last_tag
            self._ready.append((tag, event))

    def _maybe_flush(self, *, force: bool = False, ignore_backoff: bool = False) -> None:
        if not self._ready or self.fatal:
            return
        now = self._clock()
        if not ignore_backoff and now < self._retry_after:
            return
        due = len(self._ready) >= self.batch_size or now - self._last_flush >= self.flush_interval_s
        if not (force or due):
            return
        self._last_flush = now
        report = self.sender.send([event for _, event in self._ready])
        undelivered = {id(e) for e in report.undelivered}
        self._ready = [(tag, event) for tag, event in self._ready if id(event) in undelivered]
        if report.fatal:
            self.fatal = report.fatal
        elif self._ready:
            self._retry_after = now + self.retry_interval_s
            logger.warning(
                "%d turn events wait for selflearn; their messages stay unacknowledged",
                len(self._ready),
            )


def run(
    url: str,
    queue: str,
    consumer: QueueConsumer,
    *,
    prefetch: int = 1000,
    inactivity_s: float = 1.0,
    stop: Optional[threading.Event] = None,
) -> None:
    """Consumes ``queue`` until ``stop`` is set, an interrupt, or selflearn refuses the token.

    The queue is declared durable, as Rasa's Pika broker declares it, so either side may
    start first. ``stop`` is looked at after every message and every ``inactivity_s``.
    """
    try:
        import pika
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "consuming RabbitMQ needs pika: pip install 'rasa-selflearn[rabbitmq]'"
        ) from exc

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = None
    try:
        channel = connection.channel()
        channel.queue_declare(queue=queue, durable=True)
        channel.basic_qos(prefetch_count=prefetch)
        logger.info("consuming Rasa events from queue %r", queue)
        for method, _properties, body in channel.consume(queue, inactivity_timeout=inactivity_s):
            if method is None:
                consumer.on_idle()
            else:
                consumer.on_message(method.delivery_tag, body)
            tag = consumer.ack_up_to()
            if tag is not None:
                channel.basic_ack(delivery_tag=tag, multiple=True)
            if consumer.fatal:
                raise SystemExit(consumer.fatal)
            if stop is not None and stop.is_set():
                break
    except KeyboardInterrupt:
        logger.info("stopping")
    finally:
        consumer.close()
        tag = consumer.ack_up_to()
        try:
            if tag is not None and channel is not None and connection.is_open:
                channel.basic_ack(delivery_tag=tag, multiple=True)
        finally:
            if connection.is_open:
                connection.close()
