"""The standalone ``ovos-selflearn-listener`` starts with no messagebus around and stops on
SIGTERM with status 0 (the bus client keeps retrying in the background meanwhile)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def test_the_listener_service_runs_without_a_bus_and_stops_cleanly(mycroft_conf,
                                                                   closed_port_url):
    port = int(closed_port_url.rsplit(":", 1)[1])
    mycroft_conf({"log_level": "INFO", "websocket": {"host": "127.0.0.1", "port": port},
                  "utterance_transformers": {"ovos-selflearn": {"url": closed_port_url}}})
    script = os.path.join(os.path.dirname(sys.executable), "ovos-selflearn-listener")
    process = subprocess.Popen([script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ))
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "selflearn: logging turns to" in line:
                break
        assert any(closed_port_url in line for line in lines), "".join(lines)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
