"""The RabbitMQ consumer's message handling and acknowledgements, without a broker.

What runs here is :class:`QueueConsumer`, everything between pika's deliveries and
``basic_ack``; the pika loop around it (:func:`rasa_selflearn.amqp.run`) needs a RabbitMQ
server and is not tested.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from rasa_selflearn.amqp import QueueConsumer
from rasa_selflearn.client import SelflearnClient
from rasa_selflearn.sender import EventSender
from rasa_selflearn.turns import TurnAssembler

from support import TOKEN, FakeSelflearn


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def body(event: Dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def user(sender: str, ts: float, text: str) -> Dict[str, Any]:
    return {
        "sender_id": sender,
        "event": "user",
        "timestamp": ts,
        "text": text,
        "parse_data": {"intent": {"name": "greet", "confidence": 0.9}, "entities": []},
        "input_channel": "rest",
        "message_id": f"{sender}-{ts}",
        "metadata": {},
    }


def action(sender: str, ts: float, name: str) -> Dict[str, Any]:
    return {"sender_id": sender, "event": "action", "timestamp": ts, "name": name}


def consumer_for(url: str, clock: Clock, **kwargs: Any) -> QueueConsumer:
    sender = EventSender(
        SelflearnClient(url, token=TOKEN), attempts=1, timeout_s=2.0, sleep=lambda _: None
    )
    return QueueConsumer(TurnAssembler(clock=clock), sender, clock=clock, **kwargs)


def feed(consumer: QueueConsumer, messages: List[Dict[str, Any]], first_tag: int = 1) -> List[int]:
    acks = []
    for tag, message in enumerate(messages, start=first_tag):
        consumer.on_message(tag, body(message))
        ack = consumer.ack_up_to()
        if ack is not None:
            acks.append(ack)
    return acks


def test_messages_are_acknowledged_once_their_turn_is_stored(selflearn: FakeSelflearn) -> None:
    clock = Clock()
    consumer = consumer_for(selflearn.url, clock, batch_size=1)
    acks = feed(
        consumer,
        [
            action("alice", 1.0e9, "action_listen"),  # 1: belongs to no turn
            user("alice", 1.0e9 + 1, "hi"),  # 2: opens alice's turn
            user("bob", 1.0e9 + 2, "hello"),  # 3: opens bob's turn
            action("alice", 1.0e9 + 3, "utter_greet"),  # 4
            action("alice", 1.0e9 + 4, "action_listen"),  # 5: alice's turn done, stored
        ],
    )
    # 1 at once; after alice's turn is stored, everything before bob's open turn (tag 3).
    assert acks == [1, 2]
    assert len(selflearn.stored) == 1
    acks = feed(
        consumer,
        [action("bob", 1.0e9 + 5, "utter_greet"), action("bob", 1.0e9 + 6, "action_listen")],
        first_tag=6,
    )
    assert acks == [7]
    assert len(selflearn.stored) == 2


def test_while_selflearn_is_down_nothing_more_is_acknowledged(
    closed_port_url: str, selflearn: FakeSelflearn
) -> None:
    clock = Clock()
    consumer = consumer_for(closed_port_url, clock, batch_size=1, retry_interval_s=10.0)
    acks = feed(
        consumer,
        [
            user("alice", 1.0e9, "hi"),
            action("alice", 1.0e9 + 1, "action_listen"),
            action("bob", 1.0e9 + 2, "action_listen"),
        ],
    )
    assert acks == []  # alice's turn waits, so do the messages after it
    # selflearn comes back (same port as far as the consumer knows: swap its client).
    consumer.sender.client = SelflearnClient(selflearn.url, token=TOKEN)
    consumer.on_idle()
    assert consumer.ack_up_to() is None  # still within the retry interval
    clock.now += 11
    consumer.on_idle()
    assert consumer.ack_up_to() == 3
    assert len(selflearn.stored) == 1


def test_an_unreadable_message_is_dropped_not_held(selflearn: FakeSelflearn) -> None:
    consumer = consumer_for(selflearn.url, Clock())
    consumer.on_message(1, b"{not json")
    assert consumer.ack_up_to() == 1


def test_a_turn_that_never_ends_is_closed_when_idle(selflearn: FakeSelflearn) -> None:
    clock = Clock()
    consumer = consumer_for(selflearn.url, clock, turn_idle_s=60.0)
    feed(consumer, [user("alice", 1.0e9, "hi"), action("alice", 1.0e9 + 1, "utter_greet")])
    consumer.on_idle()
    assert consumer.ack_up_to() is None and selflearn.stored == {}
    clock.now += 61
    consumer.on_idle()
    assert consumer.ack_up_to() == 2
    [stored] = selflearn.stored.values()
    assert stored["response"]["outcome"] == "success"


def test_a_refused_token_stops_the_consumer(selflearn: FakeSelflearn) -> None:
    consumer = consumer_for(selflearn.url, Clock(), batch_size=1)
    consumer.sender.client = SelflearnClient(selflearn.url, token="wrong")
    feed(consumer, [user("alice", 1.0e9, "hi"), action("alice", 1.0e9 + 1, "action_listen")])
    assert consumer.fatal and "401" in consumer.fatal
    assert consumer.ack_up_to() is None
