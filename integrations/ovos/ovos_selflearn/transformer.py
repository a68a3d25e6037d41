"""The utterance transformer: asks selflearn for a rewrite before intent matching.

ovos-core calls ``transform`` synchronously in its utterance path, so the call to selflearn
runs on a worker thread and is abandoned at the deadline (``rewrite_timeout``, 1 s by default):
a slow or hung service costs at most that, a closed port almost nothing, and after
``pause_after_failures`` failures in a row the plugin stops asking for ``pause_seconds`` so that
an outage costs nothing at all. Whatever goes wrong, the utterances are returned as they came.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from typing import Any, Dict, List, Optional, Tuple

from ovos_plugin_manager.templates.transformers import UtteranceTransformer
from ovos_utils.log import LOG

from ovos_selflearn import mapping
from ovos_selflearn.client import SelflearnClient
from ovos_selflearn.listener import TurnLogger
from ovos_selflearn.settings import PLUGIN_NAME, Settings


class SelflearnTransformer(UtteranceTransformer):
    """Replaces the best hypothesis with selflearn's rewrite, keeping the original in context.

    When ``log_turns`` is on (the default) it also starts the :class:`TurnLogger` on the bus,
    so that one entry in ``mycroft.conf`` both rewrites and reports how the turn went.
    """

    def __init__(self, name: str = PLUGIN_NAME, priority: Optional[int] = None,
                 config: Optional[Dict[str, Any]] = None) -> None:
        # The template reads utterance_transformers[name] from mycroft.conf when no config is
        # passed, which is how ovos-core builds plugins (it passes nothing).
        super().__init__(name, priority=priority if priority is not None else 90, config=config)
        self.settings = Settings.from_config(self.config)
        if priority is None:
            self.priority = self.settings.priority
        self.client = SelflearnClient(self.settings.url, self.settings.token)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="selflearn-rewrite")
        self._state = threading.Lock()
        self._failures = 0
        self._paused_until = 0.0
        self.turn_logger: Optional[TurnLogger] = None
        if self.settings.log_turns:
            self._start_turn_logger()

    # -- OVOS plugin API ---------------------------------------------------------------------

    def bind(self, bus: Any = None) -> None:
        """Attaches the messagebus; the turn logger follows this bus from then on."""
        super().bind(bus)
        if self.settings.log_turns:
            self._start_turn_logger(self.bus)

    def transform(self, utterances: List[str],
                  context: Optional[dict] = None) -> Tuple[List[str], dict]:
        """Returns ``(utterances, extra context)``; the utterances unchanged on any failure."""
        context = context or {}
        if not self.settings.rewrite or not utterances or not isinstance(utterances[0], str):
            return utterances, {}
        original = utterances[0]
        if not original.strip():
            return utterances, {}
        try:
            answer = self._ask(original, context)
        except Exception:  # noqa: BLE001 - the assistant must keep working without us
            LOG.exception("selflearn: rewrite failed; keeping the utterance")
            return utterances, {}
        if answer is None:
            return utterances, {}
        text = answer.get("text")
        if answer.get("rewritten") is not True or not isinstance(text, str) \
                or not text.strip() or text == original:
            return utterances, {}
        record: Dict[str, Any] = {"original_text": original, "rewritten_text": text,
                                  "layer": answer.get("layer") if isinstance(
                                      answer.get("layer"), str) else "unknown"}
        if isinstance(answer.get("artifact_version"), str):
            record["artifact_version"] = answer["artifact_version"]
        if isinstance(answer.get("score"), (int, float)) and not isinstance(
                answer.get("score"), bool):
            record["score"] = answer["score"]
        LOG.info(f"selflearn: rewrote {original!r} -> {text!r} ({record['layer']})")
        # Only the rewrite goes on: the other hypotheses could match what the rewrite avoids,
        # and the learner judges the rewrite by what happened next.
        return [text], {mapping.CONTEXT_KEY: {"original_utterances": list(utterances),
                                              "rewrite": record}}

    def shutdown(self) -> None:
        """Stops the turn logger (posting what it holds) and the rewrite workers."""
        if self.turn_logger is not None:
            self.turn_logger.stop()
            self.turn_logger = None
        self._pool.shutdown(wait=False)

    def default_shutdown(self) -> None:
        self.shutdown()

    # -- internals ---------------------------------------------------------------------------

    def _ask(self, text: str, context: dict) -> Optional[dict]:
        """One rewrite request within the deadline; ``None`` when there is no usable answer."""
        now = time.monotonic()
        with self._state:
            if now < self._paused_until:
                return None
        request = {
            "user_id": mapping.user_id_of(context, self.settings),
            "device": self.settings.device.as_json(),
            "text": text,
            "timestamp_ms": int(time.time() * 1000),
        }
        request_context = mapping.request_context({}, context)
        if request_context:
            request["context"] = request_context
        timeout = self.settings.rewrite_timeout
        future = self._pool.submit(self.client.rewrite, request, timeout)
        try:
            reply = future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            self._failed(f"no answer within {timeout:.2f} s")
            return None
        except OSError as error:
            self._failed(str(error) or type(error).__name__)
            return None
        if reply.status != 200 or not isinstance(reply.body, dict):
            self._failed(f"HTTP {reply.status} {reply.error_code or ''}".strip())
            return None
        with self._state:
            self._failures = 0
        return reply.body

    def _failed(self, why: str) -> None:
        with self._state:
            self._failures += 1
            failures = self._failures
            if failures >= self.settings.pause_after_failures:
                self._paused_until = time.monotonic() + self.settings.pause_seconds
                self._failures = 0
        if failures >= self.settings.pause_after_failures:
            LOG.warning(f"selflearn: rewrite at {self.settings.url} failed ({why}); not asking "
                        f"for {self.settings.pause_seconds:.0f} s")
        else:
            LOG.warning(f"selflearn: rewrite at {self.settings.url} failed ({why}); "
                        f"keeping the utterance")

    def _start_turn_logger(self, bus: Any = None) -> None:
        try:
            if bus is None:
                # ovos-core builds transformers without a bus; the template's own bind()
                # opens a client connection to the messagebus in the background.
                from ovos_bus_client.util import get_mycroft_bus

                bus = get_mycroft_bus()
            if self.turn_logger is not None:
                if self.turn_logger.bus is bus:
                    return
                self.turn_logger.stop(flush_timeout=0.5)
            self.turn_logger = TurnLogger(bus, self.settings).start()
        except Exception:  # noqa: BLE001
            LOG.exception("selflearn: could not start the turn logger; rewriting only")
