"""eventstore.testing.MockEventStore: transports, the expectation API,
faults, verification, the journal and state management."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import datetime as dt
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

import eventstore
import pytest
from conftest import expect_unregistered
from eventstore import (
    AppendResult,
    AuthenticationError,
    AuthorizationError,
    ConcurrencyError,
    ConnectionError,
    DuplicateEventError,
    EventRegistry,
    EventStoreClient,
    EventStoreError,
    NewEvent,
    RecordedEvent,
    TimeoutError,
    ValidationError,
    event,
)
from eventstore.testing import Expectation, MockEventStore, RecordedCall, StreamEnd

PREFIX = "tests.test_mock"


@event(type=f"{PREFIX}.OrderCreated", revision=1)
@dataclass
class OrderCreated:
    order_id: str
    amount: float
    currency: str = "USD"


@event(type=f"{PREFIX}.OrderShipped", revision=1)
@dataclass
class OrderShipped:
    order_id: str
    tracking_number: str


@event(type=f"{PREFIX}.Tagged", revision=1)
@dataclass
class Tagged:
    labels: dict[str, str]


# -- fixtures and helpers --------------------------------------------------------


@pytest.fixture(params=["in_process", "network"])
def client(request: pytest.FixtureRequest, mock: MockEventStore) -> EventStoreClient:
    """A client of ``mock``, over each transport."""
    if request.param == "in_process":
        return EventStoreClient(endpoint="mock", store=mock, request_timeout=10)
    return EventStoreClient(endpoint=mock.endpoint, request_timeout=10, connection_timeout=5)


@pytest.fixture
def local(mock: MockEventStore) -> EventStoreClient:
    """An in-process client, for tests where the transport does not matter."""
    return EventStoreClient(endpoint="mock", store=mock, request_timeout=10)


async def create_order(client: EventStoreClient, order_id: str = "order-1", amount: float = 10.0, **kw: Any) -> Any:
    return await client.append_events(
        aggregate_id=order_id,
        aggregate_type="Order",
        events=[OrderCreated(order_id=order_id, amount=amount)],
        **kw,
    )


async def drain(sub: eventstore.Subscription, *, limit: int = 100, timeout: float = 5.0) -> tuple[list[Any], Any]:
    """Events of a subscription until it ends, fails, or ``limit`` events;
    returns ``(events, error or None)``; the error is ``"timed out"`` after
    ``timeout`` seconds."""
    events: list[Any] = []

    async def run() -> None:
        async for e in sub:
            events.append(e)
            if len(events) >= limit:
                return

    try:
        await asyncio.wait_for(run(), timeout)
    except EventStoreError as e:
        return events, e
    except asyncio.TimeoutError:
        return events, "timed out"
    finally:
        await sub.close()
    return events, None


def report_of(mock: MockEventStore) -> str:
    with pytest.raises(AssertionError) as excinfo:
        mock.verify()
    return str(excinfo.value)


# -- construction and transports -------------------------------------------------------


def test_construct_and_use_outside_any_event_loop(record_property: Any) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    started = time.perf_counter()
    mock = MockEventStore()
    record_property("mock_construction_seconds", time.perf_counter() - started)
    try:
        assert re.fullmatch(r"127\.0\.0\.1:\d+", mock.endpoint)
        # The whole expectation API is plain, synchronous methods.
        expectation = mock.expect_append(aggregate_id="order-1")
        assert isinstance(expectation, Expectation)
        assert expectation.call_count == 0
        with pytest.raises(AssertionError):
            mock.verify()
        mock.seed("order-1", [OrderCreated("order-1", 1.0)])
        assert [e.aggregate_nonce for e in mock.read("order-1")] == [1]
        client = EventStoreClient(endpoint="mock", store=mock)
        result = asyncio.run(create_order(client, expected_aggregate_nonce=1))
        assert result.last_aggregate_nonce == 2
        mock.verify()
    finally:
        mock.close()


async def test_construct_inside_a_running_loop() -> None:
    asyncio.get_running_loop()
    mock = MockEventStore()
    try:
        client = EventStoreClient(endpoint="mock", store=mock)
        await create_order(client)
        assert len(mock.appends) == 1
    finally:
        mock.close()


async def test_both_transports_append_read_and_subscribe(client: EventStoreClient, mock: MockEventStore) -> None:
    result = await client.append_events(
        aggregate_id="order-1",
        aggregate_type="Order",
        events=[OrderCreated("order-1", 99.99), OrderShipped("order-1", "TRK1")],
    )
    assert result == AppendResult(last_global_nonce=2, last_aggregate_nonce=2)
    page = await client.read_stream("order-1")
    assert [e.payload for e in page.events] == [OrderCreated("order-1", 99.99), OrderShipped("order-1", "TRK1")]
    events, error = await drain(await client.subscribe(), limit=2)
    assert error is None
    assert [e.global_nonce for e in events] == [1, 2]
    assert [c.rpc for c in mock.calls] == ["append", "read_stream", "subscribe"]


def test_store_must_go_with_endpoint_mock(mock: MockEventStore) -> None:
    with pytest.raises(ValidationError, match="endpoint 'mock' needs store="):
        EventStoreClient(endpoint="mock")
    with pytest.raises(ValidationError, match="endpoint must be 'mock'"):
        EventStoreClient(endpoint="localhost:1", store=mock)
    # store= with the mock's own endpoint is accepted too.
    EventStoreClient(endpoint=mock.endpoint, store=mock)


# -- matching -------------------------------------------------------------------------


async def test_expect_append_dict_form(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append({"aggregate_id": "order-1", "aggregate_type": "Order", "expected_aggregate_nonce": 0})
    await create_order(client)
    mock.verify()


async def test_expect_append_keyword_form(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(aggregate_id="order-1", tenant_id="default", events=[OrderCreated("order-1", 10)])
    await create_order(client)
    mock.verify()


async def test_keywords_override_the_dict(local: EventStoreClient, mock: MockEventStore) -> None:
    expectation = mock.expect_append({"aggregate_id": "order-1"}, aggregate_id="order-2")
    await create_order(local, "order-1")
    assert expectation.call_count == 0
    await create_order(local, "order-2")
    assert expectation.call_count == 1


async def test_events_match_by_type_and_payload(local: EventStoreClient, mock: MockEventStore) -> None:
    exact = mock.expect_append(events=[OrderCreated("order-1", 10)], at_least=0)
    other_amount = mock.expect_append(events=[OrderCreated("order-1", 11)], never=True)
    other_type = mock.expect_append(events=[OrderShipped("order-1", "x")], never=True)
    two_events = mock.expect_append(events=[OrderCreated("order-1", 10), OrderCreated("order-1", 10)], never=True)
    await create_order(local, amount=10)
    assert exact.call_count == 1
    assert other_amount.call_count == other_type.call_count == two_events.call_count == 0
    mock.verify()


async def test_partial_dict_patterns_ignore_fields_not_given(local: EventStoreClient, mock: MockEventStore) -> None:
    by_amount = mock.expect_append(
        events=[{"event_type": f"{PREFIX}.OrderCreated", "payload": {"amount": 10}}], at_least=0
    )
    by_meta = mock.expect_append(events=[{"meta": {"aggregate_nonce": 1}, "revision": 1}], at_least=0)
    wrong = mock.expect_append(events=[{"payload": {"amount": 10, "currency": "EUR"}}], never=True)
    await create_order(local, amount=10)
    assert (by_amount.call_count, by_meta.call_count, wrong.call_count) == (1, 1, 0)
    mock.verify()


async def test_newer_payload_fields_are_ignored_by_instance_patterns(
    local: EventStoreClient, mock: MockEventStore
) -> None:
    # The stored payload has a field the pattern's class does not know.
    expectation = mock.expect_append(events=[OrderShipped("o", "T1")])
    await local.append_events(
        aggregate_id="o",
        aggregate_type="Order",
        events=[
            NewEvent(
                event_type=f"{PREFIX}.OrderShipped",
                payload={"order_id": "o", "tracking_number": "T1", "carrier": "UPS"},
            )
        ],
    )
    assert expectation.call_count == 1


async def test_new_event_and_bytes_patterns(local: EventStoreClient, mock: MockEventStore) -> None:
    json_event = mock.expect_append(events=[NewEvent(event_type="Raw", payload={"k": [1, 2]})])
    bytes_event = mock.expect_append(events=[NewEvent(event_type="Bin", payload=b"\x00\x01")])
    await local.append_events(aggregate_id="r", aggregate_type="R", events=[NewEvent("Raw", {"k": [1, 2], "x": 0})])
    await local.append_events(
        aggregate_id="b", aggregate_type="R", events=[NewEvent("Bin", b"\x00\x01", content_type="application/x")]
    )
    assert (json_event.call_count, bytes_event.call_count) == (1, 1)


async def test_payload_keys_starting_with_dollar_match_literally(local: EventStoreClient, mock: MockEventStore) -> None:
    expectation = mock.expect_append(events=[Tagged({"$regex": "literal"})])
    await local.append_events(aggregate_id="t", aggregate_type="T", events=[Tagged({"$regex": "literal"})])
    assert expectation.call_count == 1
    mock.verify()


async def test_non_json_content_types_match_by_instance(local: EventStoreClient, mock: MockEventStore) -> None:
    # The JSON codec under a non-JSON content type (the guide's protobuf
    # example), and custom bytes that happen to parse as JSON.
    registry = EventRegistry()
    with pytest.warns(UserWarning):

        @event(type=f"{PREFIX}.Proto", content_type="application/protobuf", registry=registry)
        @dataclass
        class Proto:
            data: bytes

    @event(
        type=f"{PREFIX}.Csv",
        content_type="text/csv",
        serializer=lambda e: f"{e.a},{e.b}".encode() if e.b else str(e.a).encode(),
        deserializer=lambda b: Csv(*map(int, b.split(b","))),
        registry=registry,
    )
    @dataclass
    class Csv:
        a: int
        b: int = 0

    proto = mock.expect_append(events=[Proto(b"\x08\x01")])
    csv = mock.expect_append(events=[Csv(7, 8)])
    number = mock.expect_append(events=[Csv(42)])  # b"42" parses as JSON
    await local.append_events(aggregate_id="p", aggregate_type="T", events=[Proto(b"\x08\x01")])
    await local.append_events(aggregate_id="c", aggregate_type="T", events=[Csv(7, 8)])
    await local.append_events(aggregate_id="n", aggregate_type="T", events=[Csv(42)])
    assert (proto.call_count, csv.call_count, number.call_count) == (1, 1, 1)
    mock.verify()


async def test_dict_patterns_take_codec_values(local: EventStoreClient, mock: MockEventStore) -> None:
    registry = EventRegistry()

    class Status(Enum):
        PAID = "paid"

    @event(type=f"{PREFIX}.Paid", registry=registry)
    @dataclass
    class Paid:
        amount: Decimal
        payment_id: uuid.UUID
        at: dt.datetime
        status: Status

    paid = Paid(Decimal("0.10"), uuid.UUID(int=7), dt.datetime(2024, 1, 2, 3, 4, 5, 6), Status.PAID)
    expectation = mock.expect_append(
        events=[
            {
                "payload": {
                    "amount": Decimal("0.10"),
                    "payment_id": uuid.UUID(int=7),
                    "at": dt.datetime(2024, 1, 2, 3, 4, 5, 6),
                    "status": Status.PAID,
                }
            }
        ]
    )
    await local.append_events(aggregate_id="p", aggregate_type="P", events=[paid])
    assert expectation.call_count == 1
    mock.verify()


async def test_regex_values(local: EventStoreClient, mock: MockEventStore) -> None:
    orders = mock.expect_append(
        aggregate_id={"$regex": "^order-"},
        events=[{"payload": {"order_id": {"$regex": r"-\d+$"}}}],
        times=2,
    )
    await create_order(local, "order-1")
    await create_order(local, "order-22")
    await create_order(local, "cart-1")
    await local.append_events(aggregate_id="order-x", aggregate_type="Order", events=[OrderCreated("order-x", 1)])
    assert [c.aggregate_id for c in orders.calls] == ["order-1", "order-22"]
    mock.verify()


async def test_compiled_regexes_on_keywords(local: EventStoreClient, mock: MockEventStore) -> None:
    # re.compile(...) on a text keyword (and a metadata value, and inside a
    # dict pattern) is the mock's {"$regex": ...}; IGNORECASE becomes (?i).
    orders = mock.expect_append(aggregate_id=re.compile("^order-"), times=2)
    shouting = mock.expect_append(aggregate_id=re.compile("^CART-", re.IGNORECASE), at_least=0)
    amounts = mock.expect_append(events=[{"payload": {"order_id": re.compile(r"-\d+$")}}], at_least=0)
    agent = mock.expect_read_stream(metadata={"user-agent": re.compile(".")}, at_least=0)
    await create_order(local, "order-1")
    await create_order(local, "order-22")
    await create_order(local, "cart-1")
    await create_order(local, "my-order-3")  # "^": not anchored anywhere else
    await local.read_stream("order-1")
    assert [c.aggregate_id for c in orders.calls] == ["order-1", "order-22"]
    assert [c.aggregate_id for c in shouting.calls] == ["cart-1"]
    assert [c.aggregate_id for c in amounts.calls] == ["order-1", "order-22", "cart-1", "my-order-3"]
    assert agent.call_count == 1
    assert 'append {"aggregate_id": {"$regex": "^order-"}}' in repr(orders)
    mock.verify()


def test_compiled_regexes_the_mock_cannot_honour_are_refused(mock: MockEventStore) -> None:
    with pytest.raises(ValidationError, match=r"expect_append: aggregate_id: re\.compile\('\^a', re\.ASCII\) has flag"):
        mock.expect_append(aggregate_id=re.compile("^a", re.ASCII))
    with pytest.raises(ValidationError, match=r"metadata\['x'\]: .*flag\(s\) re\.ASCII.*honours re\.IGNORECASE"):
        mock.expect_read_all(metadata={"x": re.compile("(?a)x")})
    with pytest.raises(ValidationError, match=r"(?s)request: aggregate_id: invalid regex .*look-around"):
        mock.expect_append(aggregate_id=re.compile("^order-(?!0)"))
    with pytest.raises(ValidationError, match=r"expect_append: aggregate_id: a bytes regex cannot match"):
        mock.expect_append(aggregate_id=re.compile(b"^o"))  # type: ignore[arg-type]
    assert mock.calls == []


async def test_metadata_patterns(mock: MockEventStore) -> None:
    authenticated = EventStoreClient(endpoint="mock", store=mock, credentials={"username": "u", "password": "p"})
    anonymous = EventStoreClient(endpoint="mock", store=mock)
    with_auth = mock.expect_append(metadata={"authorization": "Basic dTpw"})
    with_agent = mock.expect_append(metadata={"user-agent": {"$regex": "."}}, times=2)
    await create_order(authenticated, "a")
    await create_order(anonymous, "b")
    assert [c.aggregate_id for c in with_auth.calls] == ["a"]
    assert with_agent.call_count == 2
    # Matchers see the real header; the journal redacts credentials.
    assert mock.calls[0].metadata["authorization"] == "Basic [redacted]"

    assert "authorization" not in mock.calls[1].metadata
    mock.verify()


async def test_read_and_subscribe_expectations_match_their_fields(
    local: EventStoreClient, mock: MockEventStore
) -> None:
    read = mock.expect_read_stream(aggregate_id="order-1", forward=False, max_count=5)
    sub = mock.expect_subscribe({"aggregate_id_prefix": "order-"}, from_global_nonce=3)
    await local.read_stream("order-1", forward=True)
    await local.read_stream("order-1", forward=False, max_count=5)
    await drain(await local.subscribe(aggregate_id_prefix="order-", from_global_nonce=3), timeout=0.3)
    assert read.call_count == 1 and sub.call_count == 1
    mock.verify()


# -- counts and verification ---------------------------------------------------------


async def test_times(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(aggregate_id="order-1", times=2)
    await create_order(local)
    report = report_of(mock)
    assert "expected exactly 2 calls, received 1" in report
    await create_order(local, expected_aggregate_nonce=1)
    mock.verify()
    await create_order(local, expected_aggregate_nonce=2)
    assert "expected exactly 2 calls, received 3" in report_of(mock)


async def test_at_least_and_at_most(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(at_least=2, at_most=3)
    await create_order(local, "a")
    assert "received 1" in report_of(mock)
    await create_order(local, "b")
    mock.verify()
    await create_order(local, "c")
    mock.verify()
    await create_order(local, "d")
    assert "received 4" in report_of(mock)


async def test_at_least_alone(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_read_stream(at_least=1)
    assert "received 0" in report_of(mock)
    for _ in range(3):
        await local.read_stream("x")
    mock.verify()


async def test_never(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(aggregate_id="forbidden", never=True)
    await create_order(local, "allowed")
    mock.verify()
    await create_order(local, "forbidden")
    report = report_of(mock)
    assert "received 1" in report and "Matching calls: #2" in report


async def test_default_count_is_exactly_once(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_read_stream(aggregate_id="x")
    await local.read_stream("x")
    mock.verify()
    await local.read_stream("x")
    assert "expected exactly 1 call, received 2" in report_of(mock)


async def test_verify_reports_the_field_diff_and_the_nearest_call(
    client: EventStoreClient, mock: MockEventStore
) -> None:
    mock.expect_append(
        aggregate_id="order-1",
        events=[{"event_type": f"{PREFIX}.OrderCreated", "payload": {"amount": 10}}],
        name="order of 10",
    )
    await create_order(client, "order-1", amount=12)
    await client.read_stream("elsewhere")
    report = report_of(mock)
    assert "MockEventStore verification failed: 1 problem." in report
    assert '"order of 10"' in report
    assert "expected exactly 1 call, received 0" in report
    assert "Nearest calls:" in report
    assert "#1 Append default/order-1" in report
    assert "events[0].payload.amount: expected 10, got 12" in report
    assert "Received calls (2):" in report and "#2 ReadStream default/elsewhere" in report


# -- faults ------------------------------------------------------------------------------


async def test_fail_with_concurrency_error(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(aggregate_id="order-1", fail_with=ConcurrencyError)
    with pytest.raises(ConcurrencyError) as excinfo:
        await create_order(client)
    assert excinfo.value.code == "ABORTED"
    # A fault replaces the store's answer: nothing was written.
    assert mock.read("order-1") == []
    assert mock.appends[0].status == "ABORTED"
    mock.verify()


async def test_fail_with_concurrency_error_instance_carries_the_head(
    client: EventStoreClient, mock: MockEventStore
) -> None:
    mock.expect_append(
        fail_with=ConcurrencyError(
            "stale", aggregate_id="order-1", actual_last_aggregate_nonce=5, actual_last_global_nonce=42
        )
    )
    with pytest.raises(ConcurrencyError) as excinfo:
        await create_order(client, expected_aggregate_nonce=3)
    error = excinfo.value
    assert error.actual_last_aggregate_nonce == 5
    assert error.actual == 5
    assert error.actual_last_global_nonce == 42
    assert error.aggregate_id == "order-1"


async def test_fail_with_a_status_pair(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(fail_with=("UNAVAILABLE", "down"))
    with pytest.raises(ConnectionError) as excinfo:
        await create_order(client)
    assert str(excinfo.value) == "down"
    assert excinfo.value.code == "UNAVAILABLE"
    assert isinstance(excinfo.value, builtins.ConnectionError)
    assert mock.calls[0].status == "UNAVAILABLE" and mock.calls[0].message == "down"


@pytest.mark.parametrize(
    ("fail_with", "error", "code"),
    [
        (ValidationError, ValidationError, "INVALID_ARGUMENT"),
        (ValidationError("bad amount"), ValidationError, "INVALID_ARGUMENT"),
        (AuthenticationError, AuthenticationError, "UNAUTHENTICATED"),
        (AuthorizationError("no"), AuthorizationError, "PERMISSION_DENIED"),
        (DuplicateEventError, DuplicateEventError, "ALREADY_EXISTS"),
        (TimeoutError, TimeoutError, "DEADLINE_EXCEEDED"),
        (ConnectionError("gone"), ConnectionError, "UNAVAILABLE"),
        (EventStoreError, EventStoreError, "INTERNAL"),
        (("RESOURCE_EXHAUSTED", "too big"), ValidationError, "RESOURCE_EXHAUSTED"),
        (("NOT_FOUND", "what"), EventStoreError, "NOT_FOUND"),
        ((8, "by number"), ValidationError, "RESOURCE_EXHAUSTED"),
        (("PermissionDenied", "camel"), AuthorizationError, "PERMISSION_DENIED"),
    ],
)
async def test_fail_with_maps_to_the_client_error(
    local: EventStoreClient, mock: MockEventStore, fail_with: Any, error: type[Exception], code: str
) -> None:
    mock.expect_read_stream(fail_with=fail_with)
    with pytest.raises(error) as excinfo:
        await local.read_stream("x")
    assert type(excinfo.value) is error
    assert excinfo.value.code == code  # type: ignore[attr-defined]
    if isinstance(fail_with, Exception):
        assert str(excinfo.value) == str(fail_with)
    elif isinstance(fail_with, tuple):
        assert str(excinfo.value) == fail_with[1]
    else:
        assert "injected by MockEventStore" in str(excinfo.value)


async def test_nth_fails_only_that_call(client: EventStoreClient, mock: MockEventStore) -> None:
    expectation = mock.expect_append(aggregate_id="order-1", fail_with=("UNAVAILABLE", "second"), nth=2)
    await create_order(client)
    with pytest.raises(ConnectionError, match="second"):
        await create_order(client, expected_aggregate_nonce=1)
    await create_order(client, expected_aggregate_nonce=1)
    assert [c.status for c in mock.appends] == ["OK", "UNAVAILABLE", "OK"]
    assert expectation.call_count == 3
    assert [e.aggregate_nonce for e in mock.read("order-1")] == [1, 2]
    mock.verify()


async def test_nth_needs_that_many_calls(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_read_stream(nth=3, fail_with=ConnectionError)
    await local.read_stream("a")
    await local.read_stream("a")
    assert "received 2" in report_of(mock)


async def test_delay(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(delay=0.2)
    started = time.perf_counter()
    await create_order(client)
    assert time.perf_counter() - started >= 0.195
    assert mock.appends[0].latency is not None and mock.appends[0].latency >= 0.195


async def test_delay_with_a_fault(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_read_stream(delay=0.1, fail_with=TimeoutError)
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        await local.read_stream("x")
    assert time.perf_counter() - started >= 0.095


async def test_returns_for_append(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(aggregate_id="a", returns=AppendResult(last_global_nonce=100, last_aggregate_nonce=7))
    mock.expect_append(aggregate_id="b", returns={"last_global_nonce": 5, "last_aggregate_nonce": 1})
    assert await create_order(client, "a") == AppendResult(100, 7)
    assert await create_order(client, "b") == AppendResult(5, 1)
    # Stubbed: nothing was written.
    assert mock.read("a") == [] and mock.read("b") == []
    assert mock.appends[0].response == {"last_global_nonce": 100, "last_aggregate_nonce": 7}


async def test_returns_for_read_stream(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_read_stream(
        aggregate_id="order-9",
        returns=[OrderCreated("order-9", 5), NewEvent(event_type="Note", payload={"text": "hi"})],
    )
    page = await client.read_stream("order-9")
    assert page.is_end
    with expect_unregistered("Note"):
        assert [e.payload for e in page.events] == [OrderCreated("order-9", 5), {"text": "hi"}]
    assert [e.aggregate_nonce for e in page.events] == [1, 2]
    assert all(e.aggregate_id == "order-9" for e in page.events)
    assert page.events[0].event_type == f"{PREFIX}.OrderCreated"


async def test_returns_for_subscribe(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.seed("real", [OrderCreated("real", 1)])
    mock.expect_subscribe(returns=[OrderCreated("s-1", 1), OrderShipped("s-1", "T")])
    sub = await client.subscribe(max_reconnect_attempts=0)
    events, _ = await drain(sub, limit=2)
    assert [e.payload for e in events] == [OrderCreated("s-1", 1), OrderShipped("s-1", "T")]
    assert [e.global_nonce for e in events] == [1, 2]


async def test_drop_connection(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(aggregate_id="order-1", drop_connection=True)
    mock.expect_read_stream(drop_connection=True)
    with pytest.raises(ConnectionError):
        await create_order(client)
    with pytest.raises(ConnectionError):
        await client.read_stream("x")
    assert [c.status for c in mock.calls] == ["UNAVAILABLE", "UNAVAILABLE"]
    # The next call reconnects.
    await create_order(client, "after")
    assert len(mock.read("after")) == 1


@contextlib.contextmanager
def busy_cores(n: int = 2) -> Iterator[None]:
    """``n`` processes spinning on a core: the client's runtime threads are
    then descheduled at random points, as on a loaded CI machine."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


async def test_a_request_over_the_client_limit_fails_alike_in_process_and_over_the_network(
    mock: MockEventStore,
) -> None:
    """The in-process path has no channel to refuse a request over the
    client's 64 MiB encoding limit: it refuses it itself, with the error the
    channel gives, before the mock sees it."""
    huge = [NewEvent(event_type="Huge", payload=b"x" * (65 * 1024 * 1024))]
    errors = []
    for client in (
        EventStoreClient(endpoint="mock", store=mock),
        EventStoreClient(endpoint=mock.endpoint),
    ):
        async with client:
            with pytest.raises(EventStoreError) as caught:
                await client.append_events(aggregate_id="huge", aggregate_type="T", events=huge)
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]
    assert "encoded message length too large" in errors[0][1]
    assert mock.calls == []


async def test_the_call_after_a_dropped_connection_reaches_the_store(mock: MockEventStore) -> None:
    """A dropped connection fails the call it cut, never the next one: a
    request queued on the closing connection before the client noticed it
    closed never left the client, and is sent again on a new connection.
    Before, on a loaded machine, one call in ten after a drop failed with
    "connection closed" (CI saw it once in test_drop_connection). Over the
    network: an in-process client has no connection to reuse."""
    mock.expect_read_stream(aggregate_id="cut", drop_connection=True)
    async with EventStoreClient(endpoint=mock.endpoint, max_connections=1) as client:
        with busy_cores():
            for _ in range(300):
                with pytest.raises(ConnectionError):
                    await client.read_stream("cut")
                page = await client.read_stream("fine")
                assert page.events == []
    assert [c.status for c in mock.calls] == ["UNAVAILABLE", "OK"] * 300


async def _seed_five(mock: MockEventStore) -> None:
    for i in range(5):
        mock.seed(f"s-{i}", [OrderCreated(f"s-{i}", i)])


async def test_subscribe_drop_after(client: EventStoreClient, mock: MockEventStore) -> None:
    await _seed_five(mock)
    mock.expect_subscribe(drop_after=2)
    events, error = await drain(await client.subscribe(max_reconnect_attempts=0))
    assert [e.global_nonce for e in events] == [1, 2]
    assert isinstance(error, ConnectionError)
    assert mock.subscriptions[0].stream_end is not None
    assert len(mock.subscriptions[0].delivered) == 2


async def test_subscribe_drop_after_then_resume_after_ack(local: EventStoreClient, mock: MockEventStore) -> None:
    await _seed_five(mock)
    mock.expect_subscribe(drop_after=2, at_least=1)
    sub = await local.subscribe(max_reconnect_attempts=5)
    seen: list[int] = []

    async def consume() -> None:
        async for e in sub:
            seen.append(e.global_nonce)
            await sub.ack(e.global_nonce)
            if len(seen) == 5:
                return

    try:
        await asyncio.wait_for(consume(), 10)
    finally:
        await sub.close()
    assert seen == [1, 2, 3, 4, 5], "each event once, in order, across the drops"
    # Each resume starts right after an event the consumer acknowledged:
    # the last one acknowledged when the drop was seen. Which one that is
    # depends on timing (the drop may be seen before the ack of the event
    # just before it: then that event is sent again, and skipped), so a run
    # may take a third reconnect (seen once in a run); positions never go back.
    starts = [c.request["from_global_nonce"] for c in mock.subscriptions]
    assert starts[0] == 0
    assert starts == sorted(starts), starts
    assert all(start == 0 or start - 1 in seen for start in starts[1:]), starts
    assert sub.reconnects == len(starts) - 1 >= 2, starts


async def test_subscribe_fail_after(client: EventStoreClient, mock: MockEventStore) -> None:
    await _seed_five(mock)
    mock.expect_subscribe(fail_after=3, fail_with=AuthorizationError("revoked"))
    events, error = await drain(await client.subscribe())
    assert [e.global_nonce for e in events] == [1, 2, 3]
    assert isinstance(error, AuthorizationError) and str(error) == "revoked"
    assert mock.subscriptions[0].status == "PERMISSION_DENIED"


async def test_subscribe_fail_after_defaults_to_unavailable(local: EventStoreClient, mock: MockEventStore) -> None:
    await _seed_five(mock)
    mock.expect_subscribe(fail_after=1)
    events, error = await drain(await local.subscribe(max_reconnect_attempts=0))
    assert len(events) == 1
    assert isinstance(error, ConnectionError)


async def test_subscribe_refused(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_subscribe(fail_with=ValidationError("no such tenant"))
    events, error = await drain(await local.subscribe())
    assert events == [] and isinstance(error, ValidationError) and str(error) == "no such tenant"


async def test_subscribe_delay_each(local: EventStoreClient, mock: MockEventStore) -> None:
    await _seed_five(mock)
    mock.expect_subscribe(delay_each=0.05)
    started = time.perf_counter()
    events, error = await drain(await local.subscribe(), limit=3)
    assert error is None and len(events) == 3
    assert time.perf_counter() - started >= 0.145


def test_subscribe_fail_after_cannot_be_a_conflict(mock: MockEventStore) -> None:
    with pytest.raises(ValidationError, match="not a conflict"):
        mock.expect_subscribe(fail_after=1, fail_with=ConcurrencyError)


# -- strict mode -----------------------------------------------------------------------


async def test_strict_fails_unmatched_calls(mock: MockEventStore) -> None:
    strict = MockEventStore(strict=True)
    try:
        assert strict.strict
        client = EventStoreClient(endpoint="mock", store=strict)
        strict.expect_append(aggregate_id="order-1")
        await create_order(client, "order-1")
        with pytest.raises(EventStoreError) as excinfo:
            await create_order(client, "order-2")
        assert excinfo.value.code == "FAILED_PRECONDITION"
        assert "no expectation matches" in str(excinfo.value)
        assert strict.read("order-2") == []
        assert [c.aggregate_id for c in strict.unmatched_calls] == ["order-2"]
        report = report_of(strict)
        assert "strict mode: 1 call matched no expectation" in report
        assert "Append default/order-2" in report
    finally:
        strict.close()


async def test_strict_setter(local: EventStoreClient, mock: MockEventStore) -> None:
    assert mock.strict is False
    await local.read_stream("before")  # fine while lenient
    mock.reset(journal=True)
    mock.strict = True
    assert mock.strict is True
    with pytest.raises(EventStoreError, match="no expectation matches"):
        await local.read_stream("x")
    mock.strict = False
    await local.read_stream("x")
    assert [c.status for c in mock.reads] == ["FAILED_PRECONDITION", "OK"]


# -- the journal --------------------------------------------------------------------------


async def test_journal(local: EventStoreClient, mock: MockEventStore) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    matched = mock.expect_read_stream(aggregate_id="order-1", fail_with=("NOT_FOUND", "nope"))
    await local.append_events(
        aggregate_id="order-1",
        aggregate_type="Order",
        events=[OrderCreated("order-1", 12.5)],
        correlation_id="corr-1",
        idempotency_key="idem-1",
    )
    with pytest.raises(EventStoreError):
        await local.read_stream("order-1", max_count=3)
    events, _ = await drain(await local.subscribe(aggregate_id_prefix="order-"), limit=1)
    assert len(events) == 1
    await asyncio.sleep(0.05)  # let the mock record the cancelled stream's end

    calls = mock.calls
    assert [c.seq for c in calls] == [1, 2, 3]
    assert [c.rpc for c in calls] == ["append", "read_stream", "subscribe"]
    assert list(mock) == calls
    assert [c.seq for c in mock.appends] == [1]
    assert [c.seq for c in mock.reads] == [2]
    assert [c.seq for c in mock.subscriptions] == [3]
    assert [c.seq for c in mock.unmatched_calls] == [1, 3]

    append = calls[0]
    assert isinstance(append, RecordedCall)
    assert append.aggregate_id == "order-1"
    assert append.request["aggregate_type"] == "Order"
    assert append.request["idempotency_key"] == "idem-1"
    assert append.request["tenant_id"] == "default"
    # The append's events are RecordedEvents, like the events a read returns.
    (recorded,) = append.events
    assert isinstance(recorded, RecordedEvent)
    assert json.loads(recorded.data) == {"order_id": "order-1", "amount": 12.5, "currency": "USD"}
    assert recorded.event_type == f"{PREFIX}.OrderCreated"
    assert recorded.correlation_id == "corr-1"
    assert recorded.aggregate_nonce == 1
    # The request dict keeps the matchers' view of the same event.
    assert append.request["events"][0]["payload"] == {"order_id": "order-1", "amount": 12.5, "currency": "USD"}
    assert append.status == "OK" and append.message == ""
    assert append.response == {"last_global_nonce": 1, "last_aggregate_nonce": 1}
    assert append.metadata["content-type"] == "application/grpc"
    assert before - dt.timedelta(seconds=1) <= append.received_at <= dt.datetime.now(dt.timezone.utc)
    assert append.latency is not None and 0 <= append.latency < 5
    assert append.matched == [] and append.delivered == [] and append.stream_end is None

    read = calls[1]
    assert read.request["max_count"] == 3 and read.request["forward"] is True
    assert (read.status, read.message, read.response) == ("NOT_FOUND", "nope", None)
    assert read.matched == [matched.id]

    sub = calls[2]
    assert sub.aggregate_id is None
    assert sub.request == {"tenant_id": "default", "aggregate_id_prefix": "order-", "from_global_nonce": 0}
    assert [d.global_nonce for d in sub.delivered] == [1]
    assert json.loads(sub.delivered[0].data)["amount"] == 12.5
    assert sub.stream_end == StreamEnd(reason="cancelled", status="CANCELLED", message="cancelled by the client")


async def test_expectation_calls(local: EventStoreClient, mock: MockEventStore) -> None:
    first = mock.expect_append(aggregate_id={"$regex": "^a"}, at_least=0, name="a-streams")
    everything = mock.expect_append(at_least=0)
    await create_order(local, "a1")
    await create_order(local, "b1")
    await create_order(local, "a2")
    assert first.call_count == 2
    assert [c.aggregate_id for c in first.calls] == ["a1", "a2"]
    assert [c.seq for c in everything.calls] == [1, 2, 3]
    assert first.id != everything.id
    assert "a-streams" in repr(first) and "call_count=2" in repr(first)
    assert mock.calls[0].matched == sorted([first.id, everything.id])


# -- state ----------------------------------------------------------------------------


async def test_reset_everything(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(aggregate_id="x")
    await create_order(local, "order-1")
    mock.reset()
    assert mock.calls == []
    mock.verify()  # the expectation is gone
    assert mock.read("order-1") == []
    await create_order(local, "order-1")  # nonce 0 again: the data is gone


async def test_reset_journal_only(local: EventStoreClient, mock: MockEventStore) -> None:
    expectation = mock.expect_append(aggregate_id="order-1", times=2)
    await create_order(local)
    mock.reset(journal=True)
    assert mock.calls == [] and expectation.call_count == 0
    assert len(mock.read("order-1")) == 1
    await create_order(local, expected_aggregate_nonce=1)
    # Calls before the reset no longer count.
    assert "expected exactly 2 calls, received 1" in report_of(mock)


async def test_reset_expectations_only(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(fail_with=ConnectionError)
    mock.reset(expectations=True)
    mock.verify()
    await create_order(local)
    assert len(mock.calls) == 1 and len(mock.read("order-1")) == 1


async def test_reset_data_only(local: EventStoreClient, mock: MockEventStore) -> None:
    mock.expect_append(at_least=1)
    await create_order(local)
    mock.reset(data=True)
    assert mock.read("order-1") == []
    assert len(mock.calls) == 1
    mock.verify()
    assert (await create_order(local)).last_global_nonce == 1


async def test_seed_and_read(client: EventStoreClient, mock: MockEventStore) -> None:
    mock.seed("other", [NewEvent(event_type="X", payload={})])
    first = mock.seed("order-1", [OrderCreated("order-1", 1), OrderShipped("order-1", "T")], aggregate_type="Order")
    assert first == AppendResult(last_global_nonce=3, last_aggregate_nonce=2)
    second = mock.seed("order-1", [OrderShipped("order-1", "T2")])
    assert second == AppendResult(last_global_nonce=4, last_aggregate_nonce=3)
    mock.seed("order-1", [NewEvent("X", {"t": 1})], tenant_id="tenant-b")

    stored = mock.read("order-1")
    assert [e.aggregate_nonce for e in stored] == [1, 2, 3]
    assert [e.global_nonce for e in stored] == [2, 3, 4]
    assert stored[0].payload == OrderCreated("order-1", 1)
    assert stored[0].aggregate_type == "Order"
    assert len({e.event_id for e in stored}) == 3 and all(stored[0].event_id for e in stored)
    assert [e.tenant_id for e in mock.read("order-1", tenant_id="tenant-b")] == ["tenant-b"]
    assert mock.read("nothing") == []

    # Seeding is not a call: no journal entry, no expectation counted.
    assert mock.calls == []
    mock.expect_append(never=True)
    mock.seed("order-2", [OrderCreated("order-2", 2)])
    mock.verify()

    page = await client.read_stream("order-1")
    assert [e.payload for e in page.events] == [e.payload for e in stored]
    # Appends continue from the seeded head.
    with pytest.raises(ConcurrencyError) as excinfo:
        await client.append_events(
            aggregate_id="order-1", aggregate_type="Order", events=[OrderShipped("order-1", "T3")]
        )
    assert excinfo.value.actual_last_aggregate_nonce == 3
    mock.reset(expectations=True)
    result = await client.append_events(
        aggregate_id="order-1",
        aggregate_type="Order",
        expected_aggregate_nonce=3,
        events=[OrderShipped("order-1", "T3")],
    )
    assert result == AppendResult(last_global_nonce=7, last_aggregate_nonce=4)


def test_seed_rejects_non_events(mock: MockEventStore) -> None:
    with pytest.raises(ValidationError, match=r"events\[0\]"):
        mock.seed("x", [object()])


async def test_close_then_use(mock: MockEventStore) -> None:
    in_process = EventStoreClient(endpoint="mock", store=mock, request_timeout=5)
    network = EventStoreClient(endpoint=mock.endpoint, request_timeout=5, connection_timeout=2)
    await create_order(in_process)
    mock.close()
    mock.close()  # idempotent
    assert mock.closed
    for use in (
        lambda: mock.expect_append(),
        lambda: mock.verify(),
        lambda: mock.calls,
        lambda: mock.seed("x", []),
        lambda: mock.read("x"),
        lambda: mock.reset(),
        lambda: EventStoreClient(endpoint="mock", store=mock),
    ):
        with pytest.raises(RuntimeError, match="this MockEventStore is closed"):
            use()
    with pytest.raises(ConnectionError):
        await create_order(in_process, "after")
    with pytest.raises(ConnectionError):
        await network.read_stream("x")


def test_context_manager_verifies_on_exit() -> None:
    with pytest.raises(AssertionError, match="expected exactly 1 call, received 0"), MockEventStore() as m:
        m.expect_append(aggregate_id="never-called")
    assert m.closed

    with MockEventStore() as ok:
        ok.expect_append(never=True)
    assert ok.closed

    # An error in the block wins over verification.
    with pytest.raises(KeyError), MockEventStore() as failing:
        failing.expect_append()
        raise KeyError("boom")
    assert failing.closed


# -- bad expectation input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda m: m.expect_append(events=[{"event_type": "X", "amount": 10}]),
            r"events\[0\]: unknown event field 'amount'",
        ),
        (lambda m: m.expect_append(events=[object()]), r"events\[0\]: expected an @event instance.*got object"),
        (lambda m: m.expect_append(events={"event_type": "X"}), r"events must be a list"),
        (lambda m: m.expect_append(fail_with=object()), r"fail_with must be .*got <object object"),
        (lambda m: m.expect_append(fail_with=builtins.ValueError), r"fail_with must be"),
        (lambda m: m.expect_append(fail_with=("NOPE", "x")), r"respond\.status\.code.*NOPE.*not a gRPC status code"),
        (lambda m: m.expect_append({"aggregateid": "x"}), r"unknown request field\(s\) \['aggregateid'\]"),
        (lambda m: m.expect_read_stream({"events": []}), r"unknown request field\(s\) \['events'\]"),
        (lambda m: m.expect_subscribe({"aggregate_id": "x"}), r"unknown request field\(s\) \['aggregate_id'\]"),
        (lambda m: m.expect_append(aggregate_id={"$regex": "("}), r"invalid regex"),
        (lambda m: m.expect_append(aggregate_id={"$nope": 1}), r"unknown operator \$nope"),
        (lambda m: m.expect_append(never=True, times=2), r"never=True cannot be combined"),
        (lambda m: m.expect_append(at_least=3, at_most=1), r"at_least \(3\) is more than at_most \(1\)"),
        (lambda m: m.expect_append(times=1, at_least=1), r"times cannot be combined"),
        (lambda m: m.expect_append(nth=0), r"nth: calls are counted from 1"),
        (lambda m: m.expect_append(times=-1), r"times"),
        (lambda m: m.expect_append(aggregate_id=object()), r"expect_append: a value cannot be matched: .*object"),
        (lambda m: m.expect_read_stream(max_count=float("nan")), r"expect_read_stream: a value cannot be matched"),
        (
            lambda m: m.expect_append(
                fail_with=ConnectionError, returns={"last_global_nonce": 1, "last_aggregate_nonce": 1}
            ),
            r"at most one of",
        ),
        (
            lambda m: m.expect_append(events=[OrderCreated("o", float("nan"))]),
            r"events\[0\]: cannot encode OrderCreated",
        ),
    ],
)
def test_bad_expectations_raise_validation_error(mock: MockEventStore, call: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call(mock)
    # Nothing half-mounted.
    mock.verify()


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValidationError, match="listen"):
        MockEventStore(listen="not an address")


async def test_journal_keeps_credentials_only_when_asked() -> None:
    mock = MockEventStore(journal_credentials=True)
    client = EventStoreClient(endpoint="mock", store=mock, credentials=("u", "p"))
    await create_order(client, "a")
    assert mock.calls[0].metadata["authorization"] == "Basic dTpw"
    await client.close()
    mock.close()


async def test_credentials_are_required_in_process_and_over_the_network() -> None:
    mock = MockEventStore(credentials={"username": "admin", "password": "s3cret"})
    try:
        for endpoint, store in (("mock", mock), (mock.endpoint, None)):
            anonymous = EventStoreClient(endpoint=endpoint, store=store)
            wrong = EventStoreClient(endpoint=endpoint, store=store, credentials=("admin", "nope"))
            right = EventStoreClient(endpoint=endpoint, store=store, credentials=("admin", "s3cret"))
            for refused in (anonymous, wrong):
                with pytest.raises(AuthenticationError):
                    await refused.read_stream(aggregate_id="order-a")
                await refused.close()
            await create_order(right, f"by-{len(endpoint)}")
            await right.close()
        assert all(c.metadata.get("authorization") in (None, "Basic [redacted]") for c in mock.calls)
    finally:
        mock.close()


def test_mock_credentials_must_be_complete() -> None:
    with pytest.raises(ValidationError, match="password"):
        MockEventStore(credentials={"username": "admin"})
