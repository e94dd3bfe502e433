"""Correlation and causation ids that follow the code that runs.

:class:`MessageContext` lives in a :mod:`contextvars` variable, so each
asyncio task sees the context that was current when it was created, and a
``with MessageContext.scope(...)`` block changes it only inside the block.
The client reads it when an append is made, not when the client is built.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

__all__ = ["MessageContext"]


@dataclass(frozen=True)
class _Context:
    correlation_id: str | None = None
    causation_id: str | None = None
    actor_id: str | None = None


# _Context is frozen, so sharing one empty instance as the default is safe.
_current: contextvars.ContextVar[_Context] = contextvars.ContextVar(
    "eventstore_message_context",
    default=_Context(),  # noqa: B039
)


class MessageContext:
    """The ids stamped on every event appended from the current context.

    >>> MessageContext.set(correlation_id="req-123", causation_id="cmd-456")
    >>> MessageContext.get().correlation_id
    'req-123'

    Ids given explicitly to ``append_events`` win over the context.
    """

    @staticmethod
    def set(
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        actor_id: str | None = None,
    ) -> None:
        """Sets the ids for the current context (and tasks created from it)."""
        _current.set(_Context(correlation_id, causation_id, actor_id))

    @staticmethod
    def get() -> _Context:
        """The current ids (each ``None`` when unset)."""
        return _current.get()

    @staticmethod
    def clear() -> None:
        """Removes every id from the current context."""
        _current.set(_Context())

    @staticmethod
    @contextmanager
    def scope(
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        actor_id: str | None = None,
    ) -> Iterator[_Context]:
        """Sets the given ids inside the ``with`` block only; ids not given
        keep their outer value."""
        outer = _current.get()
        changes = {
            k: v
            for k, v in {
                "correlation_id": correlation_id,
                "causation_id": causation_id,
                "actor_id": actor_id,
            }.items()
            if v is not None
        }
        token = _current.set(replace(outer, **changes))
        try:
            yield _current.get()
        finally:
            _current.reset(token)
