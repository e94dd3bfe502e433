"""Exceptions raised by the SDK.

Every error the SDK raises is an :class:`EventStoreError`. Errors that come
from the server keep its message word for word and carry the gRPC status
code's name in :attr:`EventStoreError.code`.
"""

from __future__ import annotations

import builtins
from typing import TypedDict

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "CompatibilityError",
    "ConcurrencyError",
    "ConnectionError",
    "ContainerError",
    "DuplicateEventError",
    "EventStoreError",
    "TimeoutError",
    "UndecodableEventError",
    "UnregisteredEventWarning",
    "UnsupportedEventLoopError",
    "ValidationError",
]


class EventStoreError(Exception):
    """Base class of every error the SDK raises."""

    code: str | None
    """Name of the gRPC status code (``"ABORTED"``), or ``None`` for client-side errors."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message


class ConnectionError(EventStoreError, builtins.ConnectionError):
    """The store could not be reached, or the connection was lost.

    Also a builtin :class:`ConnectionError`, so ``except ConnectionError``
    catches it whichever of the two names is in scope.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        EventStoreError.__init__(self, message, code=code)


class TimeoutError(EventStoreError, builtins.TimeoutError):
    """A request took longer than ``request_timeout`` (also a builtin :class:`TimeoutError`)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        EventStoreError.__init__(self, message, code=code)


class ValidationError(EventStoreError, ValueError):
    """The request is invalid (``INVALID_ARGUMENT``, a limit exceeded) or could not be built."""


class AuthenticationError(EventStoreError):
    """Missing or wrong credentials, or no tenant (``UNAUTHENTICATED``)."""


class AuthorizationError(EventStoreError):
    """The credentials may not do this, e.g. write to another tenant (``PERMISSION_DENIED``)."""


class DuplicateEventError(EventStoreError):
    """An event id is already used in the tenant, or an idempotency key was
    reused for a different batch (``ALREADY_EXISTS``)."""


class ConcurrencyError(EventStoreError):
    """The stream's head is not the one the append expected (``ABORTED``).

    Reload the aggregate (its head is :attr:`actual_last_aggregate_nonce`)
    and retry with the new expected nonce.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = "ABORTED",
        tenant_id: str = "",
        aggregate_id: str = "",
        expected_aggregate_nonce: int | None = None,
        actual_last_aggregate_nonce: int = 0,
        actual_last_global_nonce: int = 0,
    ) -> None:
        super().__init__(message, code=code)
        self.tenant_id = tenant_id
        self.aggregate_id = aggregate_id
        self.expected_aggregate_nonce = expected_aggregate_nonce
        self.actual_last_aggregate_nonce = actual_last_aggregate_nonce
        self.actual_last_global_nonce = actual_last_global_nonce

    @property
    def expected(self) -> int | None:
        """Alias of :attr:`expected_aggregate_nonce`."""
        return self.expected_aggregate_nonce

    @property
    def actual(self) -> int:
        """Alias of :attr:`actual_last_aggregate_nonce`: the stream's real head."""
        return self.actual_last_aggregate_nonce

    def __repr__(self) -> str:
        stream = f", aggregate_id={self.aggregate_id!r}" if self.aggregate_id else ""
        return (
            f"{type(self).__name__}(code={self.code!r}{stream}, expected={self.expected}, "
            f"actual={self.actual}, message={self.message!r})"
        )


class UndecodableEventError(EventStoreError):
    """The store holds an event it cannot decode (``DATA_LOSS``): the read or
    subscription delivered every event before it and nothing at or past it.

    Not transient: a subscription does not reconnect after it (it would meet
    the same event again). The event's position is :attr:`global_nonce`.
    """

    def __init__(self, message: str, *, code: str | None = "DATA_LOSS", global_nonce: int | None = None) -> None:
        super().__init__(message, code=code)
        self.global_nonce = global_nonce
        """The global nonce of the undecodable event (the trailer
        ``esp-undecodable-global-nonce``); ``None`` when the store sent none."""


class CompatibilityError(EventStoreError):
    """The server lacks capabilities the caller requires, or its version is
    below the minimum required
    (:meth:`~eventstore.EventStoreClient.require_capabilities`).

    :attr:`missing` names the capabilities (empty when only the version
    falls short), :attr:`min_version` the minimum its version did not meet
    (``None`` when it did, or none was required); :attr:`server_version`
    and :attr:`is_legacy` say which server answered.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        missing: frozenset[str] = frozenset(),
        server_version: str = "",
        is_legacy: bool = False,
        min_version: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.missing = missing
        self.server_version = server_version
        self.is_legacy = is_legacy
        self.min_version = min_version


class UnsupportedEventLoopError(EventStoreError, RuntimeError):
    """A call was made outside a running asyncio event loop (also a builtin
    :class:`RuntimeError`).

    The SDK is asyncio-only: its calls return asyncio futures, so they run
    under ``asyncio.run``, pytest-asyncio or anyio's asyncio backend, but not
    under trio (nor anyio's trio backend)."""


class UnregisteredEventWarning(UserWarning):
    """A recorded event's ``(event_type, event_version)`` has no ``@event``
    class in the client's registry, so its :attr:`~eventstore.RecordedEvent.payload`
    is the raw JSON value (or bytes), not an instance
    (:attr:`~eventstore.RecordedEvent.decoded` is false).

    Warned once per type and revision. Import the module that defines the
    class, or silence it: ``warnings.filterwarnings("ignore",
    category=eventstore.UnregisteredEventWarning)``."""


class ContainerError(EventStoreError):
    """An :class:`~eventstore.testing.EventStoreContainer` could not start, restart
    or stop; the message includes the store's logs when there are any."""


_CODES: tuple[tuple[type[EventStoreError], tuple[str, ...]], ...] = (
    (ConcurrencyError, ("ABORTED",)),
    (DuplicateEventError, ("ALREADY_EXISTS",)),
    (ValidationError, ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "OUT_OF_RANGE")),
    (AuthenticationError, ("UNAUTHENTICATED",)),
    (AuthorizationError, ("PERMISSION_DENIED",)),
    (TimeoutError, ("DEADLINE_EXCEEDED",)),
    (ConnectionError, ("UNAVAILABLE",)),
    (UndecodableEventError, ("DATA_LOSS",)),
    (EventStoreError, ("INTERNAL",)),
)
"""The one table of gRPC status codes and exception classes, read both ways:
a status from the store raises the class listed for its code (any other
code: :class:`EventStoreError`), and ``MockEventStore(fail_with=cls)``
answers with the class's first code."""

_CLASS_BY_CODE: dict[str, type[EventStoreError]] = {code: cls for cls, codes in _CODES for code in codes}
_CODE_BY_CLASS: dict[type[EventStoreError], str] = {cls: codes[0] for cls, codes in _CODES}
_BY_NAME: dict[str, type[EventStoreError]] = {
    cls.__name__: cls for cls in (*_CLASS_BY_CODE.values(), ContainerError, EventStoreError)
}


def error_class(code: str | None) -> type[EventStoreError]:
    """The class raised for a status code's name (``"ABORTED"``)."""
    return _CLASS_BY_CODE.get(code or "", EventStoreError)


def status_code(cls: type[EventStoreError]) -> str:
    """The status code's name an error class stands for (the nearest listed base's)."""
    for base in cls.__mro__:
        code = _CODE_BY_CLASS.get(base)
        if code is not None:
            return code
    return "INTERNAL"


class _ConflictDetail(TypedDict):
    """The concurrency detail ``src/errors.rs`` passes to :func:`from_native`
    (every key, always: the defaults when the status carried none)."""

    tenant_id: str
    aggregate_id: str
    expected_aggregate_nonce: int | None
    actual_last_aggregate_nonce: int
    actual_last_global_nonce: int


def from_native(
    class_name: str | None,
    message: str,
    code: str | None,
    conflict: _ConflictDetail,
    undecodable_global_nonce: int | None = None,
) -> EventStoreError:
    """The exception for an error of the Rust core (called from
    ``src/errors.rs``): the class it names, else the one for ``code``;
    ``conflict`` (the concurrency detail) goes to :class:`ConcurrencyError`
    only, the ``esp-undecodable-global-nonce`` trailer's value to
    :class:`UndecodableEventError` only."""
    cls = _BY_NAME[class_name] if class_name else error_class(code)
    if issubclass(cls, ConcurrencyError):
        return cls(message, code=code, **conflict)
    if issubclass(cls, UndecodableEventError):
        return cls(message, code=code, global_nonce=undecodable_global_nonce)
    return cls(message, code=code)
