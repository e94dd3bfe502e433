"""Test doubles for code that uses the event store.

- :class:`MockEventStore`: an in-memory store in this process, with
  expectations, faults, a call journal and verification.
- :class:`EventStoreContainer`: the real store in a local ``FROM scratch``
  Docker image built from the server binary this package carries (or, with
  no Docker engine, the real server in this process).
- pytest fixtures (plugin ``eventstore.testing.pytest_plugin``, loaded
  automatically): ``event_store_mock``, ``event_store_client`` and the
  session-scoped ``event_store_container``; for a store shared by a whole
  suite, ``event_store_tenant`` and ``event_store_tenant_client``.
- consumers (``_consumers.py``): :func:`check_redelivery` (is a handler safe
  to see an event twice?) and :func:`wait_until_consumed`.
- property tests (need Hypothesis: ``pip install "eventstore-sdk-py[hypothesis]"``):
  :mod:`eventstore.testing.strategies` (events and histories of your
  ``@event`` classes) and :func:`consumer_state_machine` (a state machine
  that hunts a consumer's redelivery bugs).
- :data:`Matcher`: the type of a pattern value of an ``expect_*`` keyword
  (``re.compile("^order-")``, ``{"$regex": "^order-"}``, ...).

Names are imported on first use: the pytest plugin imports this package in
every pytest run, and must not load the native extension for that.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventstore.testing._consumers import Consumer, check_redelivery, wait_until_consumed
    from eventstore.testing._container import EventStoreContainer
    from eventstore.testing._expectations import Matcher
    from eventstore.testing._mock import Expectation, MockEventStore, RecordedCall, StreamEnd
    from eventstore.testing._state_machine import consumer_state_machine
    from eventstore.testing._warnings import DockerUnavailableWarning

_EXPORTS: dict[str, str] = {
    "check_redelivery": "eventstore.testing._consumers",
    "consumer_state_machine": "eventstore.testing._state_machine",
    "Consumer": "eventstore.testing._consumers",
    "DockerUnavailableWarning": "eventstore.testing._warnings",
    "wait_until_consumed": "eventstore.testing._consumers",
    "EventStoreContainer": "eventstore.testing._container",
    "Expectation": "eventstore.testing._mock",
    "Matcher": "eventstore.testing._expectations",
    "MockEventStore": "eventstore.testing._mock",
    "RecordedCall": "eventstore.testing._mock",
    "StreamEnd": "eventstore.testing._mock",
}

__all__ = [
    "Consumer",
    "DockerUnavailableWarning",
    "EventStoreContainer",
    "Expectation",
    "Matcher",
    "MockEventStore",
    "RecordedCall",
    "StreamEnd",
    "check_redelivery",
    "consumer_state_machine",
    "wait_until_consumed",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eventstore.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
