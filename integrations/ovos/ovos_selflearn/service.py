"""``ovos-selflearn-listener``: the turn logger as a process of its own.

For installations that would rather not log turns from inside ovos-core (a HiveMind master, a
container per service): it reads the same ``mycroft.conf`` block, connects to the messagebus
like any OVOS service and runs until SIGTERM or Ctrl-C. Set ``"log_turns": false`` in the block
when it runs, or each turn is logged twice.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Optional, Sequence

from ovos_utils.log import LOG

from ovos_selflearn.listener import TurnLogger
from ovos_selflearn.settings import load_settings


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the turn logger until a signal stops it."""
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    from ovos_bus_client.client import MessageBusClient

    settings = load_settings()
    bus = MessageBusClient()
    bus.run_in_thread()
    logger = TurnLogger(bus, settings).start()
    LOG.info(f"selflearn: logging turns to {settings.url}")
    while not stopped.wait(1.0):
        pass
    logger.stop(flush_timeout=settings.events_timeout)
    bus.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
