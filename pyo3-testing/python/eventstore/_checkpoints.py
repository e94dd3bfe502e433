"""Checkpoints: where a named consumer of a tenant's events has got to.

A checkpointed subscription (``client.subscribe(consumer=..., checkpoint=store)``)
starts after the position stored for its tenant and consumer, saves the
position it is acknowledged up to, and so resumes after a restart where it
left off. The contract is **at-least-once**: handle an event, *then*
``ack()`` it. A crash between the two delivers that event again, so
handlers must be idempotent (``eventstore.testing.check_redelivery`` checks
that).

- :class:`CheckpointStore`: the protocol (async ``get``/``set`` by tenant
  and consumer name); implement it over your own database to save the
  checkpoint in the same transaction as the projection.
- :class:`MemoryCheckpointStore`: a dict, for tests and single processes.
- :class:`SqliteCheckpointStore`: a SQLite file (stdlib ``sqlite3``), safe
  for several processes at once.
- :class:`CheckpointWriter`: what a subscription uses to save acks at a
  bounded rate and flush on close; :func:`hurry_writers` has the writers of
  this process that are behind write now (``wait_until_consumed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
import weakref
from typing import Protocol, runtime_checkable

from eventstore._checks import check_name, check_uint, unchecked
from eventstore._errors import EventStoreError, ValidationError

__all__ = [
    "CheckpointError",
    "CheckpointStore",
    "CheckpointWriter",
    "MemoryCheckpointStore",
    "SqliteCheckpointStore",
    "hurry_writers",
]


class CheckpointError(EventStoreError):
    """A checkpoint store failed (or answered something that is not a
    position); the store's own exception is the ``__cause__``."""


@runtime_checkable
class CheckpointStore(Protocol):
    """Where consumers' positions are kept: the last global nonce each
    consumer of a tenant has processed (and acknowledged)."""

    async def get(self, tenant_id: str, consumer: str) -> int | None:
        """The stored position, or ``None`` when the consumer has none yet."""
        ...

    async def set(self, tenant_id: str, consumer: str, global_nonce: int) -> None:
        """Stores ``global_nonce`` as the consumer's position, unless the
        stored one is later: a checkpoint never moves backwards, even when
        two processes of one consumer race (to replay on purpose, use
        another consumer name or delete the stored position)."""
        ...


class MemoryCheckpointStore:
    """Checkpoints in a dict: for tests, and for consumers whose state lives
    in memory too (both are gone after a restart)."""

    def __init__(self) -> None:
        self._positions: dict[tuple[str, str], int] = {}

    async def get(self, tenant_id: str, consumer: str) -> int | None:
        return self._positions.get((check_name("tenant_id", tenant_id), check_name("consumer", consumer)))

    async def set(self, tenant_id: str, consumer: str, global_nonce: int) -> None:
        check_uint("global_nonce", global_nonce)
        key = (check_name("tenant_id", tenant_id), check_name("consumer", consumer))
        # Never backwards (see CheckpointStore.set).
        self._positions[key] = max(global_nonce, self._positions.get(key, global_nonce))

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore({len(self._positions)} checkpoint(s))"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS eventstore_checkpoints (
    tenant_id TEXT NOT NULL,
    consumer TEXT NOT NULL,
    global_nonce INTEGER NOT NULL,
    updated_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, consumer)
)
"""

_BUSY_TIMEOUT = 30.0
"""Seconds a writer waits for another process's lock on the file."""


class SqliteCheckpointStore:
    """Checkpoints in a SQLite file (table ``eventstore_checkpoints``), with
    the standard library's ``sqlite3``.

    Safe across processes and threads: every call opens its own connection
    in a worker thread (the event loop never blocks on the file) and SQLite's
    locking serializes writers (each waits up to 30 s for a lock). A position
    is stored only if it is later than the stored one, in the same statement,
    so racing writers never move a checkpoint backwards. Building the store
    does no I/O but a check that the file's directory exists (naming the
    path when it does not); the file and its table are created by the first
    call, in the worker thread.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(unchecked(path), (str, os.PathLike)):
            raise ValidationError(f"SqliteCheckpointStore: path must be a file path, got {path!r}")
        self.path: str = os.fspath(path)
        if not self.path or self.path == ":memory:" or self.path.startswith("file::memory:"):
            raise ValidationError(
                f"SqliteCheckpointStore: path must name a file, got {self.path!r} "
                "(an in-memory database is not shared between connections: use MemoryCheckpointStore)"
            )
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise CheckpointError(
                f"SqliteCheckpointStore: cannot open {self.path!r}: its directory {directory!r} does not exist"
            )
        self._created = False

    def _connect(self) -> sqlite3.Connection:
        """A connection, the table created first by the first call (in a
        worker thread: it may wait for another process's lock)."""
        try:
            connection = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT)
            if not self._created:
                with connection:
                    connection.execute(_SCHEMA)
                self._created = True
        except sqlite3.Error as e:
            raise CheckpointError(f"SqliteCheckpointStore: cannot open {self.path!r}: {e}") from e
        return connection

    def _get(self, tenant_id: str, consumer: str) -> int | None:
        with contextlib.closing(self._connect()) as connection:
            row = connection.execute(
                "SELECT global_nonce FROM eventstore_checkpoints WHERE tenant_id = ? AND consumer = ?",
                (tenant_id, consumer),
            ).fetchone()
        return None if row is None else int(row[0])

    def _set(self, tenant_id: str, consumer: str, global_nonce: int) -> None:
        with contextlib.closing(self._connect()) as connection, connection:
            connection.execute(
                "INSERT INTO eventstore_checkpoints (tenant_id, consumer, global_nonce, updated_unix_ms) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, consumer) "
                "DO UPDATE SET global_nonce = excluded.global_nonce, updated_unix_ms = excluded.updated_unix_ms "
                "WHERE excluded.global_nonce > eventstore_checkpoints.global_nonce",
                (tenant_id, consumer, global_nonce, int(time.time() * 1000)),
            )

    async def get(self, tenant_id: str, consumer: str) -> int | None:
        tenant, name = check_name("tenant_id", tenant_id), check_name("consumer", consumer)
        return await asyncio.to_thread(self._get, tenant, name)

    async def set(self, tenant_id: str, consumer: str, global_nonce: int) -> None:
        tenant, name = check_name("tenant_id", tenant_id), check_name("consumer", consumer)
        # SQLite's INTEGER is signed 64-bit.
        check_uint("global_nonce", global_nonce, 2**63 - 1)
        await asyncio.to_thread(self._set, tenant, name, global_nonce)

    def __repr__(self) -> str:
        return f"SqliteCheckpointStore({self.path!r})"


def check_store(store: object) -> CheckpointStore:
    """``checkpoint=``: anything with async ``get`` and ``set``."""
    if not isinstance(store, CheckpointStore):
        raise ValidationError(
            f"checkpoint must be a CheckpointStore (async get(tenant_id, consumer) and "
            f"set(tenant_id, consumer, global_nonce)), got {type(store).__name__}"
        )
    return store


def _describe(store: CheckpointStore) -> str:
    text = repr(store)
    return text if len(text) <= 120 else type(store).__name__


async def load_checkpoint(store: CheckpointStore, tenant_id: str, consumer: str) -> int | None:
    """The stored position, checked: ``None`` or an int >= 0."""
    try:
        position = await store.get(tenant_id, consumer)
    except Exception as e:
        raise CheckpointError(
            f"checkpoint store {_describe(store)}: get(tenant_id={tenant_id!r}, consumer={consumer!r}) "
            f"failed: {type(e).__name__}: {e}"
        ) from e
    # A store is user code: its answer may be anything.
    value = unchecked(position)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise CheckpointError(
            f"checkpoint store {_describe(store)}: get(tenant_id={tenant_id!r}, consumer={consumer!r}) "
            f"returned {position!r}; expected None or a global nonce (an int >= 0)"
        )
    return position


_WRITERS: weakref.WeakSet[CheckpointWriter] = weakref.WeakSet()
"""The checkpoint writers of this process's open subscriptions."""


def _same_store(a: CheckpointStore, b: CheckpointStore) -> bool:
    """Whether two stores are one: the same object, or SQLite stores of one file."""
    if a is b:
        return True
    if isinstance(a, SqliteCheckpointStore) and isinstance(b, SqliteCheckpointStore):
        return os.path.realpath(a.path) == os.path.realpath(b.path)
    return False


async def hurry_writers(store: CheckpointStore, tenant_id: str, consumer: str, at_least: int) -> None:
    """Has every writer of this process for ``consumer`` of ``tenant_id`` in
    ``store`` whose acknowledged position has reached ``at_least`` write it
    now, instead of when its ``checkpoint_interval`` allows: someone is
    waiting for exactly that position (``wait_until_consumed``)."""
    for writer in list(_WRITERS):
        if (
            writer.tenant_id == tenant_id
            and writer.consumer == consumer
            and writer.acknowledged >= at_least > writer.saved
            and _same_store(writer.store, store)
        ):
            await writer.write_now()


class CheckpointWriter:
    """Saves a subscription's acknowledged position at a bounded rate.

    An ack writes at once when the last write is at least ``interval``
    seconds old; otherwise the position is written ``interval`` seconds after
    the last write (by a timer task), so a burst of acks costs one write per
    interval and the stored position is never more than ``interval`` behind.
    :meth:`flush` (the subscription's ``close``) writes what is pending, and
    :meth:`write_now` (a waiter, :func:`hurry_writers`) too. A failed write
    raises :class:`CheckpointError` from the ``ack`` that wrote, or, for a
    timed or hurried write, from the next ``ack`` or ``close``.
    """

    def __init__(
        self, store: CheckpointStore, tenant_id: str, consumer: str, interval: float, stored: int | None
    ) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.consumer = consumer
        self.interval = interval
        self.saved: int = stored or 0
        """The position last written (or found) in the store."""
        self._pending = self.saved
        self._last_write = -float("inf")
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._error: CheckpointError | None = None
        _WRITERS.add(self)

    @property
    def acknowledged(self) -> int:
        """The position acknowledged so far (written or not yet)."""
        return self._pending

    def _raise_deferred(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def ack(self, global_nonce: int) -> None:
        self._raise_deferred()
        if global_nonce <= self._pending:
            return
        self._pending = global_nonce
        wait = self._last_write + self.interval - time.monotonic()
        if wait <= 0:
            await self._write()
        elif self._timer is None:
            self._timer = asyncio.ensure_future(self._write_later(wait))

    async def _write_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._timer = None
        await self.write_now()

    async def _write(self) -> None:
        async with self._lock:
            position = self._pending
            if position <= self.saved:
                return
            self._last_write = time.monotonic()
            try:
                await self.store.set(self.tenant_id, self.consumer, position)
            except Exception as e:
                raise CheckpointError(
                    f"checkpoint store {_describe(self.store)}: set(tenant_id={self.tenant_id!r}, "
                    f"consumer={self.consumer!r}, global_nonce={position}) failed: {type(e).__name__}: {e}"
                ) from e
            self.saved = max(self.saved, position)

    async def write_now(self) -> None:
        """Writes the acknowledged position now rather than when the
        interval allows (the timer, if any, then finds nothing to write). A
        failure is the subscription's, as a timed write's: raised by its
        next ``ack`` or ``close``, not here."""
        try:
            await self._write()
        except CheckpointError as e:
            self._error = e

    async def flush(self) -> None:
        """Writes the pending position now (and stops the timer)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self._raise_deferred()
        await self._write()
