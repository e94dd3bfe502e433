"""``up_to=n`` on every ``expect_*``: the first n matching calls get the
expectation's answer, later calls fall through to the working store and are
not counted; without a count it verifies exactly n calls."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import within
from eventstore import ConcurrencyError, ConnectionError, EventStoreClient, ValidationError, event
from eventstore.testing import MockEventStore


@event(type="tests.up_to.OrderCreated", revision=1)
@dataclass
class OrderCreated:
    order_id: str


async def test_fail_twice_then_the_append_goes_through(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    failing = mock.expect_append(aggregate_id="order-1", fail_with=ConcurrencyError, up_to=2)
    for _ in range(2):
        with pytest.raises(ConcurrencyError):
            await client.append_events(aggregate_id="order-1", aggregate_type="Order", events=[OrderCreated("order-1")])
    mock.verify()  # its 2 calls happened
    await client.append_events(aggregate_id="order-1", aggregate_type="Order", events=[OrderCreated("order-1")])
    assert [e.payload for e in mock.read("order-1")] == [OrderCreated("order-1")]
    assert failing.call_count == 2, "the call that went through is not counted"
    assert len(mock.appends) == 3
    mock.verify()


async def test_without_a_count_it_verifies_exactly_up_to_calls(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    mock.expect_append(fail_with=ConnectionError, up_to=3)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await client.append_events(aggregate_id="a", aggregate_type="A", events=[OrderCreated("a")])
    with pytest.raises(AssertionError, match="expected exactly 3 calls, received 2"):
        mock.verify()


async def test_an_explicit_count_wins(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    mock.expect_read_stream(fail_with=ConnectionError, up_to=2, at_least=1)
    with pytest.raises(ConnectionError):
        await client.read_stream("a")
    mock.verify()


async def test_every_expect_method_takes_up_to(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    await client.append_events(aggregate_id="a", aggregate_type="A", events=[OrderCreated("a")])
    mock.expect_read_stream(fail_with=ConnectionError, up_to=1)
    mock.expect_read_all(fail_with=ConnectionError, up_to=1)
    mock.expect_server_info(legacy=True, up_to=1)
    mock.expect_subscribe(fail_with=("PERMISSION_DENIED", "not yet"), up_to=1)
    with pytest.raises(ConnectionError):
        await client.read_stream("a")
    assert len((await client.read_stream("a")).events) == 1
    with pytest.raises(ConnectionError):
        await client.read_all()
    assert len((await client.read_all()).events) == 1
    assert (await client.server_info()).is_legacy
    assert not (await client.server_info()).is_legacy
    with pytest.raises(Exception, match="not yet"):
        async with await client.subscribe(max_reconnect_attempts=0) as sub:
            await within(sub.__anext__())
    async with await client.subscribe() as sub:
        assert (await within(sub.__anext__())).payload == OrderCreated("a")
    mock.verify()


def test_bad_up_to_values_are_named(mock: MockEventStore) -> None:
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ValidationError, match=rf"up_to must be an integer >= 1 .*got {bad!r}"):
            mock.expect_append(up_to=bad)  # type: ignore[arg-type]
