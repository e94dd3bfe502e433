"""Every error the store can answer maps to its exception class, keeps the
server's message word for word and carries the gRPC code's name in ``.code``.

Against the mocks, "the server's message" is checked exactly against the
mock's journal (what the store answered); against the real server, against
the message the semantics prescribe.
"""

from __future__ import annotations

import builtins
import time
import uuid
from dataclasses import dataclass

import eventstore
import pytest
from conftest import Target, free_port, unique, within
from eventstore import (
    AuthenticationError,
    AuthorizationError,
    ConcurrencyError,
    DuplicateEventError,
    EventStoreClient,
    EventStoreError,
    NewEvent,
    TimeoutError,
    ValidationError,
    event,
)
from eventstore.testing import MockEventStore


@event(type="tests.errors.Thing", revision=1)
@dataclass
class Thing:
    n: int


def answered(target: Target) -> tuple[str, str] | None:
    """The (status, message) of the mock's last call, or None for the real server."""
    if target.mock is None:
        return None
    last = target.mock.calls[-1]
    return last.status, last.message


def assert_server_error(target: Target, error: EventStoreError, code: str) -> None:
    assert error.code == code
    journal = answered(target)
    if journal is not None:
        assert journal == (code, str(error)), "the server's message is kept word for word"


# -- ConcurrencyError ----------------------------------------------------------


async def test_concurrency_error(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    first = await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=[Thing(1), Thing(2)])
    with pytest.raises(ConcurrencyError) as caught:
        await client.append_events(
            aggregate_id=aggregate, aggregate_type="Order", expected_aggregate_nonce=1, events=[Thing(3)]
        )
    e = caught.value
    assert isinstance(e, EventStoreError)
    assert_server_error(target, e, "ABORTED")
    assert e.expected_aggregate_nonce == 1 == e.expected, "from the request"
    assert e.actual_last_aggregate_nonce == 2 == e.actual, "from the status detail"
    assert e.actual_last_global_nonce == first.last_global_nonce
    assert (e.tenant_id, e.aggregate_id) == (target.tenant, aggregate)
    assert aggregate in str(e)


async def test_concurrency_error_new_stream_expected_but_exists(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=[Thing(1)])
    with pytest.raises(ConcurrencyError) as caught:
        await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=[Thing(2)])
    assert (caught.value.expected_aggregate_nonce, caught.value.actual_last_aggregate_nonce) == (0, 1)
    # Expecting a head on a stream that does not exist.
    missing = unique("order")
    with pytest.raises(ConcurrencyError) as caught:
        await client.append_events(
            aggregate_id=missing, aggregate_type="Order", expected_aggregate_nonce=5, events=[Thing(1)]
        )
    e = caught.value
    assert (e.expected_aggregate_nonce, e.actual_last_aggregate_nonce, e.actual_last_global_nonce) == (5, 0, 0)
    assert e.aggregate_id == missing


async def test_injected_concurrency_error_carries_the_detail(mock: MockEventStore) -> None:
    mock.expect_append(
        fail_with=ConcurrencyError(
            "ignored", tenant_id="t-9", aggregate_id="agg-9", actual_last_aggregate_nonce=7, actual_last_global_nonce=99
        )
    )
    client = EventStoreClient(endpoint="mock", store=mock)
    with pytest.raises(ConcurrencyError) as caught:
        await client.append_events(
            aggregate_id="agg-9", aggregate_type="A", expected_aggregate_nonce=3, events=[Thing(1)]
        )
    e = caught.value
    assert (e.tenant_id, e.aggregate_id) == ("t-9", "agg-9")
    assert (e.expected_aggregate_nonce, e.actual_last_aggregate_nonce, e.actual_last_global_nonce) == (3, 7, 99)
    assert e.code == "ABORTED" and str(e) == mock.calls[-1].message
    mock.verify()


# -- ConnectionError -------------------------------------------------------------


async def test_connection_error_when_nothing_listens() -> None:
    client = EventStoreClient(endpoint=f"127.0.0.1:{free_port()}", connection_timeout=2.0)
    for call in (
        lambda: client.append_events(aggregate_id="a", aggregate_type="A", events=[Thing(1)]),
        lambda: client.read_stream("a"),
    ):
        with pytest.raises(eventstore.ConnectionError) as caught:
            await within(call())
        assert isinstance(caught.value, builtins.ConnectionError)
        assert isinstance(caught.value, EventStoreError)
        assert caught.value.code == "UNAVAILABLE"
        assert "refused" in str(caught.value).lower() or "connect" in str(caught.value).lower()
    # `except ConnectionError` with the builtin name catches it too.
    try:
        await within(client.read_stream("a"))
    except ConnectionError as e:
        assert type(e) is eventstore.ConnectionError


async def test_connection_error_injected_keeps_the_message(mock: MockEventStore) -> None:
    mock.expect_read_stream(fail_with=("UNAVAILABLE", "store is restarting"))
    client = EventStoreClient(endpoint=mock.endpoint)
    with pytest.raises(eventstore.ConnectionError, match=r"^store is restarting$") as caught:
        await client.read_stream("a")
    assert caught.value.code == "UNAVAILABLE"


# -- ValidationError -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"aggregate_type": ""}, "aggregate_type is required"),
        ({"aggregate_id": ""}, "aggregate_id is required"),
        ({"events": []}, "events must not be empty"),
    ],
    ids=["empty-aggregate-type", "empty-aggregate-id", "no-events"],
)
async def test_validation_error_from_the_server(target: Target, fields: dict, message: str) -> None:
    client = target.client()
    request = {"aggregate_id": unique("order"), "aggregate_type": "Order", "events": [Thing(1)], **fields}
    with pytest.raises(ValidationError) as caught:
        await client.append_events(request)
    e = caught.value
    assert isinstance(e, ValueError) and isinstance(e, EventStoreError)
    assert_server_error(target, e, "INVALID_ARGUMENT")
    assert str(e).startswith(message)


async def test_validation_error_too_many_events() -> None:
    with MockEventStore(max_events_per_batch=2) as mock:
        client = EventStoreClient(endpoint="mock", store=mock)
        with pytest.raises(ValidationError) as caught:
            await client.append_events(aggregate_id="a", aggregate_type="A", events=[Thing(i) for i in range(3)])
        assert caught.value.code == "INVALID_ARGUMENT"
        assert str(caught.value) == mock.calls[-1].message
        assert "2" in str(caught.value) and "3" in str(caught.value)


async def test_read_validation_error(target: Target) -> None:
    with pytest.raises(ValidationError) as caught:
        await target.client().read_stream("")
    assert_server_error(target, caught.value, "INVALID_ARGUMENT")
    assert "aggregate_id" in str(caught.value)


# -- TimeoutError ----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["in-process", "network"])
async def test_timeout_error(mock: MockEventStore, transport: str) -> None:
    mock.expect_append(delay=1.0)
    endpoint = "mock" if transport == "in-process" else mock.endpoint
    client = EventStoreClient(endpoint=endpoint, store=mock if transport == "in-process" else None, request_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(eventstore.TimeoutError) as caught:
        await within(client.append_events(aggregate_id="slow", aggregate_type="A", events=[Thing(1)]))
    elapsed = time.monotonic() - started
    assert isinstance(caught.value, builtins.TimeoutError)
    assert isinstance(caught.value, EventStoreError)
    assert caught.value.code == "DEADLINE_EXCEEDED"
    assert "timed out" in str(caught.value)
    assert 0.15 < elapsed < 0.9, elapsed


async def test_server_deadline_exceeded_is_a_timeout(mock: MockEventStore) -> None:
    mock.expect_read_stream(fail_with=("DEADLINE_EXCEEDED", "took too long on the server"))
    client = EventStoreClient(endpoint="mock", store=mock)
    with pytest.raises(TimeoutError, match=r"^took too long on the server$") as caught:
        await client.read_stream("a")
    assert caught.value.code == "DEADLINE_EXCEEDED"


# -- AuthenticationError ------------------------------------------------------------


async def test_empty_tenant_is_unauthenticated(target: Target) -> None:
    client = target.client()
    with pytest.raises(AuthenticationError) as caught:
        await client.append_events(
            tenant_id="", aggregate_id=unique("order"), aggregate_type="Order", events=[Thing(1)]
        )
    assert_server_error(target, caught.value, "UNAUTHENTICATED")
    assert str(caught.value) == "tenant_id is required"
    with pytest.raises(AuthenticationError) as caught:
        await client.read_stream("a", tenant_id="")
    assert_server_error(target, caught.value, "UNAUTHENTICATED")
    subscription = await client.subscribe(tenant_id="")
    with pytest.raises(AuthenticationError, match="tenant_id is required"):
        await within(subscription.__anext__())


def test_empty_tenant_for_the_client_is_rejected_client_side() -> None:
    with pytest.raises(ValidationError, match="tenant_id") as caught:
        EventStoreClient(tenant_id="")
    assert caught.value.code is None, "raised by the client, not the server"


async def test_authentication_error_injected(mock: MockEventStore) -> None:
    mock.expect_append(fail_with=AuthenticationError("bad credentials for user 'bob'"))
    client = EventStoreClient(endpoint=mock.endpoint, credentials={"username": "bob", "password": "x"})
    with pytest.raises(AuthenticationError, match=r"^bad credentials for user 'bob'$") as caught:
        await client.append_events(aggregate_id="a", aggregate_type="A", events=[Thing(1)])
    assert caught.value.code == "UNAUTHENTICATED"
    assert mock.calls[-1].metadata.get("authorization", "").startswith("Basic ")


# -- AuthorizationError -------------------------------------------------------------


async def test_authorization_error(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    # The SDK has no way to give an event another tenant than the request's
    # (the store's PERMISSION_DENIED case): an event dict with tenant_id is refused.
    with pytest.raises(ValidationError, match="tenant_id"):
        await client.append_events(
            aggregate_id="a", aggregate_type="A", events=[{"event_type": "x", "tenant_id": "other"}]
        )
    mock.expect_append(fail_with=AuthorizationError("tenant 'default' may not write to 'other'"))
    with pytest.raises(AuthorizationError) as caught:
        await client.append_events(aggregate_id="a", aggregate_type="A", events=[Thing(1)])
    e = caught.value
    assert isinstance(e, EventStoreError) and e.code == "PERMISSION_DENIED"
    assert str(e) == "tenant 'default' may not write to 'other'" == mock.calls[-1].message
    mock.verify()


# -- DuplicateEventError ------------------------------------------------------------


async def test_duplicate_event_id(target: Target) -> None:
    client = target.client()
    event_id = str(uuid.uuid4())
    await client.append_events(
        aggregate_id=unique("order"), aggregate_type="Order", events=[NewEvent("x", {}, event_id=event_id)]
    )
    with pytest.raises(DuplicateEventError) as caught:
        await client.append_events(
            aggregate_id=unique("order"), aggregate_type="Order", events=[NewEvent("x", {}, event_id=event_id)]
        )
    assert_server_error(target, caught.value, "ALREADY_EXISTS")
    assert event_id in str(caught.value)
    other = str(uuid.uuid4())
    with pytest.raises(DuplicateEventError) as caught:
        await client.append_events(
            aggregate_id=unique("order"),
            aggregate_type="Order",
            events=[NewEvent("x", {}, event_id=other), NewEvent("x", {}, event_id=other)],
        )
    assert_server_error(target, caught.value, "ALREADY_EXISTS")
    assert "twice" in str(caught.value)


async def test_idempotency_key_reused_for_another_batch(target: Target) -> None:
    client = target.client()
    aggregate, key = unique("order"), unique("key")
    first = await client.append_events(
        aggregate_id=aggregate, aggregate_type="Order", events=[Thing(1)], idempotency_key=key
    )
    with pytest.raises(DuplicateEventError) as caught:
        await client.append_events(
            aggregate_id=aggregate,
            aggregate_type="Order",
            expected_aggregate_nonce=1,
            events=[Thing(2)],
            idempotency_key=key,
        )
    assert_server_error(target, caught.value, "ALREADY_EXISTS")
    assert first.last_aggregate_nonce == 1


# -- the mapping table ------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("ABORTED", ConcurrencyError),
        ("ALREADY_EXISTS", DuplicateEventError),
        ("INVALID_ARGUMENT", ValidationError),
        ("RESOURCE_EXHAUSTED", ValidationError),
        ("OUT_OF_RANGE", ValidationError),
        ("UNAUTHENTICATED", AuthenticationError),
        ("PERMISSION_DENIED", AuthorizationError),
        ("DEADLINE_EXCEEDED", TimeoutError),
        ("UNAVAILABLE", eventstore.ConnectionError),
        ("DATA_LOSS", eventstore.UndecodableEventError),
        ("INTERNAL", EventStoreError),
        ("FAILED_PRECONDITION", EventStoreError),
        ("NOT_FOUND", EventStoreError),
    ],
)
async def test_status_code_mapping(mock: MockEventStore, code: str, cls: type[EventStoreError]) -> None:
    message = f"the store says {code.lower()} (field 'x', value 42)"
    mock.expect_read_stream(fail_with=(code, message))
    client = EventStoreClient(endpoint="mock", store=mock)
    with pytest.raises(EventStoreError) as caught:
        await client.read_stream("a")
    assert type(caught.value) is cls
    assert caught.value.code == code
    assert str(caught.value) == message == caught.value.message
