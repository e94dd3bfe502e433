"""``eventstore.testing.wait_until_consumed``: returns once a consumer's
checkpoint reaches the tenant's head (on every store, the real server
included), and raises ``TimeoutError`` naming both positions otherwise."""

from __future__ import annotations

import asyncio
import builtins
import time
from dataclasses import dataclass
from pathlib import Path

import eventstore
import pytest
from conftest import Target
from eventstore import (
    CheckpointStore,
    EventStoreClient,
    MemoryCheckpointStore,
    SqliteCheckpointStore,
    Subscription,
    ValidationError,
    event,
)
from eventstore.testing import MockEventStore, wait_until_consumed


@event(type="tests.consumed.Tick", revision=1)
@dataclass
class Tick:
    n: int


async def project(subscription: Subscription, seen: list[int]) -> None:
    async for e in subscription:
        seen.append(e.payload.n)
        await subscription.ack(e.global_nonce)


async def test_returns_once_the_consumer_reached_the_head(target: Target) -> None:
    client = target.client()
    other = target.client(tenant_id=target.tenant + "-other")
    store = MemoryCheckpointStore()
    seen: list[int] = []
    subscription = await client.subscribe(consumer="projection", checkpoint=store)
    task = asyncio.ensure_future(project(subscription, seen))
    try:
        result = await client.append_events(
            aggregate_id="a", aggregate_type="T", events=[Tick(n) for n in range(1, 21)]
        )
        # Another tenant's later events do not move this tenant's head.
        await other.append_events(aggregate_id="a", aggregate_type="T", events=[Tick(0)])
        reached = await wait_until_consumed(client, store, "projection", timeout=10)
        assert reached == result.last_global_nonce
        assert seen == list(range(1, 21)), "the checkpoint reached the head only after every event was handled"
        # And again for live events.
        await client.append_events(aggregate_id="a", aggregate_type="T", expected_aggregate_nonce=20, events=[Tick(21)])
        await wait_until_consumed(client, store, "projection", tenant_id=target.tenant, timeout=10)
        assert seen[-1] == 21
    finally:
        await subscription.close()
        await task


@pytest.mark.parametrize("stores", ["one store object", "two sqlite stores of one file"])
async def test_the_wait_ends_when_the_events_are_processed_not_a_checkpoint_interval_later(
    mock: MockEventStore, stores: str, tmp_path: Path
) -> None:
    # The consumer's writer saves at most once per checkpoint_interval: the
    # first ack at once, the rest of a burst 5 s later. The wait must not
    # wait that out once the consumer has acknowledged the head.
    client = EventStoreClient(endpoint="mock", store=mock)
    consumer_store: CheckpointStore
    if stores == "one store object":
        consumer_store = waiter_store = MemoryCheckpointStore()
    else:
        consumer_store, waiter_store = (SqliteCheckpointStore(tmp_path / "checkpoints.db") for _ in range(2))
    seen: list[int] = []
    subscription = await client.subscribe(consumer="projection", checkpoint=consumer_store, checkpoint_interval=5)
    task = asyncio.ensure_future(project(subscription, seen))
    try:
        for rounds in range(1, 3):
            result = await client.append_events(
                aggregate_id="a",
                aggregate_type="T",
                expected_aggregate_nonce=(rounds - 1) * 10,
                events=[Tick(n) for n in range(10)],
            )
            started = time.monotonic()
            assert await wait_until_consumed(client, waiter_store, "projection", timeout=10) == result.last_global_nonce
            assert time.monotonic() - started < 2, "the wait waited out the checkpoint interval"
            assert len(seen) == rounds * 10
            assert await consumer_store.get("default", "projection") == result.last_global_nonce
    finally:
        await subscription.close()
        await task


async def test_an_empty_tenant_is_consumed_at_once(target: Target) -> None:
    client = target.client()
    assert await wait_until_consumed(client, MemoryCheckpointStore(), "anyone", timeout=0) == 0


async def test_times_out_naming_both_positions(target: Target) -> None:
    client = target.client()
    result = await client.append_events(aggregate_id="a", aggregate_type="T", events=[Tick(1), Tick(2)])
    store = MemoryCheckpointStore()
    await store.set(target.tenant, "behind", result.last_global_nonce - 1)
    with pytest.raises(eventstore.TimeoutError) as raised:
        await wait_until_consumed(client, store, "behind", timeout=0.05)
    assert isinstance(raised.value, builtins.TimeoutError)
    message = str(raised.value)
    assert f"consumer 'behind' of tenant {target.tenant!r} is at global nonce {result.last_global_nonce - 1}" in message
    assert f"head is global nonce {result.last_global_nonce}" in message
    # An unknown consumer has no checkpoint at all: the message says so.
    with pytest.raises(TimeoutError, match=r"'nobody' .* has no checkpoint \(an unknown consumer name"):
        await wait_until_consumed(client, store, "nobody", timeout=0.05)


async def test_bad_inputs(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    store = MemoryCheckpointStore()
    with pytest.raises(ValidationError, match="consumer must be a non-empty str, got ''"):
        await wait_until_consumed(client, store, "")
    with pytest.raises(ValidationError, match="checkpoint must be a CheckpointStore"):
        await wait_until_consumed(client, object(), "c")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="timeout must be a number of seconds >= 0, got -1"):
        await wait_until_consumed(client, store, "c", timeout=-1)
    with pytest.raises(ValidationError, match="client must be an EventStoreClient"):
        await wait_until_consumed("localhost:50051", store, "c")  # type: ignore[arg-type]
