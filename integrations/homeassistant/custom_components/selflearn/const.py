"""Constants for the selflearn integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "selflearn"

CONF_URL: Final = "url"
CONF_TOKEN: Final = "token"

# Options (changed after setup, in the integration's options dialog).
CONF_REWRITE_ENABLED: Final = "rewrite_enabled"
CONF_REWRITE_TIMEOUT: Final = "rewrite_timeout"
CONF_EVENT_TIMEOUT: Final = "event_timeout"

DEFAULT_URL: Final = "http://127.0.0.1:8080"
# The rewrite sits in front of every spoken request: a slow or absent service may cost the
# person at most this long before the original text goes to the built-in agent.
DEFAULT_REWRITE_TIMEOUT: Final = 1.0
# Events go out in the background, so their timeout only bounds how long one batch holds
# the sender.
DEFAULT_EVENT_TIMEOUT: Final = 5.0
MIN_TIMEOUT: Final = 0.1
MAX_TIMEOUT: Final = 30.0
# The config flow's checks run while a person waits on the form.
VALIDATION_TIMEOUT: Final = 5.0

# Bounded memory: at most this many turn events wait for the service; past it the oldest
# are dropped (selflearn learns from aggregates, one lost turn costs little).
EVENT_QUEUE_SIZE: Final = 256
EVENT_BATCH_SIZE: Final = 32
# A batch that failed for a transient reason (connection, timeout, 429, 5xx) is tried this
# many times in all, with a doubling pause between tries, then dropped.
EVENT_MAX_ATTEMPTS: Final = 3
EVENT_RETRY_BASE_DELAY: Final = 1.0
EVENT_RETRY_MAX_DELAY: Final = 30.0

# The built-in agent that does the understanding; selflearn only rewrites in front of it.
DEFAULT_AGENT_ID: Final = "homeassistant"

# Identity used when a request carries no device (the Assist dialog, the
# conversation.process action, the REST API).
NO_DEVICE_ID: Final = "ha-assist"
# Identity used when neither a Home Assistant user nor a device is known.
ANONYMOUS_USER_ID: Final = "anonymous"

SCHEMA_VERSION: Final = 1

# The action that writes learned rewrites as custom sentences, and the file it reads by
# default (relative to the configuration directory), as `selflearn rewrites --out` writes it.
SERVICE_EXPORT_SENTENCES: Final = "export_sentences"
DEFAULT_RULES_FILE: Final = "selflearn-rewrites.json"
