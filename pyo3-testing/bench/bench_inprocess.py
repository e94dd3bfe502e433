"""What a unit test pays for the in-process mock (issue 20), in one run.

    python bench/bench_inprocess.py [--calls N] [--tests N] [--rounds R]

Prints, each as the median of ``R`` rounds, wall time and CPU time per
operation (this process's CPU: the caller's thread and the core's, so a
hop to another thread shows as CPU too):

- the **floor**: what any in-process fake must do for an append (encode
  the payload as JSON, make an id, keep the event in a dict of lists), and
  for a read of 10 events (slice a list);
- one ``append_events`` of one small ``@event`` and one ``read_stream`` of
  10 events through ``EventStoreClient(endpoint="mock", store=mock)``,
  and their ratio to the floor;
- a whole unit test (``MockEventStore()`` + client + 5 appends + 1 read +
  ``verify()``) against the same test written with
  ``unittest.mock.AsyncMock`` (which checks nothing) and with a dict fake;
- ``MockEventStore()`` alone.

Install the SDK's release build first (``pip install ./pyo3-testing``):
the dev build that ``scripts/test`` installs is several times slower.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any
from unittest.mock import AsyncMock

from eventstore import EventStoreClient, event
from eventstore.testing import MockEventStore


@event(type="bench.ItemAdded", revision=1)
@dataclass
class ItemAdded:
    sku: str
    quantity: int


@dataclass
class Figure:
    wall_us: float
    cpu_us: float


async def per_op(op: Callable[[int], Awaitable[object]], n: int) -> Figure:
    """Wall and CPU microseconds per call of ``op(i)``, over ``n`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await op(i)
    return Figure((time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6)


def median(figures: list[Figure]) -> Figure:
    return Figure(statistics.median(f.wall_us for f in figures), statistics.median(f.cpu_us for f in figures))


# -- the floor: a dict fake ----------------------------------------------------


class DictFake:
    """The least an in-process fake does: JSON payloads, ids, a dict of lists."""

    def __init__(self) -> None:
        self.streams: dict[str, list[tuple[str, bytes]]] = {}

    async def append_events(self, aggregate_id: str, events: list[Any]) -> int:
        stream = self.streams.setdefault(aggregate_id, [])
        for e in events:
            stream.append((str(uuid.uuid4()), json.dumps(asdict(e)).encode()))
        return len(stream)

    async def read_stream(self, aggregate_id: str) -> list[tuple[str, bytes]]:
        return self.streams.get(aggregate_id, [])[:100]


# -- one unit test, three ways ---------------------------------------------------


async def unit_test_mock() -> None:
    mock = MockEventStore()
    async with EventStoreClient(endpoint="mock", store=mock) as client:
        for i in range(5):
            await client.append_events(aggregate_type="Order", aggregate_id=f"order-{i}", events=[ItemAdded("sku", i)])
        page = await client.read_stream("order-1")
        assert len(page.events) == 1
    mock.verify()
    mock.close()


async def unit_test_async_mock() -> None:
    client = AsyncMock()
    for i in range(5):
        await client.append_events(aggregate_type="Order", aggregate_id=f"order-{i}", events=[ItemAdded("sku", i)])
    await client.read_stream("order-1")
    assert client.append_events.await_count == 5


async def unit_test_dict_fake() -> None:
    fake = DictFake()
    for i in range(5):
        await fake.append_events(f"order-{i}", [ItemAdded("sku", i)])
    assert len(await fake.read_stream("order-1")) == 1


# -- main --------------------------------------------------------------------------


async def one_round(calls: int, tests: int) -> dict[str, Figure]:
    fake = DictFake()
    mock = MockEventStore()
    client = EventStoreClient(endpoint="mock", store=mock)
    for i in range(10):
        await client.append_events(
            aggregate_type="Order", aggregate_id="ten", expected_aggregate_nonce=i, events=[ItemAdded("sku", i)]
        )
        await fake.append_events("ten", [ItemAdded("sku", i)])
    figures = {
        "floor append": await per_op(lambda i: fake.append_events(f"f-{i}", [ItemAdded("sku", i)]), calls),
        "floor read 10": await per_op(lambda i: fake.read_stream("ten"), calls),
        "mock append": await per_op(
            lambda i: client.append_events(aggregate_type="Order", aggregate_id=f"a-{i}", events=[ItemAdded("sku", i)]),
            calls,
        ),
        "mock read 10": await per_op(lambda i: client.read_stream("ten"), calls),
        "test: dict fake": await per_op(lambda i: unit_test_dict_fake(), tests),
        "test: AsyncMock": await per_op(lambda i: unit_test_async_mock(), tests),
        "test: MockEventStore": await per_op(lambda i: unit_test_mock(), tests),
    }

    async def make_mock(i: int) -> None:
        MockEventStore().close()

    figures["MockEventStore()"] = await per_op(make_mock, tests)
    await client.close()
    mock.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000, help="calls per figure and round (default 5000)")
    parser.add_argument("--tests", type=int, default=500, help="unit tests per figure and round (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each figure is their median (default 5)")
    args = parser.parse_args()
    rounds = [asyncio.run(one_round(args.calls, args.tests)) for _ in range(args.rounds)]
    figures = {name: median([r[name] for r in rounds]) for name in rounds[0]}
    print(f"{'':<24}{'wall µs/op':>12}{'CPU µs/op':>12}   ratio (wall, CPU)")
    baselines = {
        "mock append": "floor append",
        "mock read 10": "floor read 10",
        "test: MockEventStore": "test: AsyncMock",
    }
    for name, f in figures.items():
        line = f"{name:<24}{f.wall_us:>12.1f}{f.cpu_us:>12.1f}"
        base = baselines.get(name)
        if base is not None:
            b = figures[base]
            line += f"   {f.wall_us / b.wall_us:.2f}x, {f.cpu_us / b.cpu_us:.2f}x of {base}"
        print(line)
    print(f"(median of {args.rounds} rounds; {args.calls} calls, {args.tests} tests per figure)")


if __name__ == "__main__":
    main()
