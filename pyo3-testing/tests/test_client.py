"""EventStoreClient: append, read, subscribe, lifecycle, transports.

Most tests run against every ``target`` (conftest): the mock in process
(``endpoint="mock", store=mock``), the mock over the network
(``endpoint=mock.endpoint``) and the real server; each gets a fresh tenant.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
import uuid
from dataclasses import dataclass

import eventstore
import pytest
from conftest import Target, expect_unregistered, free_port, unique, within
from eventstore import (
    DEFAULT_TENANT,
    AppendRequest,
    AppendResult,
    EventRegistry,
    EventStoreClient,
    MessageContext,
    NewEvent,
    RecordedEvent,
    StreamPage,
    Subscription,
    event,
)
from eventstore.testing import MockEventStore


@event(type="tests.client.ItemAdded", revision=1)
@dataclass
class ItemAdded:
    sku: str
    quantity: int


@event(type="tests.client.ItemAdded", revision=2)
@dataclass
class ItemAddedV2:
    sku: str
    quantity: int
    note: str = ""


def items(n: int, start: int = 0) -> list[ItemAdded]:
    return [ItemAdded(sku=f"sku-{i}", quantity=i) for i in range(start, start + n)]


# A client built at import time, outside any event loop, of a mock also
# built at import time: it must work later, inside the tests' loops.
_IMPORT_MOCK = MockEventStore()
_IMPORT_CLIENT = EventStoreClient(endpoint=_IMPORT_MOCK.endpoint)


@pytest.fixture(scope="module", autouse=True)
def _close_import_mock():
    yield
    _IMPORT_CLIENT._native.close()
    _IMPORT_MOCK.close()


# -- append ------------------------------------------------------------------


async def test_append_keyword_form(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    result = await client.append_events(
        aggregate_id=aggregate, aggregate_type="Order", expected_aggregate_nonce=0, events=items(3)
    )
    assert isinstance(result, AppendResult)
    assert result.last_aggregate_nonce == 3
    page = await client.read_stream(aggregate)
    assert [e.aggregate_nonce for e in page.events] == [1, 2, 3]
    assert page.events[-1].global_nonce == result.last_global_nonce
    assert [e.payload for e in page.events] == items(3)
    # Next append continues from the head: nonces expected+1...
    result = await client.append_events(
        aggregate_id=aggregate, aggregate_type="Order", expected_aggregate_nonce=3, events=items(2, 3)
    )
    assert result.last_aggregate_nonce == 5
    page = await client.read_stream(aggregate, from_aggregate_nonce=4)
    assert [(e.aggregate_nonce, e.payload) for e in page.events] == [(4, items(1, 3)[0]), (5, items(1, 4)[0])]


async def test_append_request_object_and_dict_forms(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    request = AppendRequest(aggregate_id=aggregate, aggregate_type="Order", events=items(2))
    assert (await client.append_events(request)).last_aggregate_nonce == 2
    as_dict = {
        "aggregate_id": aggregate,
        "aggregate_type": "Order",
        "expected_aggregate_nonce": 2,
        "events": items(1, 2),
    }
    assert (await client.append_events(as_dict)).last_aggregate_nonce == 3
    # Keywords given with a request override it.
    other = unique("order")
    assert (await client.append_events(request, aggregate_id=other)).last_aggregate_nonce == 2
    assert len((await client.read_stream(other)).events) == 2
    assert len((await client.read_stream(aggregate)).events) == 3


async def test_append_request_with_tenant(target: Target) -> None:
    client = target.client()
    aggregate, tenant = unique("order"), unique("tenant")
    await client.append_events(
        AppendRequest(aggregate_id=aggregate, aggregate_type="Order", events=items(1), tenant_id=tenant)
    )
    assert (await client.read_stream(aggregate)).events == [], "not in the client's tenant"
    (recorded,) = (await client.read_stream(aggregate, tenant_id=tenant)).events
    assert recorded.tenant_id == tenant


async def test_event_ids_are_uuidv7_and_unique(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(20))
    ids = [e.event_id for e in (await client.read_stream(aggregate)).events]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 for u in parsed), ids
    assert all(i[14] == "7" for i in ids), "version nibble 7"
    assert all(u.variant == uuid.RFC_4122 for u in parsed)
    assert len(set(ids)) == 20
    now_ms = time.time() * 1000
    assert all(abs((u.int >> 80) - now_ms) < 60_000 for u in parsed), "v7 ids carry the current time"


async def test_explicit_event_id_is_kept(target: Target) -> None:
    client = target.client()
    aggregate, event_id = unique("order"), str(uuid.uuid4())
    await client.append_events(
        aggregate_id=aggregate,
        aggregate_type="Order",
        events=[NewEvent("tests.client.Raw", {"a": 1}, event_id=event_id)],
    )
    (recorded,) = (await client.read_stream(aggregate)).events
    assert recorded.event_id == event_id


async def test_timestamps(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    before = int(time.time() * 1000)
    await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(1))
    after = int(time.time() * 1000)
    (recorded,) = (await client.read_stream(aggregate)).events
    assert before <= recorded.timestamp_unix_ms <= after
    assert before - 1000 <= recorded.recorded_time_unix_ms <= after + 1000
    assert recorded.timestamp == dt.datetime.fromtimestamp(recorded.timestamp_unix_ms / 1000, tz=dt.timezone.utc)
    assert recorded.timestamp.tzinfo is dt.timezone.utc
    assert recorded.recorded_at.tzinfo is dt.timezone.utc
    # A NewEvent may carry its own timestamp.
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    await client.append_events(
        aggregate_id=aggregate,
        aggregate_type="Order",
        expected_aggregate_nonce=1,
        events=[NewEvent("tests.client.Raw", {"a": 1}, timestamp=when)],
    )
    recorded = (await client.read_stream(aggregate, from_aggregate_nonce=2)).events[0]
    assert recorded.timestamp == when


async def test_ids_from_message_context_and_overrides(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    with MessageContext.scope(correlation_id="corr-ctx", causation_id="cause-ctx", actor_id="actor-ctx"):
        await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(1))
        # Explicit arguments win over the context, ids not given keep the context's.
        await client.append_events(
            aggregate_id=aggregate,
            aggregate_type="Order",
            expected_aggregate_nonce=1,
            events=items(1),
            correlation_id="corr-arg",
            actor_id="actor-arg",
        )
        # A NewEvent's own ids win over both.
        await client.append_events(
            aggregate_id=aggregate,
            aggregate_type="Order",
            expected_aggregate_nonce=2,
            events=[NewEvent("tests.client.Raw", {}, correlation_id="corr-event")],
            correlation_id="corr-arg",
        )
    await client.append_events(
        aggregate_id=aggregate, aggregate_type="Order", expected_aggregate_nonce=3, events=items(1)
    )
    ids = [(e.correlation_id, e.causation_id, e.actor_id) for e in (await client.read_stream(aggregate)).events]
    assert ids == [
        ("corr-ctx", "cause-ctx", "actor-ctx"),
        ("corr-arg", "cause-ctx", "actor-arg"),
        ("corr-event", "cause-ctx", "actor-ctx"),
        ("", "", ""),
    ]


async def test_idempotent_retry_returns_the_original_result(target: Target) -> None:
    """The same append retried with its idempotency key (e.g. after a lost
    answer) gets the original result and writes nothing."""
    client = target.client()
    aggregate, key = unique("order"), unique("key")
    request = AppendRequest(aggregate_id=aggregate, aggregate_type="Order", events=items(2), idempotency_key=key)
    first = await client.append_events(request)
    again = await client.append_events(request)
    assert again == first
    events = (await client.read_stream(aggregate)).events
    assert len(events) == 2
    assert all(uuid.UUID(e.event_id).version == 7 for e in events)
    # Another key is another append.
    other = await client.append_events(request, idempotency_key=unique("key"), expected_aggregate_nonce=2)
    assert other.last_aggregate_nonce == 4


# -- read --------------------------------------------------------------------


async def test_read_stream_page_fields_forward_and_backward(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(5))

    page = await client.read_stream(aggregate, from_aggregate_nonce=1, max_count=3)
    assert isinstance(page, StreamPage)
    assert [e.aggregate_nonce for e in page.events] == [1, 2, 3]
    assert (page.is_end, page.next_from_aggregate_nonce) == (False, 4)
    page = await client.read_stream(aggregate, from_aggregate_nonce=4, max_count=3)
    assert [e.aggregate_nonce for e in page] == [4, 5]
    assert (len(page), page.is_end, page.next_from_aggregate_nonce) == (2, True, 6)

    page = await client.read_stream(aggregate, from_aggregate_nonce=0, forward=False, max_count=2)
    assert page.events == [], "backward from 0 is before every event"
    assert (page.is_end, page.next_from_aggregate_nonce) == (True, 0)
    head = 2**63 - 1  # any position at or past the head reads from the head
    page = await client.read_stream(aggregate, from_aggregate_nonce=head, forward=False, max_count=2)
    assert [e.aggregate_nonce for e in page.events] == [5, 4], "backward from 2^63-1 starts at the head"
    assert (page.is_end, page.next_from_aggregate_nonce) == (False, 3)
    page = await client.read_stream(aggregate, from_aggregate_nonce=3, forward=False, max_count=5)
    assert [e.aggregate_nonce for e in page.events] == [3, 2, 1]
    assert page.is_end

    page = await client.read_stream(aggregate, from_aggregate_nonce=head, forward=False)
    assert [e.aggregate_nonce for e in page.events] == [5, 4, 3, 2, 1], "max_count 0 reads to the end"

    empty = await client.read_stream(unique("missing"))
    assert empty.events == [] and empty.is_end


async def test_paging_visits_every_event_once(target: Target) -> None:
    client = target.client()
    aggregate = unique("big")
    await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(250))

    pages = [p async for p in client.read_stream_pages(aggregate, page_size=40)]
    assert [len(p.events) for p in pages] == [40] * 6 + [10]
    assert [e.aggregate_nonce for p in pages for e in p.events] == list(range(1, 251))
    assert pages[-1].is_end and not any(p.is_end for p in pages[:-1])

    backward = [p async for p in client.read_stream_pages(aggregate, forward=False, page_size=40)]
    assert [e.aggregate_nonce for p in backward for e in p.events] == list(range(250, 0, -1))

    events = [e async for e in client.read_stream_events(aggregate, page_size=40)]
    assert [e.aggregate_nonce for e in events] == list(range(1, 251))
    assert [e.payload for e in events] == items(250)
    assert len({e.event_id for e in events}) == 250

    back_events = [e async for e in client.read_stream_events(aggregate, forward=False, page_size=40)]
    assert [e.aggregate_nonce for e in back_events] == list(range(250, 0, -1))

    tail = [
        e.aggregate_nonce async for e in client.read_stream_events(aggregate, from_aggregate_nonce=201, page_size=40)
    ]
    assert tail == list(range(201, 251))

    assert [p async for p in client.read_stream_pages(unique("missing"), page_size=40)] == []


async def test_recorded_event_metadata_is_complete(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    payload = {"answer": 42}
    with MessageContext.scope(correlation_id="corr-1", causation_id="cause-1", actor_id="actor-1"):
        result = await client.append_events(
            aggregate_id=aggregate,
            aggregate_type="Order",
            events=[
                NewEvent(
                    "tests.client.Everything",
                    payload,
                    event_version=3,
                    content_schema="schema://everything/3",
                    headers={"source": "tests", "trace": "abc"},
                )
            ],
        )
    (e,) = (await client.read_stream(aggregate)).events
    assert isinstance(e, RecordedEvent)
    assert uuid.UUID(e.event_id).version == 7
    assert e.event_type == "tests.client.Everything"
    assert e.event_version == 3 == e.revision
    assert e.aggregate_id == aggregate
    assert e.aggregate_type == "Order"
    assert e.aggregate_nonce == 1
    assert e.global_nonce == result.last_global_nonce >= 1
    assert e.tenant_id == target.tenant
    assert e.content_type == "application/json"
    assert e.content_schema == "schema://everything/3"
    assert (e.correlation_id, e.causation_id, e.actor_id) == ("corr-1", "cause-1", "actor-1")
    assert e.timestamp_unix_ms > 0 and e.recorded_time_unix_ms > 0
    assert e.payload_sha256 == hashlib.sha256(e.data).digest()
    assert e.headers == {"source": "tests", "trace": "abc"}
    with expect_unregistered("tests.client.Everything"):
        assert e.payload == payload
    assert "tests.client.Everything" in repr(e)
    assert e == e and hash(e) == hash(e)


async def test_payload_decoding(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    await client.append_events(
        aggregate_id=aggregate,
        aggregate_type="Order",
        events=[
            ItemAdded("a", 1),
            ItemAddedV2("b", 2, note="v2"),
            NewEvent("tests.client.Unregistered", {"x": [1, 2]}),
            NewEvent("tests.client.Binary", b"\x00\xffraw", content_type="application/octet-stream"),
            NewEvent("tests.client.ListJson", [1, "two"]),
            NewEvent("tests.client.BadJson", b"{not json", content_type="application/json"),
        ],
    )
    events = (await client.read_stream(aggregate)).events
    assert events[0].payload == ItemAdded("a", 1) and type(events[0].payload) is ItemAdded
    assert events[1].payload == ItemAddedV2("b", 2, "v2"), "the revision picks the class"
    with expect_unregistered(*(f"tests.client.{name}" for name in ("Unregistered", "Binary", "ListJson", "BadJson"))):
        assert events[2].payload == {"x": [1, 2]}
        assert events[3].payload == b"\x00\xffraw" and events[3].content_type == "application/octet-stream"
        assert events[4].payload == [1, "two"]
        assert events[5].payload == b"{not json", "undecodable JSON stays bytes"
    assert events[0].data == b'{"sku":"a","quantity":1}'
    assert all(isinstance(e.data, bytes) for e in events)
    assert events[2].data == b'{"x":[1,2]}'
    # A client with its own (empty) registry sees registered types as plain JSON.
    bare = target.client(registry=EventRegistry())
    first = (await bare.read_stream(aggregate, max_count=1)).events[0]
    with expect_unregistered("tests.client.ItemAdded"):
        assert first.payload == {"sku": "a", "quantity": 1}


# -- subscribe ---------------------------------------------------------------


async def test_subscribe_history_then_live_with_ack(target: Target) -> None:
    client = target.client()
    first = unique("order")
    await client.append_events(aggregate_id=first, aggregate_type="Order", events=items(3))
    subscription = await client.subscribe()
    assert isinstance(subscription, Subscription)
    received: list[RecordedEvent] = []

    async def consume() -> None:
        async for e in subscription:
            received.append(e)
            await subscription.ack(e.global_nonce)
            if len(received) == 3:
                await client.append_events(
                    aggregate_id=first, aggregate_type="Order", expected_aggregate_nonce=3, events=items(2, 3)
                )
            if len(received) == 5:
                break

    await within(consume())
    assert [e.aggregate_nonce for e in received] == [1, 2, 3, 4, 5]
    assert [e.payload for e in received] == items(5)
    nonces = [e.global_nonce for e in received]
    assert nonces == sorted(nonces) and len(set(nonces)) == 5
    assert subscription.acknowledged == nonces[-1]
    assert subscription.reconnects == 0
    await subscription.close()


async def test_subscribe_prefix_and_from_global_nonce(target: Target) -> None:
    client = target.client()
    await client.append_events(aggregate_id="Order-1", aggregate_type="Order", events=items(2))
    await client.append_events(aggregate_id="Invoice-1", aggregate_type="Invoice", events=items(1))
    last = await client.append_events(aggregate_id="Order-2", aggregate_type="Order", events=items(1))

    async def take(subscription: Subscription, n: int) -> list[RecordedEvent]:
        out = []
        async for e in subscription:
            out.append(e)
            if len(out) == n:
                break
        await subscription.close()
        return out

    orders = await within(take(await client.subscribe(aggregate_id_prefix="Order-"), 3))
    assert [(e.aggregate_id, e.aggregate_nonce) for e in orders] == [("Order-1", 1), ("Order-1", 2), ("Order-2", 1)]
    tail = await within(take(await client.subscribe(from_global_nonce=last.last_global_nonce), 1))
    assert [e.global_nonce for e in tail] == [last.last_global_nonce]
    other_tenant = unique("tenant")
    await client.append_events(tenant_id=other_tenant, aggregate_id="Order-9", aggregate_type="Order", events=items(1))
    (only,) = await within(take(await client.subscribe(tenant_id=other_tenant), 1))
    assert (only.tenant_id, only.aggregate_id) == (other_tenant, "Order-9")


async def test_close_ends_iteration(target: Target) -> None:
    client = target.client()
    await client.append_events(aggregate_id=unique("order"), aggregate_type="Order", events=items(1))
    subscription = await client.subscribe()
    received = []

    async def consume() -> None:
        async for e in subscription:
            received.append(e)

    task = asyncio.create_task(consume())
    while not received:
        await within(asyncio.sleep(0.01))
    await subscription.close()
    await within(task, 5)  # the loop ended: no hang, no error
    assert len(received) == 1
    assert [e async for e in subscription] == []


async def test_subscription_async_with(target: Target) -> None:
    client = target.client()
    await client.append_events(aggregate_id=unique("order"), aggregate_type="Order", events=items(2))
    async with await client.subscribe() as subscription:
        got = []
        async for e in subscription:
            got.append(e)
            if len(got) == 2:
                break
    assert len(got) == 2
    assert await within(anext(subscription, None)) is None, "leaving `async with` closed it"


async def test_closing_the_client_fails_its_subscriptions(target: Target) -> None:
    # Not a silent end (issue 13): the iteration says why it stopped.
    client = target.client()
    subscription = await client.subscribe()
    task = asyncio.create_task(within(subscription.__anext__()))
    await asyncio.sleep(0.05)
    await client.close()
    with pytest.raises(eventstore.ConnectionError, match="client is closed"):
        await task


# -- lifecycle ---------------------------------------------------------------


async def test_async_with_client(target: Target) -> None:
    aggregate = unique("order")
    async with target.client() as client:
        assert isinstance(client, EventStoreClient) and not client.closed
        await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(1))
    assert client.closed
    with pytest.raises(eventstore.ConnectionError, match="closed"):
        await client.read_stream(aggregate)


async def test_calls_after_close_fail_with_connection_error(target: Target) -> None:
    client = target.client()
    await client.close()
    await client.close()  # idempotent
    assert client.closed
    with pytest.raises(eventstore.ConnectionError) as error:
        await client.append_events(aggregate_id="a", aggregate_type="A", events=items(1))
    assert isinstance(error.value, ConnectionError)  # the builtin too
    with pytest.raises(eventstore.ConnectionError):
        await client.read_stream("a")
    with pytest.raises(eventstore.ConnectionError):
        await client.subscribe()


def test_client_built_outside_an_event_loop(target: Target) -> None:
    """A sync function builds the client; two separate loops then use it."""
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    client = target.client()
    aggregate = unique("order")

    async def append(expected: int) -> AppendResult:
        return await client.append_events(
            aggregate_id=aggregate, aggregate_type="Order", expected_aggregate_nonce=expected, events=items(1)
        )

    assert asyncio.run(append(0)).last_aggregate_nonce == 1
    assert asyncio.run(append(1)).last_aggregate_nonce == 2


async def test_client_built_at_import_time() -> None:
    aggregate = unique("order")
    await _IMPORT_CLIENT.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(1))
    assert [e.aggregate_id for e in _IMPORT_MOCK.read(aggregate)] == [aggregate]


async def test_default_tenant(target: Target) -> None:
    assert DEFAULT_TENANT == "default"
    client = target.client(tenant_id=None)  # no tenant_id given
    assert client.tenant_id == "default"
    aggregate = unique("order")
    await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(1))
    (recorded,) = (await client.read_stream(aggregate, tenant_id="default")).events
    assert recorded.tenant_id == "default"
    assert (await client.read_stream(aggregate, tenant_id=target.tenant)).events == []
    if target.mock is not None:
        assert [e.tenant_id for e in target.mock.read(aggregate)] == ["default"]


def test_constructor_defaults_and_transport_choice(mock: MockEventStore) -> None:
    client = EventStoreClient()
    assert (client.endpoint, client.tenant_id, client.closed) == ("localhost:50051", "default", False)
    # store= with endpoint "mock" or the mock's own endpoint: in process.
    EventStoreClient(endpoint="mock", store=mock)
    EventStoreClient(endpoint=mock.endpoint, store=mock)
    with pytest.raises(eventstore.ValidationError, match="endpoint must be 'mock'"):
        EventStoreClient(endpoint="localhost:1", store=mock)
    with pytest.raises(eventstore.ValidationError, match="needs store="):
        EventStoreClient(endpoint="mock")


async def test_in_process_and_network_transports_share_the_mock(mock: MockEventStore) -> None:
    in_process = EventStoreClient(endpoint="mock", store=mock)
    network = EventStoreClient(endpoint=mock.endpoint)
    aggregate = unique("order")
    await in_process.append_events(aggregate_id=aggregate, aggregate_type="Order", events=items(1))
    await network.append_events(
        aggregate_id=aggregate, aggregate_type="Order", expected_aggregate_nonce=1, events=items(1)
    )
    assert len((await network.read_stream(aggregate)).events) == 2
    assert len((await in_process.read_stream(aggregate)).events) == 2
    assert [c.rpc for c in mock.calls] == ["append", "append", "read_stream", "read_stream"]
    await in_process.close()
    await network.close()


async def test_unreachable_endpoint_is_lazy() -> None:
    # Building a client never connects; the first call does.
    client = EventStoreClient(endpoint=f"127.0.0.1:{free_port()}", connection_timeout=2.0)
    assert not client.closed
    with pytest.raises(eventstore.ConnectionError):
        await within(client.read_stream("x"))
