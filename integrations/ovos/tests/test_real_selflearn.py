"""Part 4: end to end against the real selflearn binary named by ``SELFLEARN_BIN``.

A real ``selflearn serve`` with a token made by ``selflearn token``; turns driven through
ovos-core, the transformer and the turn logger; then the service is stopped and the log is
exported and read back. Skipped when ``SELFLEARN_BIN`` is not set.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from ovos_utils.fakebus import FakeBus

from ovos_selflearn.client import SelflearnClient
from ovos_selflearn.listener import TurnLogger
from ovos_selflearn.settings import Settings
from support import OvosStack, assert_valid_event, utterance_message
from weather_skill import SKILL_ID

BIN = os.environ.get("SELFLEARN_BIN")

pytestmark = pytest.mark.skipif(
    not BIN, reason="SELFLEARN_BIN is not set: set it to a built selflearn binary "
                    "(e.g. SELFLEARN_BIN=target/release/selflearn) to run the end-to-end test")

SOURCE = "home-ovos-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_token(binary: str, workdir: Path) -> tuple:
    """Runs ``selflearn token`` and returns (token, its config entry)."""
    out = subprocess.run([binary, "token", "--name", "ovos", "--role", "ingest,rewrite",
                          "--source", SOURCE], cwd=workdir, capture_output=True, text=True,
                         timeout=30, check=True).stdout
    token = re.search(r"^(slt_[0-9a-f]+)$", out, re.MULTILINE).group(1)
    entry = out[out.index("[[server.tokens]]"):]
    return token, entry


@pytest.fixture
def selflearn(tmp_path):
    binary = str(Path(BIN).resolve())
    assert os.access(binary, os.X_OK), f"SELFLEARN_BIN={BIN} is not an executable"
    token, entry = make_token(binary, tmp_path)
    config = tmp_path / "selflearn.toml"
    config.write_text(entry, encoding="utf-8")
    log_dir = tmp_path / "log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [binary, "serve", "--bind", f"127.0.0.1:{port}", "--log-dir", str(log_dir),
         "--config", str(config)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = SelflearnClient(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.health(timeout=1).status == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"selflearn serve did not come up: {process.stdout.read()}")
        time.sleep(0.1)

    state = {"url": url, "token": token, "process": process, "log_dir": log_dir,
             "binary": binary, "workdir": tmp_path}
    yield state
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def stop_and_export(state) -> list:
    process = state["process"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, process.stdout.read()
    out = state["workdir"] / "x.jsonl"
    subprocess.run([state["binary"], "export", "--log-dir", str(state["log_dir"]),
                    "--out", str(out)], cwd=state["workdir"], check=True, timeout=60,
                   capture_output=True)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]


DEVICE = {"id": "kitchen-speaker", "kind": "speaker", "has_screen": False}


def test_turns_through_ovos_are_stored_by_the_real_service(selflearn, mycroft_conf):
    block = {"url": selflearn["url"], "token": selflearn["token"], "turn_timeout": 30,
             "device": DEVICE}
    stack = OvosStack(mycroft_conf, block)
    try:
        stack.say("what is the weather in lisbon", until="ovos.utterance.handled",
                  user_id="alice")
        said = [m for m in stack.seen if m.msg_type == "speak"][-1]
        # The answer starts playing and the person stops it (the stop button, say).
        stack.bus.emit(said.forward("recognizer_loop:audio_output_start"))
        time.sleep(0.05)
        stack.bus.emit(said.forward("mycroft.audio.speech.stop"))
        stack.say("zork the gnomes", until="complete_intent_failure", user_id="alice")
        stack.say("what is the weather in atlantis", until="mycroft.skill.handler.error",
                  user_id="bob")
        # selflearn has no artifacts yet: it answers every rewrite request unchanged.
        reply = stack.plugin.client.rewrite(
            {"user_id": "alice", "device": DEVICE, "text": "what is the weather in lisbon"}, 2)
        assert (reply.status, reply.body) == (
            200, {"text": "what is the weather in lisbon", "rewritten": False})
        logger = stack.plugin.turn_logger
        assert logger.flush(timeout=10)
        stats = logger.sender.stats
        assert (stats.sent, stats.rejected, stats.dropped) == (3, 0, 0)
    finally:
        stack.close()

    # A turn whose first hypothesis selflearn rewrote, recorded as the transformer does: the
    # service must accept the rewrite record the adapter builds.
    bus = FakeBus()
    logger = TurnLogger(bus, Settings.from_config(block)).start()
    utterance = utterance_message("weather lisbon please", user_id="alice")
    utterance.context["selflearn"] = {
        "original_utterances": ["weather lisbon please"],
        "rewrite": {"original_text": "weather lisbon please",
                    "rewritten_text": "what is the weather in lisbon", "layer": "global",
                    "score": 0.7, "artifact_version": "v1"}}
    bus.emit(utterance)
    bus.emit(utterance.reply("complete_intent_failure", utterance.data))
    assert logger.flush(timeout=10)
    assert (logger.sender.stats.sent, logger.sender.stats.rejected) == (1, 0)
    logger.stop()

    # A wrong or missing token is refused on both routes.
    calls = {
        "rewrite": lambda c: c.rewrite({"user_id": "u", "device": DEVICE, "text": "hi"}, 2),
        "events": lambda c: c.post_events([], 2),
    }
    for path, call in calls.items():
        for token in ("slt_" + "0" * 64, None):
            reply = call(SelflearnClient(selflearn["url"], token))
            assert (reply.status, reply.error_code) == (401, "unauthorized"), (path, token)

    stored = stop_and_export(selflearn)
    assert len(stored) == 4, stored
    by_text = {e["asr"]["text"]: e for e in stored}
    for event in stored:
        assert_valid_event(event)
        assert event["source"] == SOURCE  # stamped by the service from the token
        assert event["device"] == DEVICE
    answered = by_text["what is the weather in lisbon"]
    assert answered["user_id"] == "alice"
    assert answered["nlu"] == {"intent": "weather.intent", "domain": SKILL_ID,
                               "slots": [{"name": "city", "value": "lisbon"}]}
    assert answered["response"] == {"text": "It is sunny in lisbon", "outcome": "success"}
    assert 0 <= answered["barge_in"]["at_ms"] < 5000
    assert by_text["zork the gnomes"]["response"]["outcome"] == "not_understood"
    failed = by_text["what is the weather in atlantis"]
    assert (failed["user_id"], failed["response"]["outcome"]) == ("bob", "failure")
    assert by_text["weather lisbon please"]["rewrite"] == {
        "original_text": "weather lisbon please", "rewritten_text": "what is the weather in lisbon",
        "layer": "global", "score": 0.7, "artifact_version": "v1"}
