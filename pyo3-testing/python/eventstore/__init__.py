"""The Python SDK of the event store.

>>> from eventstore import EventStoreClient, event

All I/O runs in a Rust core (``eventstore._native``) on its own threads;
this package is the typed Python face of it.

Files, in the order data flows through them (an append goes down the
list, a recorded event comes back up):

- ``_client.py``: :class:`EventStoreClient`, the calls users make; it
  checks arguments and hands over to the core. ``_subscription.py``:
  :class:`Subscription` (beside the core's ``src/subscription.rs``).
  ``_loop.py``: the asyncio-only check every call makes.
- ``_connect.py``: the connection keywords (``credentials``, ``token``,
  ``tls``, the timeouts) of the client and the testing tools, one set,
  mapped one to one onto the core's connector (the command lines'
  ``--tls-ca``...); and the PEM files a container serves.
- ``_checkpoints.py``: where checkpointed subscriptions keep their position
  (:class:`CheckpointStore`, :class:`MemoryCheckpointStore`,
  :class:`SqliteCheckpointStore`).
- ``_encoding.py``: events on their way in: validation, the wire dict the
  core reads, nonces, UUIDv7 ids, SHA-256, message context.
- ``_wire.py``: that wire dict's type (``WireEvent``), shared with the stub.
- ``_events.py`` and ``_codec.py``: ``@event`` classes, the registry, and
  the JSON codec of their payloads.
- ``_context.py``: :class:`MessageContext` (correlation, causation, actor).
- ``_native.pyi``: the stub of the Rust core (checked by ``stubtest``).
- ``_models.py``: the values that come back (:class:`RecordedEvent`,
  :class:`StreamPage`, :class:`AllPage`, :class:`ServerInfo`,
  :class:`AppendResult`), capability names, credentials and request objects.
- ``_semver.py``: SemVer 2.0 parsing and precedence
  (:meth:`ServerInfo.version_at_least`).
- ``_checks.py``: every argument check more than one module needs (names,
  strs, unsigned ints, seconds and timeouts, tokens, SemVer minimums).
- ``_errors.py``: the exceptions every failure becomes.
- ``testing/``: ``_mock.py`` (:class:`~eventstore.testing.MockEventStore`),
  ``_expectations.py`` (``expect_*`` keywords -> the expectation JSON),
  ``_journal.py`` (:class:`~eventstore.testing.RecordedCall` and the other
  journal views), ``_spec.py`` (the typed expectation and journal JSON
  exchanged with the Rust mock), ``_container.py`` and ``pytest_plugin.py``.

Names are imported on first use, so importing ``eventstore`` (as the pytest
plugin ``eventstore.testing.pytest_plugin`` does in every pytest run) stays
cheap and loads no native code.
"""

from __future__ import annotations

import atexit
import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventstore._checkpoints import CheckpointError, CheckpointStore, MemoryCheckpointStore, SqliteCheckpointStore
    from eventstore._client import EventStoreClient
    from eventstore._context import MessageContext, MessageIds
    from eventstore._errors import (
        AuthenticationError,
        AuthorizationError,
        CompatibilityError,
        ConcurrencyError,
        ConnectionError,
        ContainerError,
        DuplicateEventError,
        EventStoreError,
        TimeoutError,
        UndecodableEventError,
        UnregisteredEventWarning,
        UnsupportedEventLoopError,
        ValidationError,
    )
    from eventstore._events import EventDefinition, EventRegistry, default_registry, event
    from eventstore._models import (
        CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE,
        CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX,
        CAPABILITY_SUBSCRIPTION_ERRORS_SURFACED,
        CAPABILITY_UNDECODABLE_EVENTS_SURFACED,
        DEFAULT_TENANT,
        HEAD,
        KNOWN_CAPABILITIES,
        AllPage,
        AppendRequest,
        AppendResult,
        EventInput,
        NewEvent,
        RecordedEvent,
        ServerInfo,
        StreamPage,
    )
    from eventstore._subscription import Subscription

    __version__: str

# Public name -> the module defining it.
_EXPORTS: dict[str, str] = {
    "DEFAULT_TENANT": "eventstore._models",
    "HEAD": "eventstore._models",
    "CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE": "eventstore._models",
    "CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX": "eventstore._models",
    "CAPABILITY_SUBSCRIPTION_ERRORS_SURFACED": "eventstore._models",
    "CAPABILITY_UNDECODABLE_EVENTS_SURFACED": "eventstore._models",
    "KNOWN_CAPABILITIES": "eventstore._models",
    "EventStoreClient": "eventstore._client",
    "CheckpointError": "eventstore._checkpoints",
    "CheckpointStore": "eventstore._checkpoints",
    "MemoryCheckpointStore": "eventstore._checkpoints",
    "SqliteCheckpointStore": "eventstore._checkpoints",
    "Subscription": "eventstore._subscription",
    "MessageContext": "eventstore._context",
    "MessageIds": "eventstore._context",
    "AuthenticationError": "eventstore._errors",
    "AuthorizationError": "eventstore._errors",
    "CompatibilityError": "eventstore._errors",
    "ConcurrencyError": "eventstore._errors",
    "ConnectionError": "eventstore._errors",
    "ContainerError": "eventstore._errors",
    "DuplicateEventError": "eventstore._errors",
    "EventStoreError": "eventstore._errors",
    "TimeoutError": "eventstore._errors",
    "UndecodableEventError": "eventstore._errors",
    "UnregisteredEventWarning": "eventstore._errors",
    "UnsupportedEventLoopError": "eventstore._errors",
    "ValidationError": "eventstore._errors",
    "EventDefinition": "eventstore._events",
    "EventRegistry": "eventstore._events",
    "default_registry": "eventstore._events",
    "event": "eventstore._events",
    "AllPage": "eventstore._models",
    "AppendRequest": "eventstore._models",
    "AppendResult": "eventstore._models",
    "EventInput": "eventstore._models",
    "NewEvent": "eventstore._models",
    "RecordedEvent": "eventstore._models",
    "ServerInfo": "eventstore._models",
    "StreamPage": "eventstore._models",
}

__all__ = [
    "CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE",
    "CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX",
    "CAPABILITY_SUBSCRIPTION_ERRORS_SURFACED",
    "CAPABILITY_UNDECODABLE_EVENTS_SURFACED",
    "DEFAULT_TENANT",
    "HEAD",
    "KNOWN_CAPABILITIES",
    "AllPage",
    "AppendRequest",
    "AppendResult",
    "AuthenticationError",
    "AuthorizationError",
    "CheckpointError",
    "CheckpointStore",
    "CompatibilityError",
    "ConcurrencyError",
    "ConnectionError",
    "ContainerError",
    "DuplicateEventError",
    "EventDefinition",
    "EventInput",
    "EventRegistry",
    "EventStoreClient",
    "EventStoreError",
    "MemoryCheckpointStore",
    "MessageContext",
    "MessageIds",
    "NewEvent",
    "RecordedEvent",
    "ServerInfo",
    "SqliteCheckpointStore",
    "StreamPage",
    "Subscription",
    "TimeoutError",
    "UndecodableEventError",
    "UnregisteredEventWarning",
    "UnsupportedEventLoopError",
    "ValidationError",
    "default_registry",
    "event",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from eventstore import _native

        return _native.__version__
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eventstore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})


def _shutdown() -> None:
    # Stop the Rust runtime before the interpreter finalizes, so no native
    # thread touches Python while it shuts down (if it was ever loaded);
    # calls from threads still running are refused before they reach it.
    from eventstore._loop import interpreter_exiting

    interpreter_exiting()
    native = sys.modules.get("eventstore._native")
    if native is not None:
        native.shutdown()


atexit.register(_shutdown)
