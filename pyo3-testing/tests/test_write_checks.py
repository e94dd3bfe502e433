"""An ``@event`` instance whose field values could not be read back is
refused on write, before anything is sent (issue 13, item 1): the check is
the decoder's own (one set of type rules for both directions), and the error
names the event's index in the batch, its type, the field, the expected type
and the value. The mock's paths that take events (``seed``, expectations,
stubbed replies) encode through the same function, so they refuse it too."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from conftest import Target, unique
from eventstore import EventStoreClient, NewEvent, ValidationError, event
from eventstore.testing import MockEventStore

PREFIX = "tests.test_write_checks"


@pytest.fixture
def client(mock: MockEventStore) -> EventStoreClient:
    return EventStoreClient(endpoint="mock", store=mock)


@event(type=f"{PREFIX}.Tick", revision=1)
@dataclass
class Tick:
    n: int


@dataclass
class Line:
    sku: str
    quantity: int


@event(type=f"{PREFIX}.OrderPlaced", revision=2)
@dataclass
class OrderPlaced:
    order_id: str
    total: Decimal
    lines: list[Line] = field(default_factory=list)
    placed_at: dt.datetime | None = None
    note: str | None = None


async def test_a_wrong_field_type_is_refused_before_anything_is_sent(target: Target) -> None:
    client = target.client()
    stream = unique("tick")
    with pytest.raises(ValidationError) as error:
        await client.append_events(
            aggregate_id=stream,
            aggregate_type="Ticker",
            events=[Tick(1), Tick(n="abc")],  # type: ignore[arg-type]
        )
    message = str(error.value)
    assert message.startswith("events[1]: "), message
    assert f"{PREFIX}.Tick" in message and "revision 1" in message
    assert "Tick.n" in message and "integer" in message and "'abc'" in message
    # Nothing was written: not even the valid first event of the batch.
    assert (await client.read_stream(stream)).events == []
    if target.mock is not None:
        assert target.mock.appends == [], "the append never reached the store"


async def test_nested_fields_are_checked_and_named_by_path(client: EventStoreClient) -> None:
    bad = OrderPlaced("o-1", Decimal("9.99"), lines=[Line("a", 1), Line("b", "two")])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"events\[0\].*OrderPlaced\.lines\[1\]\.quantity: expected an integer"):
        await client.append_events(aggregate_id="o-1", aggregate_type="Order", events=[bad])
    with pytest.raises(ValidationError, match=r"OrderPlaced\.order_id: expected a string, got 7"):
        await client.append_events(
            aggregate_id="o-1",
            aggregate_type="Order",
            events=[OrderPlaced(7, Decimal(1))],  # type: ignore[arg-type]
        )
    with pytest.raises(ValidationError, match=r"OrderPlaced\.total.*'lots'"):
        await client.append_events(
            aggregate_id="o-1",
            aggregate_type="Order",
            events=[OrderPlaced("o", "lots")],  # type: ignore[arg-type]
        )


async def test_values_that_read_back_are_accepted(client: EventStoreClient) -> None:
    """The check is the reader's rules, not stricter: what reads back as the
    declared type is written (an int for a Decimal, an ISO string for a
    datetime, None for an Optional)."""
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    events = [
        OrderPlaced("o-2", Decimal("1.50"), [Line("a", 2)], when, None),
        OrderPlaced("o-2", 3, placed_at=when.isoformat()),  # type: ignore[arg-type]
    ]
    await client.append_events(aggregate_id="o-2", aggregate_type="Order", events=events)
    first, second = (await client.read_stream("o-2")).events
    assert first.payload == events[0]
    assert second.payload == OrderPlaced("o-2", Decimal(3), placed_at=when)


def test_the_mock_refuses_the_same_events_in_seed_and_expectations(mock: MockEventStore) -> None:
    with pytest.raises(ValidationError, match=r"events\[0\].*Tick\.n: expected an integer, got 'x'"):
        mock.seed("s", [Tick("x")])  # type: ignore[arg-type]
    assert mock.read("s") == []
    with pytest.raises(ValidationError, match=r"events\[1\].*Tick\.n"):
        mock.expect_append(events=[Tick(1), Tick(None)])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"events\[0\].*Tick\.n"):
        mock.expect_read_stream(aggregate_id="s", returns=[Tick(1.5)])  # type: ignore[arg-type]
    # NewEvent payloads are the caller's raw JSON: not checked against any class.
    mock.seed("s", [NewEvent(f"{PREFIX}.Tick", {"n": "anything"})])
    assert len(mock.read("s")) == 1
