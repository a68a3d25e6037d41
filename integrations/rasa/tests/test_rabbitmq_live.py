"""The pika loop against a real RabbitMQ, only where one is named and pika is installed.

Set ``RASA_SELFLEARN_TEST_AMQP_URL`` (e.g. ``amqp://guest:guest@127.0.0.1:5672/%2F``) and
install the ``rabbitmq`` extra; otherwise these tests are skipped and say why.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import pytest

from rasa_selflearn import amqp
from rasa_selflearn.client import SelflearnClient
from rasa_selflearn.sender import EventSender
from rasa_selflearn.sources import read_jsonl
from rasa_selflearn.turns import TurnAssembler, broker_events_to_turn_events

from support import FIXTURES, TOKEN, FakeSelflearn

AMQP_URL = os.environ.get("RASA_SELFLEARN_TEST_AMQP_URL")
pika = pytest.importorskip("pika", reason="pika is not installed (the rabbitmq extra)")
pytestmark = pytest.mark.skipif(
    not AMQP_URL, reason="RASA_SELFLEARN_TEST_AMQP_URL does not name a RabbitMQ to test against"
)


def test_messages_published_as_rasa_does_are_stored_and_acknowledged(
    selflearn: FakeSelflearn,
) -> None:
    queue = f"rasa-selflearn-test-{uuid.uuid4().hex[:8]}"
    recorded = FIXTURES / "rasa-3.6.21-file-broker.jsonl"
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.queue_declare(queue=queue, durable=True)
    try:
        for line in recorded.read_text().splitlines():
            # Rasa's Pika broker publishes json.dumps(event) of each broker message.
            body = json.dumps(json.loads(line)).encode()
            channel.basic_publish(exchange="", routing_key=queue, body=body)
        consumer = amqp.QueueConsumer(
            TurnAssembler(),
            EventSender(SelflearnClient(selflearn.url, token=TOKEN), attempts=1),
            flush_interval_s=0.2,
        )
        stop = threading.Event()
        worker = threading.Thread(
            target=amqp.run,
            args=(AMQP_URL, queue, consumer),
            kwargs={"inactivity_s": 0.2, "stop": stop},
        )
        worker.start()
        try:
            deadline = time.monotonic() + 20
            while len(selflearn.stored) < 9 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            worker.join(timeout=10)
        with recorded.open() as handle:
            expected = broker_events_to_turn_events(read_jsonl(handle))
        by_id = sorted(selflearn.stored.values(), key=lambda e: e["event_id"])
        assert by_id == sorted(expected, key=lambda e: e["event_id"])
        left = channel.queue_declare(queue=queue, durable=True, passive=True)
        assert left.method.message_count == 0  # every message acknowledged
    finally:
        channel.queue_delete(queue=queue)
        connection.close()
