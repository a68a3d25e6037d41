"""Shared fixtures: an isolated OVOS configuration and the selflearn stand-ins of support.py.

OVOS reads ``mycroft.conf`` and data files from the XDG directories when its modules are first
imported, so they are pointed at a private temporary tree here, before any test imports OVOS:
the tests never read or write the configuration of the machine they run on.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator

_XDG_ROOT = Path(tempfile.mkdtemp(prefix="ovos-selflearn-tests-"))
atexit.register(shutil.rmtree, _XDG_ROOT, ignore_errors=True)
for _name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(_XDG_ROOT / _name.lower())
    Path(os.environ[_name]).mkdir(parents=True, exist_ok=True)

# OVOS logs at INFO to stderr, even from skills finalized after the last test; warnings and
# errors are what a failing test needs. The level comes from mycroft.conf.
BASE_CONF = {"log_level": "WARNING"}
USER_CONF = Path(os.environ["XDG_CONFIG_HOME"]) / "mycroft" / "mycroft.conf"
USER_CONF.parent.mkdir(parents=True, exist_ok=True)
USER_CONF.write_text(json.dumps(BASE_CONF), encoding="utf-8")

import pytest  # noqa: E402

from support import FakeSelflearn, HangingServer  # noqa: E402


@pytest.fixture
def fake_selflearn() -> Iterator[FakeSelflearn]:
    server = FakeSelflearn()
    yield server
    server.close()


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """The URL of a local port nothing listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def mycroft_conf():
    """Writes the user ``mycroft.conf`` in the private XDG tree and reloads OVOS's config."""
    from ovos_config import Configuration

    def write(config: Dict[str, Any]) -> Path:
        USER_CONF.write_text(json.dumps({**BASE_CONF, **config}), encoding="utf-8")
        Configuration.reload()
        return USER_CONF

    yield write
    USER_CONF.write_text(json.dumps(BASE_CONF), encoding="utf-8")
    Configuration.reload()
