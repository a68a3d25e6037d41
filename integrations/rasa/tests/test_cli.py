"""``rasa-selflearn consume`` as a command: inputs, configuration, exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

from rasa_selflearn.sources import read_jsonl
from rasa_selflearn.turns import broker_events_to_turn_events

from support import FIXTURES, TOKEN, FakeSelflearn

RECORDED = FIXTURES / "rasa-3.6.21-file-broker.jsonl"


def run(
    *args: str, env: Optional[Dict[str, str]] = None, stdin: Optional[str] = None
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RASA_SELFLEARN_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "rasa_selflearn", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_consume_posts_a_file_with_the_token_from_the_environment(selflearn: FakeSelflearn) -> None:
    done = run(
        "consume",
        str(RECORDED),
        env={"RASA_SELFLEARN_URL": selflearn.url, "RASA_SELFLEARN_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert len(selflearn.stored) == 9
    assert {r.headers["authorization"] for r in selflearn.on("/v1/events")} == {f"Bearer {TOKEN}"}
    assert "accepted 9 (inserted 9, duplicates 0)" in done.stderr
    again = run("consume", str(RECORDED), "--selflearn-url", selflearn.url, "--token", TOKEN)
    assert again.returncode == 0 and "accepted 9 (inserted 0, duplicates 9)" in again.stderr


def test_flags_win_over_the_environment(
    selflearn: FakeSelflearn, closed_port_url: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    done = run(
        "consume",
        str(RECORDED),
        "--selflearn-url",
        selflearn.url,
        "--token-file",
        str(token_file),
        "--batch-size",
        "4",
        env={"RASA_SELFLEARN_URL": closed_port_url, "RASA_SELFLEARN_BATCH_SIZE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert [len(r.body) for r in selflearn.on("/v1/events")] == [4, 4, 1]


def test_dry_run_prints_what_would_be_sent() -> None:
    done = run(
        "consume",
        "--dry-run",
        "--device-kind",
        "speaker",
        "--no-screen",
        stdin=RECORDED.read_text(),
    )
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    with RECORDED.open() as handle:
        expected = broker_events_to_turn_events(read_jsonl(handle))
    assert len(printed) == 9
    # The recorded messages name their device (the proxy put it there); others get the flags'.
    assert printed == expected
    done = run(
        "consume",
        "--dry-run",
        "--device-kind",
        "speaker",
        "--no-screen",
        str(FIXTURES / "documented-broker-events.jsonl"),
    )
    [event] = [json.loads(line) for line in done.stdout.splitlines()]
    assert event["device"] == {"id": "rasa-rest", "kind": "speaker", "has_screen": False}


def test_unreadable_lines_are_reported_and_the_rest_is_sent(
    selflearn: FakeSelflearn, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{oops\n" + RECORDED.read_text() + '{"no": "event"}\n')
    done = run("consume", str(broken), "--selflearn-url", selflearn.url, "--token", TOKEN)
    assert done.returncode == 1
    assert "broken.jsonl:1: not JSON" in done.stderr
    assert "neither a broker event nor an events-table row" in done.stderr
    assert len(selflearn.stored) == 9


def test_selflearn_down_exits_2_after_bounded_tries(closed_port_url: str) -> None:
    started = time.monotonic()
    done = run("consume", str(RECORDED), "--selflearn-url", closed_port_url, "--attempts", "2")
    assert done.returncode == 2
    assert time.monotonic() - started < 10
    assert "could not deliver 9 events to selflearn after 2 tries" in done.stderr
    assert "undelivered 9" in done.stderr


def test_a_wrong_token_exits_2(selflearn: FakeSelflearn) -> None:
    done = run("consume", str(RECORDED), "--selflearn-url", selflearn.url, "--token", "wrong")
    assert done.returncode == 2
    assert "selflearn refused the token" in done.stderr


def test_consume_reads_a_sqlite_events_table(selflearn: FakeSelflearn, tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), data TEXT)")
    with (FIXTURES / "rasa-3.6.21-sql-broker-rows.jsonl").open() as handle:
        rows = [json.loads(line) for line in handle]
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?)", [(r["id"], r["sender_id"], r["data"]) for r in rows]
    )
    conn.commit()
    conn.close()
    done = run("consume", "--sqlite", str(db), "--selflearn-url", selflearn.url, "--token", TOKEN)
    assert done.returncode == 0, done.stderr
    assert sorted(e["asr"]["text"] for e in selflearn.stored.values()) == [
        "bye",
        "hello",
        "play imagin dragons",
    ]


def test_a_missing_database_exits_2(tmp_path: Path) -> None:
    done = run("consume", "--sqlite", str(tmp_path / "nope.db"), "--dry-run")
    assert done.returncode == 2
