"""What scripts/test-wheel checks of the installed wheel, besides the user
guide's and the README's examples: it is the wheel that is imported, the
MockEventStore works (append, read, an expectation, verify), the
property-testing modules work with the `hypothesis` extra, and
EventStoreContainer starts the store the wheel carries in Docker."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import eventstore
import pytest
from eventstore import EventStoreClient, _native, event
from eventstore.testing import EventStoreContainer, MockEventStore


@event(type="com.myco.wheelcheck.OrderOpened", revision=1)
@dataclass
class OrderOpened:
    order_id: str
    amount: float


def test_the_installed_wheel_is_imported() -> None:
    package = Path(eventstore.__file__).resolve()
    assert Path(sys.prefix).resolve() in package.parents, f"eventstore imported from {package}, not the venv"
    native = Path(_native.__file__)
    assert native.name.endswith(".abi3.so"), native.name


async def test_mock_append_read_expect_verify() -> None:
    mock = MockEventStore()
    try:
        client = EventStoreClient(endpoint="mock", store=mock)
        mock.expect_append(aggregate_id="order-1", events=[OrderOpened("order-1", 10.0)])
        await client.append_events(
            aggregate_id="order-1", aggregate_type="Order", events=[OrderOpened("order-1", 10.0)]
        )
        page = await client.read_stream("order-1")
        assert [e.payload for e in page.events] == [OrderOpened("order-1", 10.0)]
        assert [e.payload for e in mock.read("order-1")] == [OrderOpened("order-1", 10.0)]
        mock.verify()

        mock.expect_append(aggregate_id="order-2")
        with pytest.raises(AssertionError):
            mock.verify()  # the second expectation was never met
    finally:
        mock.close()


class LastAmount:
    """An idempotent projection: the last amount per order."""

    def __init__(self) -> None:
        self.amounts: dict[str, float] = {}

    async def handle(self, e: eventstore.RecordedEvent) -> None:
        self.amounts[e.aggregate_id] = e.payload.amount

    def state(self) -> dict[str, float]:
        return self.amounts


def test_property_testing_with_the_hypothesis_extra() -> None:
    from hypothesis import given, settings
    from eventstore.testing import check_redelivery, consumer_state_machine
    from eventstore.testing.strategies import histories

    @settings(max_examples=20, deadline=None)
    @given(history=histories(OrderOpened, max_size=5))
    def prop(history: list[tuple[str, object]]) -> None:
        asyncio.run(check_redelivery(LastAmount, history))

    prop()
    machine = consumer_state_machine(LastAmount, OrderOpened).TestCase
    machine.settings = settings(max_examples=10, stateful_step_count=10)
    machine("runTest").runTest()


async def test_container_in_docker_append_and_read() -> None:
    container = EventStoreContainer(mode="docker")
    await asyncio.wait_for(container.start(), 120)
    try:
        assert container.mode == "docker" and container.container_id
        client = container.client(request_timeout=10)
        await client.append_events(
            aggregate_id="order-1", aggregate_type="Order", events=[OrderOpened("order-1", 25.0)]
        )
        page = await client.read_stream("order-1")
        assert [e.payload for e in page.events] == [OrderOpened("order-1", 25.0)]
        info = await client.server_info()
        assert info.version_at_least("0.17.0"), info
    finally:
        await container.stop()
