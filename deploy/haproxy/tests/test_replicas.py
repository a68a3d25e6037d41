"""The replica deployment of the README, for real: one ingest service, two rewrite replicas of
half the shards each, and HAProxy routing by the user's shard with deploy/haproxy/selflearn.cfg.
Every rewrite through the balancer is answered by a replica holding the person, as the whole
set answers it; events reach the ingest service."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parents[1]
BIN = os.environ.get("SELFLEARN_BIN")

pytestmark = [
    pytest.mark.skipif(not BIN, reason="SELFLEARN_BIN names no selflearn binary"),
    pytest.mark.skipif(not shutil.which("haproxy"), reason="no haproxy on the PATH"),
]


def selflearn(*args: str, cwd: Path) -> str:
    done = subprocess.run([BIN, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_ready(url: str, wait_s: float = 30.0) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, f"{url} did not become ready"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A learned world, the ingest service, two replicas and HAProxy in front."""
    work = tmp_path_factory.mktemp("replicas")
    (work / "world.toml").write_text("seed = 11\ndays = 7\nhouseholds = 60\n")
    selflearn(
        "world", "generate", "--data", str(REPO / "data"), "--world", "world.toml",
        "--out", "generated", cwd=work,
    )
    selflearn("--log-dir", "log", "ingest", "generated/events.jsonl", cwd=work)
    selflearn(
        "--log-dir", "log", "learn", "--encoder", "encoder.safetensors",
        "--artifacts", "set", "--personal-shards", "16", cwd=work,
    )
    ports = {name: free_port() for name in ["ingest", "a", "b", "balancer"]}
    processes = []

    def start(*args: str, log: str) -> None:
        out = open(work / log, "w")
        processes.append(subprocess.Popen(args, cwd=work, stdout=out, stderr=out))

    start(BIN, "--log-dir", "log", "serve", "--bind", f"127.0.0.1:{ports['ingest']}",
          "--artifacts", "set", log="ingest.log")
    for name, shards in [("a", "0-7/16"), ("b", "8-15/16")]:
        start(BIN, "--log-dir", f"replica-{name}", "serve", "--bind",
              f"127.0.0.1:{ports[name]}", "--artifacts", "set", "--shards", shards,
              log=f"replica-{name}.log")
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    for name in ["ingest", "a", "b"]:
        wait_ready(urls[name])
    env = dict(
        os.environ,
        LISTEN=f"127.0.0.1:{ports['balancer']}",
        INGEST=f"127.0.0.1:{ports['ingest']}",
        REPLICAS_0_7=f"127.0.0.1:{ports['a']}",
        REPLICAS_8_15=f"127.0.0.1:{ports['b']}",
    )
    out = open(work / "haproxy.log", "w")
    processes.append(subprocess.Popen(
        ["haproxy", "-f", str(HERE / "selflearn.cfg"), "-db"], env=env, stdout=out, stderr=out,
    ))
    wait_ready(urls["balancer"])
    try:
        yield work, urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def requests_of(work: Path, count: int) -> list[dict]:
    """Rewrite requests made of the world's own turns: many people, what they said."""
    requests = []
    with open(work / "generated" / "events.jsonl") as events:
        for line in events:
            event = json.loads(line)
            requests.append({
                "user_id": event["user_id"],
                "device": event["device"],
                "text": event["asr"]["text"],
                "timestamp_ms": event["timestamp_ms"],
            })
    step = max(1, len(requests) // count)
    return requests[::step][:count]


def test_every_rewrite_through_the_balancer_is_answered_as_the_whole_set_answers(deployment):
    work, urls = deployment
    asked = requests_of(work, 600)
    users = {r["user_id"] for r in asked}
    assert len(users) > 50, "the requests cover many people"
    layers: dict[str, int] = {}
    for request in asked:
        status, through = post(f"{urls['balancer']}/v1/rewrite", request)
        assert status == 200, (request, through)
        whole_status, whole = post(f"{urls['ingest']}/v1/rewrite", request)
        assert (status, through) == (whole_status, whole), request
        layers[through.get("layer") or "none"] = layers.get(through.get("layer") or "none", 0) + 1
    assert layers.get("personal", 0) > 0, layers


def test_each_replica_refuses_the_people_of_the_other_half(deployment):
    work, urls = deployment
    refused = {"a": 0, "b": 0}
    for request in requests_of(work, 200):
        for name in ["a", "b"]:
            status, body = post(f"{urls[name]}/v1/rewrite", request)
            if status == 421:
                assert body["error"]["code"] == "misdirected"
                refused[name] += 1
            else:
                assert status == 200, body
    assert refused["a"] > 0 and refused["b"] > 0, refused
    assert refused["a"] + refused["b"] == 200, "each person is held by exactly one replica"


def test_events_through_the_balancer_reach_the_ingest_service(deployment):
    work, urls = deployment
    with open(work / "generated" / "events.jsonl") as events:
        event = json.loads(events.readline())
    event["event_id"] = "through-the-balancer"
    status, body = post(f"{urls['balancer']}/v1/events", [event])
    assert (status, body["inserted"]) == (200, 1), body
    status, body = post(f"{urls['a']}/v1/events", [event])
    assert status == 421, body
