"""``Subscription``: an open subscription, iterated with ``async for``
(the Python face of ``src/subscription.rs``'s ``NativeSubscription``,
which reads the stream, reconnects and resumes).

:meth:`EventStoreClient.subscribe <eventstore.EventStoreClient.subscribe>`
opens one; this module hands its events out one by one, tracks the
caught-up marker and saves acknowledged positions of a checkpointed
subscription.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from eventstore import _native
from eventstore._checkpoints import CheckpointWriter
from eventstore._checks import check_seconds, check_uint
from eventstore._errors import ConnectionError, EventStoreError, TimeoutError
from eventstore._events import EventRegistry
from eventstore._loop import require_asyncio
from eventstore._models import RecordedEvent

__all__ = ["Subscription"]


class Subscription:
    """An open subscription: ``async for event in subscription``.

    Events arrive in batches from the native layer and are handed out one by
    one. Call :meth:`ack` after processing an event so that a reconnect
    resumes after it. :meth:`close` (or leaving ``async with``) ends it.

    :attr:`caught_up` turns true when the iteration has handed out every
    event of the history (the store's caught-up marker was reached, in
    order); :meth:`wait_caught_up` waits for that. Event-less responses of
    the store (the marker, keepalives) are never handed out as events;
    :attr:`keepalives_received` counts the keepalives.
    """

    def __init__(
        self,
        native: _native.NativeSubscription,
        registry: EventRegistry,
        batch_size: int,
        checkpoint: CheckpointWriter | None = None,
        *,
        client_closed: Callable[[], bool] = lambda: False,
        tenant_id: str = "",
        aggregate_id_prefix: str = "",
    ) -> None:
        self._native = native
        self._checkpoint = checkpoint
        self._client_closed = client_closed
        self._tenant_id = tenant_id
        self._prefix = aggregate_id_prefix
        self._registry = registry
        self._batch_size = batch_size
        self._buffer: list[_native.RawEvent | bool] = []
        self._inflight: asyncio.Future[list[_native.RawEvent | bool]] | None = None
        self._index = 0
        self._closed = False
        self._caught_up = False
        # Set while caught up / once the iteration has ended: wait_caught_up
        # waits for either.
        self._caught_up_event = asyncio.Event()
        self._ended_event = asyncio.Event()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> RecordedEvent:
        while True:
            if self._index >= len(self._buffer):
                if self._closed:
                    raise StopAsyncIteration
                require_asyncio("iterating a Subscription")
                if self._inflight is None:
                    self._check_client_open()
                # Shielded: cancelling this wait (asyncio.wait_for around
                # __anext__) leaves the batch in flight for the next call
                # instead of dropping events the core already handed over.
                if self._inflight is None:
                    self._inflight = asyncio.ensure_future(self._native.next_batch(self._batch_size))
                try:
                    batch = await asyncio.shield(self._inflight)
                except asyncio.CancelledError:
                    if self._inflight_cancelled():
                        self._inflight = None
                    raise
                except Exception:
                    # A failure ends the iteration.
                    self._inflight = None
                    self._ended_event.set()
                    raise
                self._inflight = None
                self._buffer = batch
                self._index = 0
                if not self._buffer:
                    # Ended while waiting: by close() (the end of the
                    # iteration), or by the client's close (an error).
                    self._check_client_open()
                    self._closed = True
                    self._ended_event.set()
                    raise StopAsyncIteration
            item = self._buffer[self._index]
            self._index += 1
            if isinstance(item, bool):
                # True: the store's caught-up marker; False: a reconnect
                # (caught up again only when the new stream says so).
                self._caught_up = item
                if item:
                    self._caught_up_event.set()
                else:
                    self._caught_up_event.clear()
                continue
            return RecordedEvent(item, self._registry)

    def _inflight_cancelled(self) -> bool:
        """Whether the batch in flight (if any: another iteration may have
        taken it meanwhile) was cancelled."""
        return self._inflight is not None and self._inflight.cancelled()

    def _check_client_open(self) -> None:
        """Raises :class:`~eventstore.ConnectionError` when the client was
        closed (and this subscription was not closed first): an iteration
        never ends silently because its client went away."""
        if not self._closed and self._client_closed():
            self._ended_event.set()
            raise ConnectionError(
                f"the subscription's client is closed (tenant {self._tenant_id!r}): client.close() "
                "ends its subscriptions; close the subscription first, or subscribe again on an open client"
            )

    def __repr__(self) -> str:
        prefix = f", aggregate_id_prefix={self._prefix!r}" if self._prefix else ""
        state = "closed" if self._closed else "open"
        return (
            f"Subscription(tenant_id={self._tenant_id!r}{prefix}, acknowledged={self._native.acknowledged}, "
            f"caught_up={self._caught_up}, {state})"
        )

    @property
    def caught_up(self) -> bool:
        """True once the iteration has handed out every event of the history
        (the store's caught-up marker was reached); false again after a
        reconnect until the new stream's marker. It advances only as the
        subscription is iterated. A legacy server sends no marker."""
        return self._caught_up

    async def wait_caught_up(self, timeout: float | None = None) -> None:
        """Waits until :attr:`caught_up` (someone must be iterating the
        subscription, e.g. a projection task: the flag advances with it).

        Raises :class:`~eventstore.TimeoutError` (also a builtin
        ``TimeoutError``) after ``timeout`` seconds, and
        :class:`~eventstore.EventStoreError` if the iteration ends first."""
        if timeout is not None:
            check_seconds("timeout", timeout)
        if self._caught_up:
            return
        require_asyncio("wait_caught_up")
        caught_up = asyncio.ensure_future(self._caught_up_event.wait())
        ended = asyncio.ensure_future(self._ended_event.wait())
        try:
            await asyncio.wait({caught_up, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            caught_up.cancel()
            ended.cancel()
        if self._caught_up:
            return
        if self._ended_event.is_set():
            raise EventStoreError("wait_caught_up: the subscription ended before it caught up")
        raise TimeoutError(f"wait_caught_up: the subscription was not caught up after {timeout} s")

    async def ack(self, global_nonce: int) -> None:
        """Marks events up to ``global_nonce`` as processed: a reconnect
        resumes after it, and a checkpointed subscription saves it (raising
        :class:`~eventstore.CheckpointError` if its store fails)."""
        check_uint("global_nonce", global_nonce)
        self._native.ack(global_nonce)
        if self._checkpoint is not None:
            await self._checkpoint.ack(global_nonce)

    @property
    def consumer(self) -> str | None:
        """The consumer name of a checkpointed subscription (else ``None``)."""
        return None if self._checkpoint is None else self._checkpoint.consumer

    @property
    def checkpointed(self) -> int | None:
        """The position last saved to (or found in) the checkpoint store;
        ``None`` when the subscription is not checkpointed."""
        return None if self._checkpoint is None else self._checkpoint.saved

    @property
    def acknowledged(self) -> int:
        """The highest acknowledged global nonce (0: none)."""
        return self._native.acknowledged

    @property
    def keepalives_received(self) -> int:
        """How many keepalives the store sent: event-less responses after a
        stream's caught-up marker (the first event-less response of each
        stream is the marker, see :attr:`caught_up`), over every stream of
        the subscription (reconnects included). Counted as they arrive,
        whether or not the subscription is being iterated."""
        return self._native.keepalives_received

    @property
    def reconnects(self) -> int:
        """How many times the subscription has reconnected."""
        return self._native.reconnects

    async def close(self) -> None:
        """Ends the subscription."""
        self._closed = True
        self._buffer = []
        self._ended_event.set()
        # A batch in flight resolves to [] now: its consumer's loop ends.
        self._native.close()
        if self._checkpoint is not None:
            await self._checkpoint.flush()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
