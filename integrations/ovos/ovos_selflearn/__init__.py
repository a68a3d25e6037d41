"""OpenVoiceOS adapter for selflearn.

Two parts share one ``mycroft.conf`` block (``utterance_transformers["ovos-selflearn"]``):
:class:`SelflearnTransformer`, an utterance transformer that asks selflearn to rewrite a request
before intent matching, and :class:`TurnLogger`, which follows each turn on the messagebus and
posts it to selflearn as a turn event.
"""

from ovos_selflearn.listener import TurnLogger
from ovos_selflearn.sender import EventSender
from ovos_selflearn.settings import PLUGIN_NAME, Settings
from ovos_selflearn.transformer import SelflearnTransformer
from ovos_selflearn.version import __version__

__all__ = ["PLUGIN_NAME", "EventSender", "SelflearnTransformer", "Settings", "TurnLogger",
           "__version__"]
