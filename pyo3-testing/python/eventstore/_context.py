"""Correlation and causation ids that follow the code that runs.

:class:`MessageContext` lives in a :mod:`contextvars` variable, so each
asyncio task sees the context that was current when it was created, and a
``with MessageContext.scope(...)`` block changes it only inside the block.
The client reads it when an append is made, not when the client is built.
"""

from __future__ import annotations

import contextvars
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, replace

__all__ = ["MessageContext", "MessageIds"]


@dataclass(frozen=True)
class MessageIds:
    """The ids of a :class:`MessageContext` (what :meth:`MessageContext.get`
    returns): each ``None`` when unset."""

    correlation_id: str | None = None
    """The request or conversation the event belongs to."""
    causation_id: str | None = None
    """The command or event that caused it."""
    actor_id: str | None = None
    """Who acted (a user or service id)."""


# MessageIds is frozen, so sharing one empty instance as the default is safe.
_current: contextvars.ContextVar[MessageIds] = contextvars.ContextVar(
    "eventstore_message_context",
    default=MessageIds(),  # noqa: B039
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
        _current.set(MessageIds(correlation_id, causation_id, actor_id))

    @staticmethod
    def get() -> MessageIds:
        """The current ids (each ``None`` when unset)."""
        return _current.get()

    @staticmethod
    def clear() -> None:
        """Removes every id from the current context."""
        _current.set(MessageIds())

    @staticmethod
    @contextmanager
    def scope(
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        actor_id: str | None = None,
    ) -> Generator[MessageIds, None, None]:
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
