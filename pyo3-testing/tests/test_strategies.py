"""eventstore.testing.strategies: events derived from @event classes read
back equal through the store; histories have the promised shape and shrink
to the smallest; bad inputs are refused when the strategy is built."""

from __future__ import annotations

import datetime as dt
import enum
import subprocess
import sys
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, Optional, TypeVar

import pytest
from eventstore import EventStoreClient, ValidationError, event
from eventstore.testing import MockEventStore
from eventstore.testing.strategies import StrategyError, events, histories
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from order_events import OrderPaid, OrderPlaced

T = TypeVar("T")


class Colour(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclass
class Address:
    street: str
    zip: Optional[int] = None  # noqa: UP045 - the Optional spelling is tested too


@dataclass
class Node:
    label: str
    child: Node | None = None


@event(type="test.strategies.Everything")
@dataclass
class Everything:
    text: str
    count: int
    ratio: float
    flag: bool
    amount: Decimal
    at: dt.datetime
    day: dt.date
    clock: dt.time
    id: uuid.UUID
    colour: Colour
    raw: bytes
    maybe: Optional[str]  # noqa: UP045
    numbers: list[int]
    pair: tuple[int, str]
    floats: tuple[float, ...]
    prices: dict[str, Decimal]
    kind: Literal["a", "b", 3]
    address: Address
    addresses: list[Address]
    either: int | str | None
    tree: Node
    tags: set[str]
    anything: Any


@pytest.fixture(scope="module")
def store() -> MockEventStore:
    return MockEventStore()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instance=events(Everything))
def test_every_drawn_event_reads_back_equal_through_the_store(store: MockEventStore, instance: Everything) -> None:
    import asyncio

    async def round_trip() -> Any:
        client = EventStoreClient(endpoint="mock", store=store)
        try:
            stream = f"e-{uuid.uuid4()}"
            await client.append_events(
                aggregate_id=stream, aggregate_type="T", expected_aggregate_nonce=0, events=[instance]
            )
            page = await client.read_stream(stream)
            return page.events[0].payload
        finally:
            await client.close()

    assert asyncio.run(round_trip()) == instance


def test_postponed_annotations_in_a_function_are_derived() -> None:
    # This module has `from __future__ import annotations`: every hint is a
    # string, and these classes exist only in this function's namespace.
    @dataclass
    class Line:
        sku: str
        quantity: int

    @event(type="test.strategies.Basket")
    @dataclass
    class Basket:
        lines: list[Line]
        note: Optional[str]  # noqa: UP045

    @given(basket=events(Basket))
    @settings(max_examples=20)
    def check(basket: Basket) -> None:
        assert isinstance(basket, Basket)
        assert all(isinstance(line, Line) and isinstance(line.quantity, int) for line in basket.lines)

    check()


@event(type="test.strategies.Stamped")
@dataclass
class Stamped:
    at: dt.datetime


def test_both_naive_and_aware_datetimes_are_drawn() -> None:
    naive = find(events(Stamped), lambda e: e.at.tzinfo is None, settings=settings(database=None))
    aware = find(events(Stamped), lambda e: e.at.tzinfo is not None, settings=settings(database=None))
    assert naive.at.tzinfo is None and aware.at.utcoffset() is not None


def test_an_override_replaces_a_fields_strategy() -> None:
    @given(order=events(OrderPlaced, amount=st.just(Decimal("9.99"))))
    @settings(max_examples=20)
    def check(order: OrderPlaced) -> None:
        assert order.amount == Decimal("9.99")
        assert isinstance(order.order_id, str)

    check()


def test_a_field_that_cannot_be_derived_is_refused_when_the_strategy_is_built() -> None:
    @event(type="test.strategies.Generic")
    @dataclass
    class Wrapped(Generic[T]):
        order_id: str
        value: T

    with pytest.raises(StrategyError, match=r"events\(Wrapped\): cannot derive field value of type T;") as raised:
        events(Wrapped)
    assert "events(Wrapped, value=st....)" in str(raised.value)
    # Also the SDK's ValidationError and a builtin TypeError.
    assert isinstance(raised.value, ValidationError)
    assert isinstance(raised.value, TypeError)
    # An override is how such a field gets a strategy.
    find(events(Wrapped, value=st.integers()), lambda w: w.value == 0)

    @event(type="test.strategies.Custom", serializer=repr, deserializer=complex)  # type: ignore[arg-type]
    @dataclass
    class Custom:
        value: complex

    with pytest.raises(StrategyError, match=r"events\(Custom\): cannot derive field value of type complex"):
        events(Custom)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(StrategyError, match=r"OrderPlaced has no field 'price' \(its fields: amount, order_id\)"):
        events(OrderPlaced, price=st.decimals())
    with pytest.raises(StrategyError, match=r"events\(OrderPlaced, amount=\.\.\.\) must be a Hypothesis strategy"):
        events(OrderPlaced, amount=Decimal(1))  # type: ignore[arg-type]
    with pytest.raises(StrategyError, match=r"events\(\) takes an @event class, got <class '.*Address'>"):
        events(Address)
    with pytest.raises(StrategyError, match="give at least one @event class"):
        histories()
    with pytest.raises(StrategyError, match=r"event_types\[1\] must be an @event class or a Hypothesis strategy"):
        histories(OrderPlaced, "OrderPaid")  # type: ignore[arg-type]
    with pytest.raises(StrategyError, match="aggregates must be an integer >= 1, got 0"):
        histories(OrderPlaced, aggregates=0)
    with pytest.raises(StrategyError, match=r"max_size \(1\) is below min_size \(2\)"):
        histories(OrderPlaced, min_size=2, max_size=1)
    with pytest.raises(StrategyError, match=r"^histories\(\): min_size must be an integer >= 0, got -1$"):
        histories(OrderPlaced, min_size=-1)
    with pytest.raises(StrategyError, match=r"^histories\(\): max_size must be an integer >= 0, got True$"):
        histories(OrderPlaced, max_size=True)
    with pytest.raises(StrategyError, match=r"^histories\(\): prefix must be a non-empty str, got ''$"):
        histories(OrderPlaced, prefix="")


@given(history=histories(OrderPlaced, OrderPaid, aggregates=2, min_size=1, max_size=8))
@settings(max_examples=100)
def test_histories_have_the_promised_shape(history: list[tuple[str, object]]) -> None:
    assert 1 <= len(history) <= 8
    ids = [aggregate_id for aggregate_id, _ in history]
    assert set(ids) <= {"aggregate-1", "aggregate-2"}
    # Named in the order they first appear.
    assert ids[0] == "aggregate-1"
    assert all(isinstance(e, (OrderPlaced, OrderPaid)) for _, e in history)


def test_histories_take_strategies_and_a_prefix() -> None:
    paid = events(OrderPaid, order_id=st.just("o-1"))
    history = find(histories(paid, prefix="order", min_size=1), lambda h: True, settings=settings(database=None))
    assert history == [("order-1", OrderPaid("o-1"))]


def test_histories_shrink_to_fewer_events_fewer_aggregates_and_simpler_values() -> None:
    two_aggregates = find(
        histories(OrderPlaced, OrderPaid), lambda h: len({a for a, _ in h}) >= 2, settings=settings(database=None)
    )
    assert two_aggregates == [("aggregate-1", OrderPaid("")), ("aggregate-2", OrderPaid(""))]
    a_payment = find(
        histories(OrderPlaced, OrderPaid),
        lambda h: any(isinstance(e, OrderPaid) for _, e in h),
        settings=settings(database=None),
    )
    assert a_payment == [("aggregate-1", OrderPaid(""))]


@pytest.mark.parametrize(
    "statement", ["import eventstore.testing.strategies", "from eventstore.testing import consumer_state_machine"]
)
def test_without_hypothesis_the_import_error_says_how_to_install_it(statement: str) -> None:
    blocked = "import sys; sys.modules['hypothesis'] = None\n"
    code = f"{blocked}try:\n    {statement}\nexcept ImportError as e:\n    print(e)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == (
        'eventstore.testing.strategies needs Hypothesis: pip install "eventstore-sdk-py[hypothesis]" '
        "(or pip install hypothesis)"
    ), out
