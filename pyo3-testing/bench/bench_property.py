"""Benchmark: what a property test of a consumer costs.

Prints wall and CPU time (this process) for:

* ``consumer_state_machine``: 50 examples of up to 30 steps, an idempotent
  order book (every run passes, so no shrinking is timed);
* ``check_redelivery`` under ``@given``: 50 histories of up to 20 events;
* the floor: Hypothesis drawing the same 50 histories, without a store.

Needs Hypothesis: ``pip install "eventstore-sdk-py[hypothesis]"``. Build the
extension in release mode first (``maturin develop --release``): a debug
build is several times slower. ``python bench/bench_property.py [--examples N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from eventstore import RecordedEvent, event
from eventstore.testing import check_redelivery, consumer_state_machine
from eventstore.testing.strategies import histories
from hypothesis import given, settings


@event(type="bench.props.OrderPlaced")
@dataclass
class OrderPlaced:
    order_id: str
    amount: Decimal


@event(type="bench.props.OrderPaid")
@dataclass
class OrderPaid:
    order_id: str


class OrderBook:
    def __init__(self) -> None:
        self.orders: dict[str, tuple[Decimal, bool]] = {}

    async def handle(self, e: RecordedEvent) -> None:
        amount, paid = self.orders.get(e.aggregate_id, (Decimal(0), False))
        if isinstance(e.payload, OrderPlaced):
            self.orders[e.aggregate_id] = (e.payload.amount, paid)
        elif isinstance(e.payload, OrderPaid):
            self.orders[e.aggregate_id] = (amount, True)

    def state(self) -> dict[str, tuple[Decimal, bool]]:
        return dict(self.orders)


def timed(name: str, run: Callable[[], int]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    count = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:<58} {wall:7.2f} s wall  {cpu:7.2f} s CPU  ({count} examples, {wall / count * 1e3:.1f} ms each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=50)
    args = parser.parse_args()
    n = args.examples
    print(f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    common = settings(max_examples=n, deadline=None, database=None)

    runs = [0]

    class Counted(consumer_state_machine(OrderBook, [OrderPlaced, OrderPaid])):  # type: ignore[misc]
        """The machine, counting its runs (Hypothesis may stop early)."""

        def __init__(self) -> None:
            runs[0] += 1
            super().__init__()

    def machine() -> int:
        test_case = Counted.TestCase
        test_case.settings = settings(common, stateful_step_count=30)
        test_case("runTest").runTest()
        return runs[0]

    ran = [0]

    @common
    @given(history=histories(OrderPlaced, OrderPaid, max_size=20))
    def redelivery(history: list[tuple[str, object]]) -> None:
        ran[0] += 1
        asyncio.run(check_redelivery(OrderBook, history))

    fed = [0]

    @common
    @given(history=histories(OrderPlaced, OrderPaid, max_size=20))
    def floor(history: list[tuple[str, object]]) -> None:
        # Hypothesis' own cost: drawing the same histories, no store.
        fed[0] += 1

    timed(f"consumer_state_machine, {n} examples of up to 30 steps", machine)
    timed(f"check_redelivery under @given, {n} histories of up to 20", lambda: (redelivery(), ran[0])[1])
    timed("floor: drawing the same histories, no store", lambda: (floor(), fed[0])[1])


if __name__ == "__main__":
    main()
