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

__all__ = ["in_event_loop", "interpreter_exiting", "require_asyncio"]


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


_exiting = False
"""Set by ``eventstore``'s ``atexit`` handler, before it stops the runtime."""


def interpreter_exiting() -> None:
    """From now on every call is refused here, in Python, before it enters
    the native core. A daemon thread still calling then stays out of Rust
    frames: CPython (before 3.14) ends such a thread with ``pthread_exit``
    when it takes the GIL back during finalization, and unwinding that
    through a native frame aborts the process ("FATAL: exception not
    rethrown")."""
    global _exiting
    _exiting = True


def require_asyncio(call: str) -> None:
    """Raises :class:`UnsupportedEventLoopError` unless an asyncio event loop
    runs (``call`` names what was called); a :class:`RuntimeError` once the
    interpreter is exiting (the native core's own refusal, said first)."""
    if _exiting:
        raise RuntimeError("the eventstore runtime has been shut down (the interpreter is exiting)")
    if not in_event_loop():
        where = "this code runs under trio" if _in_trio() else "no asyncio event loop is running"
        raise UnsupportedEventLoopError(
            f"{call} needs a running asyncio event loop, and {where}: the eventstore SDK is asyncio-only "
            "(use asyncio.run, pytest-asyncio, or anyio with its asyncio backend; trio is not supported)"
        )
