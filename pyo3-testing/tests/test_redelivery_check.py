"""``eventstore.testing.check_redelivery``: a non-idempotent projection is
caught (naming the first position and diffing the states), an idempotent
one passes; bad inputs are named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eventstore import RecordedEvent, ValidationError, event
from eventstore.testing import check_redelivery


@event(type="tests.redelivery.OrderPlaced", revision=1)
@dataclass
class OrderPlaced:
    order_id: str
    amount: int


@event(type="tests.redelivery.OrderCancelled", revision=1)
@dataclass
class OrderCancelled:
    order_id: str


EVENTS = [
    ("order-1", OrderPlaced("order-1", 10)),
    ("order-2", OrderPlaced("order-2", 25)),
    ("order-1", OrderCancelled("order-1")),
    ("order-3", OrderPlaced("order-3", 5)),
]


class CountingProjection:
    """Buggy: adds on every delivery, so a redelivered event counts twice."""

    def __init__(self) -> None:
        self.total = 0
        self.orders = 0

    async def handle(self, e: RecordedEvent) -> None:
        if isinstance(e.payload, OrderPlaced):
            self.orders += 1
            self.total += e.payload.amount
        elif isinstance(e.payload, OrderCancelled):
            self.orders -= 1

    def state(self) -> Any:
        return {"orders": self.orders, "total": self.total}


class IdempotentProjection:
    """Correct: keyed by order, remembers the last position it applied."""

    def __init__(self) -> None:
        self.orders: dict[str, int] = {}
        self.position = 0

    async def handle(self, e: RecordedEvent) -> None:
        if e.global_nonce <= self.position:
            return
        if isinstance(e.payload, OrderPlaced):
            self.orders[e.payload.order_id] = e.payload.amount
        elif isinstance(e.payload, OrderCancelled):
            self.orders.pop(e.payload.order_id, None)
        self.position = e.global_nonce

    def state(self) -> Any:
        return {"orders": self.orders, "total": sum(self.orders.values())}


class CancelOnlyBug(IdempotentProjection):
    """Idempotent except for cancellations: only position 3 breaks it."""

    def __init__(self) -> None:
        super().__init__()
        self.cancellations = 0

    async def handle(self, e: RecordedEvent) -> None:
        if isinstance(e.payload, OrderCancelled):
            self.cancellations += 1
        await super().handle(e)

    def state(self) -> Any:
        return {**super().state(), "cancellations": self.cancellations}


async def test_a_non_idempotent_projection_is_caught_at_the_first_position() -> None:
    with pytest.raises(AssertionError) as raised:
        await check_redelivery(CountingProjection, EVENTS)
    message = str(raised.value)
    assert "delivering event 1 of 4" in message, message
    assert "tests.redelivery.OrderPlaced of 'order-1'" in message, message
    # Both states, as a diff.
    assert "-{'orders': 2, 'total': 40}" in message, message
    assert "+{'orders': 3, 'total': 50}" in message, message


async def test_the_first_failing_position_is_named() -> None:
    expected = r"delivering event 3 of 4 \(global nonce 3, tests.redelivery.OrderCancelled"
    with pytest.raises(AssertionError, match=expected):
        await check_redelivery(CancelOnlyBug, EVENTS)


async def test_an_idempotent_projection_passes_with_a_fresh_consumer_per_position() -> None:
    many = [(f"order-{i % 7}", OrderPlaced(f"order-{i % 7}", i)) for i in range(40)]
    made: list[IdempotentProjection] = []

    def make() -> IdempotentProjection:
        made.append(IdempotentProjection())
        return made[-1]

    await check_redelivery(make, many)
    # One run without faults, then one per position, each from a new
    # consumer; every one of them saw the whole log. (What the check costs
    # is printed by bench/bench_sdk.py, not asserted here.)
    assert len(made) == 41
    assert all(p.state() == made[0].state() for p in made), [p.state() for p in made]
    assert [p.position for p in made] == [40] * 41


async def test_a_handler_that_refuses_a_duplicate_is_caught() -> None:
    class Strict(IdempotentProjection):
        async def handle(self, e: RecordedEvent) -> None:
            if e.global_nonce <= self.position:
                raise KeyError(f"already applied {e.global_nonce}")
            await super().handle(e)

    with pytest.raises(AssertionError, match=r"handle\(\) raised KeyError: .*already applied 1.* event 1") as raised:
        await check_redelivery(Strict, EVENTS)
    assert isinstance(raised.value.__cause__, KeyError)


async def test_a_failing_handler_without_faults_raises_its_own_error() -> None:
    class Broken(IdempotentProjection):
        async def handle(self, e: RecordedEvent) -> None:
            raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        await check_redelivery(Broken, EVENTS)


async def test_an_empty_history_passes_and_still_checks_the_consumer() -> None:
    # Property tests draw the empty history too.
    await check_redelivery(IdempotentProjection, [])
    with pytest.raises(ValidationError, match=r"make_consumer\(\) must return an object with async handle"):
        await check_redelivery(object, [])


async def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValidationError, match=r"events\[1\] must be an \(aggregate_id, event\) pair"):
        await check_redelivery(IdempotentProjection, [EVENTS[0], OrderPlaced("x", 1)])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match=r"events\[0\]: aggregate_id must be a non-empty str"):
        await check_redelivery(IdempotentProjection, [("", OrderPlaced("x", 1))])
    with pytest.raises(
        ValidationError, match=r"^events\[1\]: expected an @event instance, a NewEvent or a dict, got int$"
    ):
        await check_redelivery(IdempotentProjection, [EVENTS[0], ("x", 5)])
    with pytest.raises(ValidationError, match="make_consumer must be a callable"):
        await check_redelivery(IdempotentProjection(), EVENTS)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"has no handle\(\)"):
        await check_redelivery(dict, EVENTS)
    with pytest.raises(ValidationError, match="timeout must be a number of seconds >= 0"):
        await check_redelivery(IdempotentProjection, EVENTS, timeout=-1)
