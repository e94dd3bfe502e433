"""Subscriptions survive transient failures: they reconnect with backoff and
resume after the last acknowledged event (at-least-once); fatal errors and
exhausted retries end the iteration with the right exception.

Faults come from the mock's subscribe expectations (``fail_after``,
``drop_after``, ``fail_with``), over both transports.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import eventstore
import pytest
from conftest import within
from eventstore import AuthenticationError, AuthorizationError, EventStoreClient, Subscription, event
from eventstore.testing import MockEventStore


@event(type="tests.resume.Tick", revision=1)
@dataclass
class Tick:
    n: int


@pytest.fixture(params=["in-process", "network"])
def client(request: pytest.FixtureRequest, mock: MockEventStore) -> EventStoreClient:
    if request.param == "in-process":
        return EventStoreClient(endpoint="mock", store=mock, request_timeout=5.0)
    return EventStoreClient(endpoint=mock.endpoint, request_timeout=5.0)


async def seed(client: EventStoreClient, n: int, aggregate: str = "ticks", start: int = 0) -> None:
    await client.append_events(
        aggregate_id=aggregate,
        aggregate_type="Ticker",
        expected_aggregate_nonce=start,
        events=[Tick(i) for i in range(start + 1, start + n + 1)],
    )


async def collect(subscription: Subscription, count: int, ack_upto: int) -> list[int]:
    """Global nonces delivered until ``count`` events; acks those <= ``ack_upto``."""
    seen: list[int] = []
    async for e in subscription:
        seen.append(e.global_nonce)
        if e.global_nonce <= ack_upto:
            await subscription.ack(e.global_nonce)
        if len(seen) == count:
            break
    return seen


@pytest.mark.parametrize("fault", ["fail_after", "drop_after"])
async def test_resumes_after_the_last_acked_event(client: EventStoreClient, mock: MockEventStore, fault: str) -> None:
    await seed(client, 6)
    # The first subscribe call breaks after 3 events; later calls work.
    mock.expect_subscribe(**{fault: 3}, nth=1, at_least=2)
    subscription = await client.subscribe()
    seen = await within(collect(subscription, 7, ack_upto=2))
    # Events 1 and 2 were acked; 3 was delivered but not acked: it comes again.
    assert seen == [1, 2, 3, 3, 4, 5, 6]
    assert subscription.reconnects == 1
    assert subscription.acknowledged == 2
    requests = [c.request["from_global_nonce"] for c in mock.subscriptions]
    assert requests == [0, 3], "the reconnect resumes after the acked position"
    first_end = mock.subscriptions[0]
    assert len(first_end.delivered) == 3
    assert first_end.status == "UNAVAILABLE"
    # Live events still arrive after the reconnect.
    await seed(client, 2, start=6)
    assert await within(collect(subscription, 2, ack_upto=100)) == [7, 8]
    await subscription.close()
    mock.verify()


async def test_resume_without_any_ack_starts_over(client: EventStoreClient, mock: MockEventStore) -> None:
    await seed(client, 3)
    mock.expect_subscribe(fail_after=2, nth=1, at_least=2)
    subscription = await client.subscribe(from_global_nonce=2)
    seen = await within(collect(subscription, 4, ack_upto=0))
    assert seen == [2, 3, 2, 3]
    assert [c.request["from_global_nonce"] for c in mock.subscriptions] == [2, 2]
    assert subscription.reconnects == 1
    await subscription.close()


async def test_several_failures_in_a_row_are_retried(client: EventStoreClient, mock: MockEventStore) -> None:
    await seed(client, 4)
    for nth in (1, 2, 3):
        mock.expect_subscribe(fail_after=1, nth=nth, at_least=1, name=f"fault {nth}")
    subscription = await client.subscribe()
    seen = await within(collect(subscription, 4, ack_upto=100))
    assert seen == [1, 2, 3, 4]
    assert subscription.reconnects == 3
    assert [c.request["from_global_nonce"] for c in mock.subscriptions] == [0, 2, 3, 4]
    await subscription.close()


async def test_fatal_error_raises_from_the_iteration(client: EventStoreClient, mock: MockEventStore) -> None:
    await seed(client, 2)
    mock.expect_subscribe(fail_with=AuthenticationError, at_least=1)
    subscription = await client.subscribe()
    with pytest.raises(AuthenticationError) as caught:
        await within(collect(subscription, 2, ack_upto=100))
    assert caught.value.code == "UNAUTHENTICATED"
    assert str(caught.value) == mock.subscriptions[0].message
    assert subscription.reconnects == 0
    assert len(mock.subscriptions) == 1, "a fatal error is not retried"


async def test_fatal_error_mid_stream(client: EventStoreClient, mock: MockEventStore) -> None:
    await seed(client, 5)
    mock.expect_subscribe(fail_after=2, fail_with=AuthorizationError("access revoked"), at_least=1)
    subscription = await client.subscribe()
    seen: list[int] = []
    with pytest.raises(AuthorizationError, match=r"^access revoked$"):
        async for e in subscription:
            seen.append(e.global_nonce)
            assert len(seen) <= 2
    assert seen == [1, 2]
    assert len(mock.subscriptions) == 1


async def test_exhausted_reconnect_attempts_raise_connection_error(
    client: EventStoreClient, mock: MockEventStore
) -> None:
    await seed(client, 1)
    # Every subscribe call is refused with UNAVAILABLE.
    mock.expect_subscribe(fail_with=("UNAVAILABLE", "store is down for maintenance"), at_least=1)
    subscription = await client.subscribe(max_reconnect_attempts=2)
    with pytest.raises(eventstore.ConnectionError) as caught:
        await within(subscription.__anext__())
    e = caught.value
    assert isinstance(e, builtins.ConnectionError)
    assert e.code == "UNAVAILABLE"
    assert "2 reconnect attempts" in str(e) and "store is down for maintenance" in str(e)
    assert subscription.reconnects == 2
    assert len(mock.subscriptions) == 3, "the first attempt and 2 reconnects"
    mock.verify()


async def test_zero_reconnect_attempts_fail_at_once(client: EventStoreClient, mock: MockEventStore) -> None:
    await seed(client, 3)
    mock.expect_subscribe(drop_after=1, at_least=1)
    subscription = await client.subscribe(max_reconnect_attempts=0)
    seen: list[int] = []
    with pytest.raises(eventstore.ConnectionError):
        async for e in subscription:
            seen.append(e.global_nonce)
    assert seen == [1]
    assert subscription.reconnects == 0
    assert len(mock.subscriptions) == 1
