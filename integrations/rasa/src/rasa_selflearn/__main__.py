"""``python -m rasa_selflearn``: the same as the ``rasa-selflearn`` command."""

from .cli import entry_point

entry_point()
