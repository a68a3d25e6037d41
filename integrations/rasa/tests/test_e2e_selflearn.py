"""End to end against the real selflearn binary named by ``SELFLEARN_BIN``.

A token made by ``selflearn token``, ``selflearn serve`` on a free loopback port with a log in
a temporary directory; broker events consumed through the CLI; the stored events read back
with ``selflearn export`` after the server stopped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from rasa_selflearn.client import SelflearnClient
from rasa_selflearn.sources import read_jsonl
from rasa_selflearn.turns import broker_events_to_turn_events

from proxying import StartProxy, say
from support import FIXTURES, FakeRasa, free_port

BIN = os.environ.get("SELFLEARN_BIN")
SOURCE = "rasa-e2e"

pytestmark = pytest.mark.skipif(
    not BIN,
    reason="SELFLEARN_BIN is not set: set it to a selflearn binary to run the end-to-end tests",
)


class Selflearn:
    def __init__(self, tmp: Path) -> None:
        assert BIN and Path(BIN).is_file(), f"SELFLEARN_BIN={BIN!r} is not a file"
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SELFLEARN__")}
        made = subprocess.run(
            [BIN, "token", "--name", "rasa", "--role", "ingest,rewrite", "--source", SOURCE],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp,
            env=self.env,
            timeout=30,
        )
        printed = made.stdout + made.stderr
        self.token = re.search(r"\bslt_[0-9a-f]+\b", printed).group(0)  # type: ignore[union-attr]
        entry = printed[printed.index("[[server.tokens]]") :]
        self.config = tmp / "selflearn.toml"
        self.config.write_text(entry)
        self.log_dir = tmp / "log"
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: Any = None

    def start(self) -> None:
        bind = self.url.rsplit("/", 1)[1]
        self.process = subprocess.Popen(
            [
                BIN,
                "serve",
                "--bind",
                bind,
                "--log-dir",
                str(self.log_dir),
                "--config",
                str(self.config),
            ],
            cwd=self.tmp,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        client = SelflearnClient(self.url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read().decode()
            try:
                if client.health(timeout=1.0).status == 200:
                    return
            except Exception:
                time.sleep(0.1)
        raise AssertionError("selflearn did not answer /v1/health within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.returncode == 0, self.process.stdout.read().decode()

    def export(self) -> List[Dict[str, Any]]:
        out = self.tmp / "x.jsonl"
        subprocess.run(
            [BIN, "export", "--log-dir", str(self.log_dir), "--out", str(out)],
            check=True,
            capture_output=True,
            cwd=self.tmp,
            env=self.env,
            timeout=60,
        )
        return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


@pytest.fixture
def real(tmp_path: Path) -> Iterator[Selflearn]:
    server = Selflearn(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def consume(real: Selflearn, *args: str, token: str = "") -> Tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RASA_SELFLEARN_")}
    env["RASA_SELFLEARN_TOKEN"] = token or real.token
    done = subprocess.run(
        [sys.executable, "-m", "rasa_selflearn", "consume", "--selflearn-url", real.url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return done.returncode, done.stderr


def test_consumed_events_are_stored_once_and_a_wrong_token_is_refused(
    real: Selflearn, validate: Any
) -> None:
    recorded = str(FIXTURES / "rasa-3.6.21-file-broker.jsonl")
    code, log = consume(real, recorded)
    assert code == 0, log
    assert "accepted 9 (inserted 9, duplicates 0)" in log

    code, log = consume(real, recorded)
    assert code == 0, log
    assert "accepted 9 (inserted 0, duplicates 9)" in log

    code, log = consume(real, recorded, token="slt_" + "0" * 64)
    assert code == 2 and "HTTP 401" in log
    resp = SelflearnClient(real.url, token="slt_" + "0" * 64).post_events([], timeout=5)
    assert resp.status == 401 and resp.error_code == "unauthorized"
    assert resp.headers.get("www-authenticate") == "Bearer"

    # The same turn sent again with other content is refused by id; the first one stays.
    documented = str(FIXTURES / "documented-broker-events.jsonl")
    assert consume(real, documented)[0] == 0
    code, log = consume(real, documented, "--device-kind", "speaker")
    assert code == 1 and "conflicting_event_id" in log

    real.stop()
    stored = {e["event_id"]: e for e in real.export()}
    with open(recorded, encoding="utf-8") as handle:
        ours = broker_events_to_turn_events(read_jsonl(handle))
    with open(documented, encoding="utf-8") as handle:
        ours += broker_events_to_turn_events(read_jsonl(handle))
    assert len(stored) == len(ours) == 10
    for event in ours:
        assert stored[event["event_id"]] == {**event, "source": SOURCE}
        validate(stored[event["event_id"]])
    assert stored[ours[-1]["event_id"]]["device"]["kind"] == "other"


def test_the_proxy_asks_the_real_rewrite_route(
    real: Selflearn, rasa: FakeRasa, start_proxy: StartProxy
) -> None:
    proxy_url, proxy = start_proxy(real.url, rasa.url, token=real.token)
    status, answer, elapsed = say(proxy_url, "alice", "play imagin dragons")
    assert status == 200 and answer[0]["text"] == "you said: play imagin dragons"
    # Without learned artifacts selflearn answers unchanged, and says so with a 200.
    assert proxy.rewriter.state == "up"
    assert elapsed < 1.5
    real.stop()
