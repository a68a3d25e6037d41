"""Connects a Rasa assistant to selflearn.

Two pieces, usable apart:

* :mod:`rasa_selflearn.turns` turns Rasa's tracker events, as its event brokers publish them,
  into selflearn turn events (schema v1); :mod:`rasa_selflearn.sender` posts them in batches.
* :mod:`rasa_selflearn.proxy` sits in front of Rasa's REST channel and ``/model/parse`` and
  asks selflearn to rewrite a request before Rasa's NLU sees it.
"""

__version__ = "0.1.0"

from .client import RewriteResult, SelflearnClient, TransportError  # noqa: E402
from .sender import EventSender, SendReport  # noqa: E402
from .turns import MappingOptions, TurnAssembler, broker_events_to_turn_events  # noqa: E402

__all__ = [
    "__version__",
    "EventSender",
    "MappingOptions",
    "RewriteResult",
    "SelflearnClient",
    "SendReport",
    "TransportError",
    "TurnAssembler",
    "broker_events_to_turn_events",
]
