"""The SDK is asyncio-only: the check every call makes first.

The Rust core answers with asyncio futures, so every call of
:class:`~eventstore.EventStoreClient` and :class:`~eventstore.Subscription`
needs a running asyncio event loop; under trio (or with no loop) a call
would fail deep inside with "no running event loop". :func:`require_asyncio`
fails first, saying why.
"""

from __future__ import annotations

import asyncio
import sys

from eventstore._errors import UnsupportedEventLoopError

__all__ = ["in_event_loop", "require_asyncio"]


def in_event_loop() -> bool:
    """Whether an asyncio event loop runs in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_trio() -> bool:
    """Whether the caller runs under trio (without importing it)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def require_asyncio(call: str) -> None:
    """Raises :class:`UnsupportedEventLoopError` unless an asyncio event loop
    runs (``call`` names what was called)."""
    if not in_event_loop():
        where = "this code runs under trio" if _in_trio() else "no asyncio event loop is running"
        raise UnsupportedEventLoopError(
            f"{call} needs a running asyncio event loop, and {where}: the eventstore SDK is asyncio-only "
            "(use asyncio.run, pytest-asyncio, or anyio with its asyncio backend; trio is not supported)"
        )
