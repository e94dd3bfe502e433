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


UP_TO_HINT = (
    "(a fail_with expectation answers every matching call; to fail only the first 1 and then pass through "
    "to the store, give up_to=1"
)


async def test_too_many_calls_on_fail_with_suggest_up_to(mock: MockEventStore) -> None:
    # What a user who meant "fail once, then work" wrote: fail_with alone
    # fails every matching call, and the report says how to mean "once".
    client = EventStoreClient(endpoint="mock", store=mock)
    mock.expect_append(aggregate_id="order-1", fail_with=ConcurrencyError)
    for _ in range(5):
        with pytest.raises(ConcurrencyError):
            await client.append_events(aggregate_id="order-1", aggregate_type="Order", events=[OrderCreated("order-1")])
    with pytest.raises(AssertionError) as raised:
        mock.verify()
    report = str(raised.value)
    assert "expected exactly 1 call, received 5." in report
    assert UP_TO_HINT in report, report


async def test_no_up_to_hint_where_it_would_not_help(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    # Too many calls, but the reply is the store's own: up_to is not the point.
    mock.expect_read_stream(aggregate_id="a")
    # A failure, but only on the 2nd call (nth), and up_to already given.
    mock.expect_read_all(fail_with=ConnectionError, nth=2, at_most=1)
    mock.expect_server_info(fail_with=ConnectionError, up_to=3, times=1)
    for _ in range(2):
        await client.read_stream("a")
    await client.read_all()
    with pytest.raises(ConnectionError):
        await client.read_all()
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await client.server_info()
    with pytest.raises(AssertionError) as raised:
        mock.verify()
    report = str(raised.value)
    assert report.count("Matching calls:") == 3, report
    assert "up_to=" not in report, report
