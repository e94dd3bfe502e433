"""Checkpointed subscriptions: ``subscribe(consumer=..., checkpoint=store)``
starts after the stored position, saves acks at a bounded rate (flushed on
close) and resumes after a reconnect or a restart; the checkpoint stores
(memory, SQLite across processes); bad inputs and failing stores.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import eventstore
import pytest
from conftest import SKIP_NO_SERVER, Target, free_port, server_binary, within
from eventstore import (
    CheckpointError,
    CheckpointStore,
    EventStoreClient,
    MemoryCheckpointStore,
    SqliteCheckpointStore,
    Subscription,
    ValidationError,
    event,
)
from eventstore.testing import MockEventStore


@event(type="tests.checkpoints.Tick", revision=1)
@dataclass
class Tick:
    n: int


async def ticks(client: EventStoreClient, first: int, last: int, aggregate: str = "ticks") -> list[int]:
    """Appends Tick(first..last) to one stream; their global nonces."""
    result = await client.append_events(
        aggregate_id=aggregate,
        aggregate_type="Ticker",
        expected_aggregate_nonce=first - 1,
        events=[Tick(n) for n in range(first, last + 1)],
    )
    return list(range(result.last_global_nonce - (last - first), result.last_global_nonce + 1))


async def take(subscription: Subscription, count: int, *, ack: bool = True) -> list[int]:
    """The next ``count`` events' ``Tick.n``, acked one by one after "processing"."""
    seen: list[int] = []
    while len(seen) < count:
        e = await within(subscription.__anext__())
        seen.append(e.payload.n)
        if ack:
            await subscription.ack(e.global_nonce)
    return seen


class CountingStore(MemoryCheckpointStore):
    """A memory store that records every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    async def set(self, tenant_id: str, consumer: str, global_nonce: int) -> None:
        self.writes.append(global_nonce)
        await super().set(tenant_id, consumer, global_nonce)


async def test_starts_at_from_global_nonce_then_after_the_stored_position(target: Target) -> None:
    client = target.client()
    nonces = await ticks(client, 1, 5)
    store = MemoryCheckpointStore()
    # Nothing stored: from_global_nonce decides.
    async with await client.subscribe(
        consumer="orders", checkpoint=store, from_global_nonce=nonces[1], checkpoint_interval=0
    ) as sub:
        assert sub.consumer == "orders"
        assert await take(sub, 2) == [2, 3]
        assert await store.get(target.tenant, "orders") == nonces[2]
    # A restart: the stored position wins over from_global_nonce.
    async with await client.subscribe(consumer="orders", checkpoint=store, from_global_nonce=0) as sub:
        assert sub.checkpointed == nonces[2]
        assert await take(sub, 2) == [4, 5]
    assert await store.get(target.tenant, "orders") == nonces[4], "close flushes the last ack"
    # Another consumer has its own position.
    async with await client.subscribe(consumer="audit", checkpoint=store) as sub:
        assert await take(sub, 1) == [1]


async def test_acks_are_written_at_a_bounded_rate_and_flushed_on_close(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    nonces = await ticks(client, 1, 50)
    store = CountingStore()
    sub = await client.subscribe(consumer="fast", checkpoint=store, checkpoint_interval=0.2)
    started = time.monotonic()
    assert await take(sub, 50) == list(range(1, 51))
    elapsed = time.monotonic() - started
    # The first ack writes at once; the rest of a burst waits for the interval.
    assert store.writes[0] == nonces[0]
    assert len(store.writes) <= 2 + int(elapsed / 0.2), store.writes
    await sub.close()
    assert store.writes[-1] == nonces[-1]
    assert await store.get("default", "fast") == nonces[-1]
    # A quiet consumer's last ack is written after the interval without a close.
    sub = await client.subscribe(consumer="slow", checkpoint=store, checkpoint_interval=0.05)
    await take(sub, 2)
    await within(_until(lambda: store._positions.get(("default", "slow")) == nonces[1]))
    await sub.close()


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "fault",
    [
        {"fail_after": 3},
        {"drop_after": 3},
        {"fail_after": 3, "fail_with": ("UNAVAILABLE", "store stopping; resume from global_nonce 4")},
    ],
    ids=["fail_after", "drop_after", "resume_from"],
)
async def test_a_reconnect_resumes_after_the_last_ack(mock: MockEventStore, fault: dict[str, object]) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    nonces = await ticks(client, 1, 6)
    mock.expect_subscribe(**fault, up_to=1)  # type: ignore[arg-type]
    store = MemoryCheckpointStore()
    sub = await client.subscribe(consumer="p", checkpoint=store, checkpoint_interval=0)
    seen: list[int] = []
    while len(seen) < 7:
        e = await within(sub.__anext__())
        seen.append(e.payload.n)
        if not (e.payload.n == 3 and seen.count(3) == 1):
            await sub.ack(e.global_nonce)  # 3 is handled, then the "crash": no ack
    # Exactly the unacknowledged event comes again, nothing else.
    assert seen == [1, 2, 3, 3, 4, 5, 6]
    assert sub.reconnects == 1
    assert [c.request["from_global_nonce"] for c in mock.subscriptions] == [0, nonces[2]]
    await sub.close()
    assert await store.get("default", "p") == nonces[-1]
    mock.verify()


async def test_a_restart_resumes_from_a_sqlite_checkpoint(target: Target, tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    client = target.client()
    await ticks(client, 1, 3)
    sub = await client.subscribe(consumer="projection", checkpoint=SqliteCheckpointStore(path))
    assert await take(sub, 2) == [1, 2]
    await sub.close()
    # A new process (a new store object on the same file) goes on after 2.
    await ticks(client, 4, 4)
    sub = await client.subscribe(consumer="projection", checkpoint=SqliteCheckpointStore(path))
    assert await take(sub, 2) == [3, 4]
    await sub.close()


async def test_sqlite_store_is_shared_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = SqliteCheckpointStore(path)
    await store.set("t1", "c1", 7)
    code = (
        "import asyncio, sys\n"
        "from eventstore import SqliteCheckpointStore\n"
        "async def main():\n"
        "    s = SqliteCheckpointStore(sys.argv[1])\n"
        "    assert await s.get('t1', 'c1') == 7\n"
        "    for i in range(50):\n"
        "        await s.set('t1', 'c2', i)\n"
        "asyncio.run(main())\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(3)]
    for i in range(50):
        await store.set("t2", "c1", i)
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0]
    assert await store.get("t1", "c2") == 49
    assert await store.get("t2", "c1") == 49
    assert await store.get("t1", "unknown") is None
    assert isinstance(store, CheckpointStore)
    assert "shared.db" in repr(store)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_checkpoint_never_moves_backwards(kind: str, tmp_path: Path) -> None:
    """Issue 24 weakness 15: two processes of one consumer raced, and the
    last writer won, so a checkpoint could move backwards."""
    store: CheckpointStore = MemoryCheckpointStore() if kind == "memory" else SqliteCheckpointStore(tmp_path / "c.db")
    await store.set("t", "c", 10)
    await store.set("t", "c", 5)
    assert await store.get("t", "c") == 10
    await store.set("t", "c", 11)
    assert await store.get("t", "c") == 11
    await store.set("t", "other", 3)
    assert await store.get("t", "other") == 3


async def test_sqlite_racing_writers_keep_the_latest_position(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    store = SqliteCheckpointStore(path)
    code = (
        "import asyncio, sys\n"
        "from eventstore import SqliteCheckpointStore\n"
        "async def main():\n"
        "    s = SqliteCheckpointStore(sys.argv[1])\n"
        "    for i in range(60, 0, -1):\n"
        "        await s.set('t', 'c', i)\n"
        "asyncio.run(main())\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code, str(path)])
    for i in range(40):
        await store.set("t", "c", i)
    assert writer.wait(timeout=60) == 0
    assert await store.get("t", "c") == 60


def test_building_a_sqlite_store_does_no_io(tmp_path: Path) -> None:
    """The constructor blocked the event loop up to 30 s on another
    process's lock; it now touches nothing: the first call, in a worker
    thread, creates the file."""
    path = tmp_path / "lazy.db"
    SqliteCheckpointStore(path)
    assert not path.exists()


async def test_memory_store_and_bad_values() -> None:
    store = MemoryCheckpointStore()
    assert await store.get("t", "c") is None
    await store.set("t", "c", 3)
    assert await store.get("t", "c") == 3
    with pytest.raises(ValidationError, match=r"global_nonce must be an integer from 0 .* got -1"):
        await store.set("t", "c", -1)
    with pytest.raises(ValidationError, match="consumer must be a non-empty str, got ''"):
        await store.get("t", "")
    with pytest.raises(ValidationError, match="tenant_id must be a non-empty str"):
        await store.set(None, "c", 1)  # type: ignore[arg-type]


def test_sqlite_store_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="MemoryCheckpointStore"):
        SqliteCheckpointStore(":memory:")
    with pytest.raises(ValidationError, match="path must be a file path"):
        SqliteCheckpointStore(42)  # type: ignore[arg-type]
    missing = tmp_path / "no" / "such" / "dir" / "c.db"
    with pytest.raises(CheckpointError, match=r"cannot open '.*c\.db'"):
        SqliteCheckpointStore(missing)


class BrokenStore:
    """A store whose get or set raises, or whose get answers nonsense."""

    def __init__(self, get: object = None, set_error: Exception | None = None) -> None:
        self._get = get
        self._set_error = set_error

    async def get(self, tenant_id: str, consumer: str) -> int | None:
        if isinstance(self._get, Exception):
            raise self._get
        return self._get  # type: ignore[return-value]

    async def set(self, tenant_id: str, consumer: str, global_nonce: int) -> None:
        if self._set_error is not None:
            raise self._set_error

    def __repr__(self) -> str:
        return "BrokenStore()"


async def test_bad_inputs_and_failing_stores(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    await ticks(client, 1, 2)
    with pytest.raises(ValidationError, match=r"consumer='p' needs checkpoint="):
        await client.subscribe(consumer="p")
    with pytest.raises(ValidationError, match=r"checkpoint= needs consumer="):
        await client.subscribe(checkpoint=MemoryCheckpointStore())
    with pytest.raises(ValidationError, match="consumer must be a non-empty str, got ''"):
        await client.subscribe(consumer="", checkpoint=MemoryCheckpointStore())
    with pytest.raises(ValidationError, match=r"checkpoint must be a CheckpointStore .* got dict"):
        await client.subscribe(consumer="p", checkpoint={})  # type: ignore[arg-type]
    # Negative, NaN, a bool or a str: one rule and one message (_checks.check_seconds).
    for bad in (-1, float("nan"), True, "1"):
        message = rf"checkpoint_interval must be a number of seconds >= 0, got {bad!r}"
        with pytest.raises(ValidationError, match=message):
            await client.subscribe(consumer="p", checkpoint=MemoryCheckpointStore(), checkpoint_interval=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="from_global_nonce must be an integer from 0"):
        await client.subscribe(consumer="p", checkpoint=MemoryCheckpointStore(), from_global_nonce=-5)
    # A store that fails: the error names the store, the call and the cause.
    with pytest.raises(
        CheckpointError,
        match=r"BrokenStore\(\): get\(tenant_id='default', consumer='p'\) failed: "
        r"OSError: disk gone",
    ) as raised:
        await client.subscribe(consumer="p", checkpoint=BrokenStore(get=OSError("disk gone")))
    assert isinstance(raised.value.__cause__, OSError)
    assert isinstance(raised.value, eventstore.EventStoreError)
    with pytest.raises(CheckpointError, match=r"returned -3; expected None or a global nonce"):
        await client.subscribe(consumer="p", checkpoint=BrokenStore(get=-3))
    failing = BrokenStore(set_error=RuntimeError("read-only"))
    sub = await client.subscribe(consumer="p", checkpoint=failing, checkpoint_interval=0)
    e = await within(sub.__anext__())
    failed = r"set\(tenant_id='default', consumer='p', global_nonce=1\) failed: RuntimeError: read-only"
    with pytest.raises(CheckpointError, match=failed):
        await sub.ack(e.global_nonce)
    with pytest.raises(ValidationError, match="global_nonce must be an integer from 0"):
        await sub.ack(-1)
    # The position is still unsaved: closing tries again, and says so.
    with pytest.raises(CheckpointError, match=failed):
        await sub.close()


def _start_durable_server(data_dir: Path, listen: str) -> subprocess.Popen[bytes]:
    binary = server_binary()
    if binary is None:
        pytest.skip(SKIP_NO_SERVER)
    deadline = time.monotonic() + 10
    while True:
        process = subprocess.Popen(
            [str(binary), "--listen", listen, "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdout is not None
        if b"listening on" in process.stdout.readline():
            return process
        _stop_server(process)
        if time.monotonic() > deadline:
            raise RuntimeError(f"eventstore-server did not start on {listen}")
        time.sleep(0.1)


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    """Kills the server (if still running) and closes its stdout pipe."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


async def test_a_server_restart_resumes_after_the_last_ack(tmp_path: Path) -> None:
    """The real store stops (SIGTERM: the subscription ends with UNAVAILABLE
    "resume from global_nonce N") and comes back: the checkpointed
    subscription reconnects by itself and the event handled but not
    acknowledged comes again, then the rest."""
    listen = f"127.0.0.1:{free_port()}"
    server = _start_durable_server(tmp_path / "data", listen)
    store = SqliteCheckpointStore(tmp_path / "checkpoints.db")
    client = EventStoreClient(endpoint=listen, request_timeout=5.0)
    try:
        nonces = await ticks(client, 1, 3)
        sub = await client.subscribe(consumer="projection", checkpoint=store, checkpoint_interval=0)
        assert await take(sub, 2) == [1, 2]
        assert await take(sub, 1, ack=False) == [3]  # handled, then the store goes away
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
        _stop_server(server)
        server = _start_durable_server(tmp_path / "data", listen)
        await ticks(client, 4, 4)
        assert await take(sub, 2) == [3, 4]
        assert sub.reconnects >= 1
        await sub.close()
        assert await store.get("default", "projection") == nonces[-1] + 1
    finally:
        await client.close()
        _stop_server(server)
