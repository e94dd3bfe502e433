"""Edges of the client's API (issue 13, item 6): keyword-only subscription
options, a subscription of a closed client, events of unregistered types,
``payload_as``, and the asyncio-only rule (a clear error under trio)."""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass

import eventstore
import pytest
from conftest import Target, unique, within
from eventstore import (
    EventStoreClient,
    NewEvent,
    RecordedEvent,
    UnregisteredEventWarning,
    UnsupportedEventLoopError,
    ValidationError,
    event,
)
from eventstore.testing import MockEventStore

PREFIX = "tests.test_api_edges"


@event(type=f"{PREFIX}.Opened", revision=1)
@dataclass
class Opened:
    account: str
    limit: int


@event(type=f"{PREFIX}.Renamed", revision=2)
@dataclass
class Renamed:
    name: str


@dataclass
class RenamedV1:
    """Not an @event class: a shape to read old payloads with."""

    old_name: str


# -- subscribe options are keywords -----------------------------------------


async def test_subscribe_options_are_keyword_only(client: EventStoreClient, mock: MockEventStore) -> None:
    with pytest.raises(TypeError):
        await client.subscribe("order-")  # type: ignore[misc]
    assert mock.subscriptions == [], "nothing was subscribed to the tenant 'order-'"
    sub = await client.subscribe(aggregate_id_prefix="order-", from_global_nonce=0)
    await sub.close()


# -- a subscription of a closed client ----------------------------------------


async def test_a_subscription_used_after_its_client_closed_raises(target: Target) -> None:
    client = target.client()
    sub = await client.subscribe()
    await client.close()
    with pytest.raises(eventstore.ConnectionError, match=r"client is closed"):
        await within(sub.__anext__())
    with pytest.raises(eventstore.ConnectionError, match=r"client is closed"):
        async for _ in sub:
            pass


async def test_a_subscription_waiting_when_its_client_closes_raises(target: Target) -> None:
    client = target.client()
    sub = await client.subscribe()
    waiting = asyncio.create_task(within(sub.__anext__()))
    await asyncio.sleep(0.05)
    await client.close()
    with pytest.raises(eventstore.ConnectionError, match=r"client is closed"):
        await waiting


async def test_a_subscription_closed_first_still_ends_quietly(target: Target) -> None:
    client = target.client()
    sub = await client.subscribe()
    await sub.close()
    await client.close()
    assert await within(anext(sub, None)) is None


# -- unregistered types and revisions -----------------------------------------


async def test_an_unregistered_type_warns_once_and_says_it_was_not_decoded(
    client: EventStoreClient,
) -> None:
    unknown = f"{PREFIX}.Unknown.{unique('t')}"
    await client.append_events(
        aggregate_id="a-1",
        aggregate_type="Account",
        events=[NewEvent(unknown, {"x": 1}), NewEvent(unknown, {"x": 2}), Opened("acc", 10)],
    )
    first, second, opened = (await client.read_stream("a-1")).events
    with pytest.warns(UnregisteredEventWarning, match=rf"{unknown}' revision 1 is not registered") as caught:
        assert first.payload == {"x": 1}
    assert caught[0].filename == __file__, "the warning points at the line reading .payload"
    assert first.decoded is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per type and revision: no second warning
        assert second.payload == {"x": 2}
        assert opened.payload == Opened("acc", 10)
    assert opened.decoded is True
    assert issubclass(UnregisteredEventWarning, UserWarning)


async def test_an_unregistered_revision_names_the_registered_ones(client: EventStoreClient) -> None:
    await client.append_events(
        aggregate_id="a-2",
        aggregate_type="Account",
        events=[NewEvent(f"{PREFIX}.Renamed", {"old_name": "Ann"}, event_version=1)],
    )
    (old,) = (await client.read_stream("a-2")).events
    assert old.decoded is False
    with pytest.warns(UnregisteredEventWarning, match=r"registered with revision\(s\) \[2\] only"):
        assert old.payload == {"old_name": "Ann"}
    # The typed way to read it: payload_as.
    assert old.payload_as(RenamedV1) == RenamedV1("Ann")


# -- payload_as -----------------------------------------------------------------


async def test_payload_as_decodes_with_the_event_rules_and_says_when_it_does_not_fit(
    client: EventStoreClient,
) -> None:
    await client.append_events(
        aggregate_id="a-3",
        aggregate_type="Account",
        events=[Opened("acc", 10), NewEvent(f"{PREFIX}.Opened", {"account": "acc", "limit": "high"}, event_id="e-2")],
    )
    good, bad = (await client.read_stream("a-3")).events
    opened: Opened = good.payload_as(Opened)
    assert opened == Opened("acc", 10)
    assert good.payload_as(dict) == {"account": "acc", "limit": 10}
    with pytest.raises(ValidationError, match=r"e-2.*Opened\.limit: expected an integer, got 'high'"):
        bad.payload_as(Opened)
    with pytest.raises(ValidationError, match=rf"not a Renamed: Renamed is event type '{PREFIX}.Renamed'"):
        good.payload_as(Renamed)
    with pytest.raises(ValidationError, match=r"RenamedV1.*old_name|cannot build RenamedV1"):
        good.payload_as(RenamedV1)


async def test_payload_as_refuses_a_payload_that_is_not_json(client: EventStoreClient) -> None:
    await client.append_events(
        aggregate_id="a-4",
        aggregate_type="Account",
        events=[NewEvent(f"{PREFIX}.Blob", b"\x00\x01", content_type="application/octet-stream")],
    )
    (blob,) = (await client.read_stream("a-4")).events
    with pytest.raises(ValidationError, match=r"content type is 'application/octet-stream', not JSON"):
        blob.payload_as(RenamedV1)
    assert isinstance(blob, RecordedEvent)


# -- asyncio only -----------------------------------------------------------------


def test_calls_under_trio_fail_with_a_clear_error(mock: MockEventStore) -> None:
    trio = pytest.importorskip("trio")
    client = EventStoreClient(endpoint="mock", store=mock)
    errors: list[BaseException] = []

    async def main() -> None:
        for call in (
            lambda: client.read_stream("a"),
            lambda: client.append_events(aggregate_id="a", aggregate_type="A", events=[NewEvent("E")]),
            lambda: client.read_all(),
            lambda: client.subscribe(),
            lambda: client.server_info(),
        ):
            try:
                await call()
            except Exception as e:
                errors.append(e)
        await client.close()  # closing needs no loop

    trio.run(main)
    assert len(errors) == 5
    for error in errors:
        assert isinstance(error, UnsupportedEventLoopError), repr(error)
        assert isinstance(error, RuntimeError) and isinstance(error, eventstore.EventStoreError)
        assert "runs under trio" in str(error) and "asyncio-only" in str(error)
    assert "read_stream needs a running asyncio event loop" in str(errors[0])
    assert mock.calls == [], "nothing reached the store"


def test_anyio_with_the_trio_backend_fails_with_the_same_error(mock: MockEventStore) -> None:
    pytest.importorskip("trio")
    anyio = pytest.importorskip("anyio")
    client = EventStoreClient(endpoint="mock", store=mock)

    async def main() -> None:
        await client.read_stream("a")

    with pytest.raises(UnsupportedEventLoopError, match=r"asyncio-only"):
        anyio.run(main, backend="trio")
    # The asyncio backend works.
    anyio.run(main, backend="asyncio")
