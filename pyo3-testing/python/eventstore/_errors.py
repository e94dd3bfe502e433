"""Exceptions raised by the SDK.

Every error the SDK raises is an :class:`EventStoreError`. Errors that come
from the server keep its message word for word and carry the gRPC status
code's name in :attr:`EventStoreError.code`.
"""

from __future__ import annotations

import builtins

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "ConcurrencyError",
    "ConnectionError",
    "ContainerError",
    "DuplicateEventError",
    "EventStoreError",
    "TimeoutError",
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


class ContainerError(EventStoreError):
    """An :class:`~eventstore.testing.EventStoreContainer` could not start, restart
    or stop; the message includes the store's logs when there are any."""
