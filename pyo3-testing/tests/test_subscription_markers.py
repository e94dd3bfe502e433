"""Event-less subscription responses and the failure contract: the
caught-up marker (``Subscription.caught_up``, ``wait_caught_up``), keepalives
never surfacing as events (and counted on both sides:
``Subscription.keepalives_received``, ``RecordedCall.keepalives_sent`` and
``caught_up_marker_sent``), ``DATA_LOSS`` raising ``UndecodableEventError``
without a reconnect, and ``UNAVAILABLE ... resume from global_nonce N``
reconnecting. The marker against every ``target``; the faults with the mock.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from dataclasses import dataclass

import eventstore
import pytest
from conftest import Target, within
from eventstore import EventStoreClient, RecordedEvent, Subscription, UndecodableEventError, event
from eventstore.testing import MockEventStore


@event(type="tests.markers.Tick", revision=1)
@dataclass
class Tick:
    n: int


async def ticks(client: EventStoreClient, first: int, last: int, aggregate: str = "ticks") -> list[int]:
    """Appends Tick(first..last) to ``aggregate``; their global nonces."""
    head = first - 1
    out = []
    for n in range(first, last + 1):
        result = await client.append_events(
            aggregate_id=aggregate, aggregate_type="T", expected_aggregate_nonce=head, events=[Tick(n)]
        )
        head += 1
        out.append(result.last_global_nonce)
    return out


async def test_caught_up_after_the_history_then_live(target: Target) -> None:
    client = target.client()
    await ticks(client, 1, 3)
    async with await client.subscribe() as sub:
        assert not sub.caught_up
        history = [(await within(sub.__anext__())).payload for _ in range(3)]
        assert history == [Tick(1), Tick(2), Tick(3)]
        assert not sub.caught_up, "the marker comes after the last history event is handed out"
        live = asyncio.ensure_future(sub.__anext__())
        await sub.wait_caught_up(timeout=10)
        assert sub.caught_up
        await ticks(client, 4, 4)
        assert (await within(live)).payload == Tick(4), "the marker is never an event"
        assert sub.caught_up


async def test_caught_up_with_an_empty_history(target: Target) -> None:
    client = target.client()
    async with await client.subscribe() as sub:
        waiting = asyncio.ensure_future(sub.__anext__())
        await sub.wait_caught_up(timeout=10)
        await ticks(client, 1, 1)
        assert (await within(waiting)).payload == Tick(1)


async def test_wait_caught_up_times_out_naming_the_wait(target: Target) -> None:
    client = target.client()
    await ticks(client, 1, 1)
    async with await client.subscribe() as sub:
        # Nobody iterates: the history is never handed out.
        with pytest.raises(eventstore.TimeoutError, match="wait_caught_up") as caught:
            await sub.wait_caught_up(timeout=0.2)
        assert isinstance(caught.value, builtins.TimeoutError)
        with pytest.raises(eventstore.ValidationError, match="timeout"):
            await sub.wait_caught_up(timeout=-1)


async def test_wait_caught_up_fails_when_the_subscription_ends_first(mock: MockEventStore) -> None:
    mock.expect_subscribe(fail_with=eventstore.AuthorizationError)
    async with EventStoreClient(endpoint="mock", store=mock) as client, await client.subscribe() as sub:
        waiter = asyncio.ensure_future(sub.wait_caught_up(timeout=10))
        with pytest.raises(eventstore.AuthorizationError):
            await within(sub.__anext__())
        with pytest.raises(eventstore.EventStoreError, match="ended before it caught up"):
            await within(waiter)


@pytest.fixture(params=["in-process", "network"])
def client(request: pytest.FixtureRequest, mock: MockEventStore) -> EventStoreClient:
    if request.param == "in-process":
        return EventStoreClient(endpoint="mock", store=mock, request_timeout=5.0)
    return EventStoreClient(endpoint=mock.endpoint, request_timeout=5.0)


async def test_keepalives_are_never_events(mock: MockEventStore, client: EventStoreClient) -> None:
    mock.expect_subscribe(keepalive_every=1, keepalive_interval=0.02)
    async with client, await client.subscribe() as sub:
        waiting = asyncio.ensure_future(sub.__anext__())
        await sub.wait_caught_up(timeout=10)
        await asyncio.sleep(0.1)  # quiet: several interval keepalives
        await ticks(client, 1, 3)
        got: list[RecordedEvent] = [await within(waiting)]
        got += [await within(sub.__anext__()) for _ in range(2)]
        assert [e.payload for e in got] == [Tick(1), Tick(2), Tick(3)]
        assert sub.reconnects == 0
    mock.verify()
    assert len(mock.subscriptions[0].delivered) == 3


async def until(condition: Callable[[], bool]) -> None:
    """Returns once ``condition()`` holds (polled; bound it with ``within``)."""
    while not condition():
        await asyncio.sleep(0.01)


async def test_keepalives_every_n_events_are_counted_on_both_sides(
    mock: MockEventStore, client: EventStoreClient
) -> None:
    mock.expect_subscribe(keepalive_every=1)
    async with client, await client.subscribe() as sub:
        waiting = asyncio.ensure_future(sub.__anext__())
        await sub.wait_caught_up(timeout=10)
        (open_call,) = mock.subscriptions
        assert open_call.caught_up_marker_sent and open_call.keepalives_sent == 0
        assert sub.keepalives_received == 0, "the caught-up marker is not a keepalive"
        await ticks(client, 1, 3)
        got = [await within(waiting)] + [await within(sub.__anext__()) for _ in range(2)]
        assert [e.payload for e in got] == [Tick(1), Tick(2), Tick(3)]
        # One keepalive after each live event: 3, and no more without an interval.
        await within(until(lambda: sub.keepalives_received >= 3))
        (call,) = mock.subscriptions
        assert call.keepalives_sent == 3 and sub.keepalives_received == 3
        assert "keepalives_sent=3" in repr(call)
    mock.verify()
    appends = [c for c in mock.calls if c.rpc == "append"]
    assert appends and all(not c.caught_up_marker_sent and c.keepalives_sent == 0 for c in appends)


async def test_keepalives_on_a_quiet_stream_are_counted_on_both_sides(
    mock: MockEventStore, client: EventStoreClient
) -> None:
    mock.expect_subscribe(keepalive_every=1, keepalive_interval=0.01)
    async with client, await client.subscribe() as sub:
        waiting = asyncio.ensure_future(sub.__anext__())
        await sub.wait_caught_up(timeout=10)
        assert sub.caught_up
        # Quiet: a keepalive every 10 ms (at least 3, whatever the timing).
        await within(until(lambda: sub.keepalives_received >= 3))
        received = sub.keepalives_received
        (call,) = mock.subscriptions
        assert call.caught_up_marker_sent
        assert call.keepalives_sent >= received >= 3, "the mock journals a keepalive before the client gets it"
        waiting.cancel()
    mock.verify()


async def test_reconnect_drops_caught_up_until_the_new_streams_marker(
    mock: MockEventStore, client: EventStoreClient
) -> None:
    # The first stream fails after 3 events (2 history, 1 live); the next one passes through.
    mock.expect_subscribe(fail_after=3, nth=1)
    async with client:
        await ticks(client, 1, 2)
        sub = await client.subscribe()
        assert [(await within(sub.__anext__())).payload for _ in range(2)] == [Tick(1), Tick(2)]
        live = asyncio.ensure_future(sub.__anext__())
        await sub.wait_caught_up(timeout=10)
        await ticks(client, 3, 3)
        assert (await within(live)).payload == Tick(3)
        assert sub.caught_up
        # Nothing acknowledged: the new stream replays the history, and the
        # subscription is not caught up while it does.
        replay = await within(sub.__anext__())
        assert replay.payload == Tick(1) and sub.reconnects == 1
        assert not sub.caught_up
        assert [(await within(sub.__anext__())).payload for _ in range(2)] == [Tick(2), Tick(3)]
        assert not sub.caught_up
        live = asyncio.ensure_future(sub.__anext__())
        await sub.wait_caught_up(timeout=10)
        await ticks(client, 4, 4)
        assert (await within(live)).payload == Tick(4)
        await sub.close()


async def test_data_loss_raises_undecodable_without_reconnecting(
    mock: MockEventStore, client: EventStoreClient
) -> None:
    async with client:
        nonces = await ticks(client, 1, 3)
        mock.expect_subscribe(data_loss_at=nonces[1])
        sub = await client.subscribe()
        assert (await within(sub.__anext__())).payload == Tick(1), "every event before it is delivered"
        with pytest.raises(UndecodableEventError) as caught:
            await within(sub.__anext__())
        assert caught.value.global_nonce == nonces[1]
        assert caught.value.code == "DATA_LOSS"
        assert isinstance(caught.value, eventstore.EventStoreError)
        assert sub.reconnects == 0
        with pytest.raises(StopAsyncIteration):
            await within(sub.__anext__())
    assert len(mock.subscriptions) == 1, "no reconnect after DATA_LOSS"
    end = mock.subscriptions[0].stream_end
    assert end is not None and end.status == "DATA_LOSS"


async def test_unavailable_resume_from_reconnects_after_the_last_ack(
    mock: MockEventStore, client: EventStoreClient
) -> None:
    async with client:
        nonces = await ticks(client, 1, 3)
        mock.expect_subscribe(
            fail_after=1, fail_with=("UNAVAILABLE", f"store stopping; resume from global_nonce {nonces[1]}"), nth=1
        )
        sub: Subscription = await client.subscribe()
        first = await within(sub.__anext__())
        await sub.ack(first.global_nonce)
        rest = [(await within(sub.__anext__())).payload for _ in range(2)]
        assert rest == [Tick(2), Tick(3)]
        assert sub.reconnects == 1
        await sub.close()
    assert [c.request["from_global_nonce"] for c in mock.subscriptions] == [0, nonces[0] + 1]


async def test_a_cancelled_wait_for_the_next_event_does_not_end_the_subscription(target: Target) -> None:
    client = target.client()
    async with await client.subscribe() as sub:
        cancelled = asyncio.ensure_future(sub.__anext__())
        await asyncio.sleep(0)  # waiting in the core now, before the marker came
        cancelled.cancel()
        waiting = asyncio.ensure_future(sub.__anext__())
        await sub.wait_caught_up(timeout=10)
        await ticks(client, 1, 1)
        assert (await within(waiting)).payload == Tick(1)


async def test_timeouts_around_next_never_lose_events(target: Target) -> None:
    client = target.client()
    await client.append_events(aggregate_id="many", aggregate_type="T", events=[Tick(n) for n in range(1, 301)])
    got: list[int] = []
    async with await client.subscribe(batch_size=7) as sub:
        deadline = asyncio.get_running_loop().time() + 20
        while len(got) < 300 and asyncio.get_running_loop().time() < deadline:
            try:
                e = await asyncio.wait_for(sub.__anext__(), 0.0001)
            except asyncio.TimeoutError:
                continue
            got.append(e.payload.n)
    assert got == list(range(1, 301)), "every event once, in order, whatever the cancelled waits"
