"""Where broker events come from: JSON lines, or the ``events`` table of a SQL store.

Two shapes of line are read:

* broker events, as Rasa's Pika, Kafka and file brokers publish them: one object with
  ``sender_id`` and ``event`` (a dump of a RabbitMQ queue, a Kafka topic, Rasa's
  ``rasa_event.log``);
* rows of an ``events`` table (Rasa's SQL tracker store or SQL event broker), exported as
  JSON: ``sender_id`` and ``data``, the event as a JSON string. Rasa's SQL tracker store keeps
  the event without the sender, so the row's ``sender_id`` is put back.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import IO, Any, Dict, Iterator, List, Optional

logger = logging.getLogger(__name__)


@dataclass
class ReadStats:
    """Lines read and the ones that could not be used, with their line numbers."""

    lines: int = 0
    bad_lines: List[str] = field(default_factory=list)


def normalise(record: Any) -> Optional[Dict[str, Any]]:
    """A broker event from either shape, or ``None`` when ``record`` is neither."""
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("event"), str):
        return record
    data = record.get("data")
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    event = dict(data)
    if "sender_id" not in event and isinstance(record.get("sender_id"), str):
        event["sender_id"] = record["sender_id"]
    return event


def read_jsonl(
    stream: IO[str], name: str = "<stdin>", stats: Optional[ReadStats] = None
) -> Iterator[Dict[str, Any]]:
    """Yields broker events from JSON lines; blank lines are skipped, bad ones logged."""
    stats = stats if stats is not None else ReadStats()
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        stats.lines += 1
        try:
            record = json.loads(line)
        except ValueError as exc:
            _bad(stats, f"{name}:{number}: not JSON ({exc})")
            continue
        event = normalise(record)
        if event is None:
            _bad(stats, f"{name}:{number}: neither a broker event nor an events-table row")
            continue
        yield event


def read_sqlite(
    path: str, table: str = "events", stats: Optional[ReadStats] = None
) -> Iterator[Dict[str, Any]]:
    """Yields broker events from the events table of a SQLite tracker store or SQL broker.

    Both of Rasa's tables have ``sender_id`` and ``data`` columns and an ``id`` that grows in
    insertion order. The database is opened read-only, so a running Rasa is not disturbed.
    """
    if not table.replace("_", "").isalnum():
        raise ValueError(f"table name {table!r} is not a plain identifier")
    stats = stats if stats is not None else ReadStats()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(f'SELECT id, sender_id, data FROM "{table}" ORDER BY id')
        for row_id, sender_id, data in rows:
            stats.lines += 1
            event = normalise({"sender_id": sender_id, "data": data})
            if event is None:
                _bad(stats, f"{path}:{table}:{row_id}: data is not an event")
                continue
            yield event
    finally:
        conn.close()


def _bad(stats: ReadStats, message: str) -> None:
    stats.bad_lines.append(message)
    logger.warning("%s", message)
