"""The plugin's configuration block, read from ``mycroft.conf``.

Both halves of the adapter (the utterance transformer and the turn logger) read the same block,
``utterance_transformers["ovos-selflearn"]``, so that one place holds the service's address and
token. Values that are missing or of the wrong type fall back to their defaults with a warning:
a typo in ``mycroft.conf`` must never keep the assistant from starting.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from ovos_utils.log import LOG

#: The entry-point name, and so the key of the block under ``utterance_transformers``.
PLUGIN_NAME = "ovos-selflearn"

#: The device kinds the turn-event schema accepts.
DEVICE_KINDS = ("speaker", "screen_speaker", "phone", "tv", "car", "wearable", "other")

#: OVOS's stock "I don't understand" fallback: a turn it answers was not understood.
DEFAULT_NOT_UNDERSTOOD_SKILLS = ("ovos-skill-fallback-unknown.openvoiceos",)

_KNOWN_KEYS = {
    "active", "url", "token", "token_file", "rewrite", "log_turns", "priority",
    "rewrite_timeout", "events_timeout", "queue_size", "batch_size", "turn_timeout",
    "speech_timeout", "pause_after_failures", "pause_seconds", "user_id", "device",
    "not_understood_skills",
}


@dataclass(frozen=True)
class DeviceSettings:
    """The ``device`` object of every event and rewrite request.

    OVOS keeps no device id, kind or screen flag of its own, so these come from the block; the
    id defaults to the host name, the one stable name the machine has for itself.
    """

    id: str
    kind: str = "other"
    has_screen: bool = False

    def as_json(self) -> Dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "has_screen": self.has_screen}


@dataclass(frozen=True)
class Settings:
    """Everything the adapter needs, with the defaults documented in the README."""

    url: str = "http://127.0.0.1:8080"
    token: Optional[str] = None
    rewrite: bool = True
    log_turns: bool = True
    priority: int = 90
    rewrite_timeout: float = 1.0
    events_timeout: float = 5.0
    queue_size: int = 1000
    batch_size: int = 50
    turn_timeout: float = 10.0
    speech_timeout: float = 60.0
    pause_after_failures: int = 3
    pause_seconds: float = 30.0
    user_id: str = "default"
    device: DeviceSettings = field(default_factory=lambda: DeviceSettings(id=_host_name()))
    not_understood_skills: Tuple[str, ...] = DEFAULT_NOT_UNDERSTOOD_SKILLS

    @classmethod
    def from_config(cls, config: Optional[Mapping[str, Any]]) -> "Settings":
        """Builds the settings from a ``mycroft.conf`` block (a plain dict)."""
        config = dict(config or {})
        unknown = sorted(set(config) - _KNOWN_KEYS)
        if unknown:
            LOG.warning(f"{PLUGIN_NAME}: ignoring unknown configuration keys {unknown}")
        defaults = cls()
        token = _text(config, "token", None)
        token_file = _text(config, "token_file", None)
        if token_file:
            token = _read_token_file(token_file) or token
        device_block = config.get("device") or {}
        if not isinstance(device_block, Mapping):
            LOG.warning(f"{PLUGIN_NAME}: 'device' must be an object; using the defaults")
            device_block = {}
        kind = _text(device_block, "kind", defaults.device.kind)
        if kind not in DEVICE_KINDS:
            LOG.warning(f"{PLUGIN_NAME}: device kind {kind!r} is not one of {DEVICE_KINDS}; "
                        f"using 'other'")
            kind = "other"
        device = DeviceSettings(
            id=_text(device_block, "id", defaults.device.id) or defaults.device.id,
            kind=kind,
            has_screen=_flag(device_block, "has_screen", defaults.device.has_screen),
        )
        skills = config.get("not_understood_skills", list(defaults.not_understood_skills))
        if not isinstance(skills, (list, tuple)) or not all(isinstance(s, str) for s in skills):
            LOG.warning(f"{PLUGIN_NAME}: 'not_understood_skills' must be a list of skill ids")
            skills = list(defaults.not_understood_skills)
        return cls(
            url=(_text(config, "url", defaults.url) or defaults.url).rstrip("/"),
            token=token or None,
            rewrite=_flag(config, "rewrite", defaults.rewrite),
            log_turns=_flag(config, "log_turns", defaults.log_turns),
            priority=int(_number(config, "priority", defaults.priority, minimum=0)),
            rewrite_timeout=_number(config, "rewrite_timeout", defaults.rewrite_timeout,
                                    minimum=0.05),
            events_timeout=_number(config, "events_timeout", defaults.events_timeout,
                                   minimum=0.1),
            queue_size=int(_number(config, "queue_size", defaults.queue_size, minimum=1)),
            batch_size=int(_number(config, "batch_size", defaults.batch_size, minimum=1)),
            turn_timeout=_number(config, "turn_timeout", defaults.turn_timeout, minimum=0.1),
            speech_timeout=_number(config, "speech_timeout", defaults.speech_timeout,
                                   minimum=0.1),
            pause_after_failures=int(_number(config, "pause_after_failures",
                                             defaults.pause_after_failures, minimum=1)),
            pause_seconds=_number(config, "pause_seconds", defaults.pause_seconds, minimum=0),
            user_id=_text(config, "user_id", defaults.user_id) or defaults.user_id,
            device=device,
            not_understood_skills=tuple(skills),
        )


def load_settings() -> Settings:
    """Reads the block from the running OVOS configuration (``mycroft.conf`` stack)."""
    from ovos_config import Configuration

    block = (Configuration().get("utterance_transformers") or {}).get(PLUGIN_NAME)
    return Settings.from_config(block)


def _host_name() -> str:
    try:
        return socket.gethostname() or "ovos"
    except OSError:
        return "ovos"


def _read_token_file(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError as error:
        LOG.error(f"{PLUGIN_NAME}: cannot read token_file {path!r}: {error}")
        return None


def _text(config: Mapping[str, Any], key: str, default: Optional[str]) -> Optional[str]:
    value = config.get(key, default)
    if value is None or isinstance(value, str):
        return value.strip() if isinstance(value, str) else value
    LOG.warning(f"{PLUGIN_NAME}: '{key}' must be a string; using {default!r}")
    return default


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if isinstance(value, bool):
        return value
    LOG.warning(f"{PLUGIN_NAME}: '{key}' must be true or false; using {default}")
    return default


def _number(config: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        LOG.warning(f"{PLUGIN_NAME}: '{key}' must be a number of at least {minimum}; "
                    f"using {default}")
        return float(default)
    return float(value)
