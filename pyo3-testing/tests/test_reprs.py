"""Short, useful reprs (issue 13, item 8): what a failing assertion or a
debugger shows of the client, the mock, a subscription, a conflict and a
journal entry."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import within
from eventstore import ConcurrencyError, EventStoreClient, NewEvent, event
from eventstore.testing import MockEventStore

PREFIX = "tests.test_reprs"


@event(type=f"{PREFIX}.Placed", revision=1)
@dataclass
class Placed:
    order_id: str


async def test_client_repr_names_endpoint_tenant_and_state(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint=mock.endpoint, tenant_id="shop")
    assert repr(client) == f"EventStoreClient(endpoint='{mock.endpoint}', tenant_id='shop', open)"
    await client.close()
    assert repr(client) == f"EventStoreClient(endpoint='{mock.endpoint}', tenant_id='shop', closed)"
    in_process = EventStoreClient(endpoint="mock", store=mock)
    assert repr(in_process) == "EventStoreClient(endpoint='mock', tenant_id='default', open)"


async def test_mock_repr_names_endpoint_mode_expectations_and_calls() -> None:
    mock = MockEventStore(strict=True)
    try:
        assert repr(mock) == f"MockEventStore(endpoint='{mock.endpoint}', strict=True, expectations=0, calls=0)"
        mock.expect_append(aggregate_id="o-1")
        mock.expect_read_stream(aggregate_id="o-1", times=2)
        client = EventStoreClient(endpoint="mock", store=mock)
        await client.append_events(aggregate_id="o-1", aggregate_type="Order", events=[Placed("o-1")])
        assert repr(mock) == f"MockEventStore(endpoint='{mock.endpoint}', strict=True, expectations=2, calls=1)"
        mock.reset(expectations=True)
        assert "expectations=0, calls=1" in repr(mock)
    finally:
        mock.close()
    assert repr(mock).endswith("expectations=0, closed)")
    assert "0x" not in repr(mock)


async def test_subscription_repr_names_tenant_prefix_progress_and_state(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock, tenant_id="shop")
    await client.append_events(aggregate_id="order-1", aggregate_type="Order", events=[Placed("1")])
    sub = await client.subscribe(aggregate_id_prefix="order-")
    assert (
        repr(sub)
        == "Subscription(tenant_id='shop', aggregate_id_prefix='order-', acknowledged=0, caught_up=False, open)"
    )
    first = await within(sub.__anext__())
    await sub.ack(first.global_nonce)
    assert f"acknowledged={first.global_nonce}" in repr(sub)
    await sub.close()
    assert repr(sub).endswith(", closed)")
    plain = await client.subscribe()
    assert repr(plain).startswith("Subscription(tenant_id='shop', acknowledged=0")
    await plain.close()


async def test_concurrency_error_repr_has_code_expected_and_actual(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    await client.append_events(aggregate_id="o-2", aggregate_type="Order", events=[Placed("o-2")])
    with pytest.raises(ConcurrencyError) as conflict:
        await client.append_events(aggregate_id="o-2", aggregate_type="Order", events=[Placed("o-2")])
    text = repr(conflict.value)
    assert text.startswith("ConcurrencyError(code='ABORTED', aggregate_id='o-2', expected=0, actual=1, message=")
    made = ConcurrencyError("conflict", expected_aggregate_nonce=3, actual_last_aggregate_nonce=5)
    assert repr(made) == "ConcurrencyError(code='ABORTED', expected=3, actual=5, message='conflict')"


async def test_recorded_call_repr_is_one_line_with_rpc_stream_and_event_types(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock, tenant_id="shop")
    await client.append_events(
        aggregate_id="o-3",
        aggregate_type="Order",
        events=[Placed("o-3"), NewEvent(f"{PREFIX}.Shipped", {"tracking": "T1"})],
        correlation_id="req-1",
    )
    await client.read_stream("o-3")
    append, read = mock.calls
    assert repr(append) == (
        "RecordedCall(#1 append, tenant_id='shop', aggregate_id='o-3', expected_aggregate_nonce=0, "
        f"events=2 [{PREFIX}.Placed, {PREFIX}.Shipped], status=OK)"
    )
    assert repr(read) == "RecordedCall(#2 read_stream, tenant_id='shop', aggregate_id='o-3', status=OK)"
    many = [NewEvent("E") for _ in range(8)]
    await client.append_events(aggregate_id="o-4", aggregate_type="Order", events=many)
    text = repr(mock.appends[-1])
    assert "events=8 [E, E, E, E, E, ... 3 more]" in text
    assert "correlation" not in repr(append) and "\n" not in text
