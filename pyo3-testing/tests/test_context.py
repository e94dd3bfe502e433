"""MessageContext: set/get/clear/scope, and how it follows asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass

import pytest
from conftest import Target, unique, within
from eventstore import EventStoreClient, MessageContext, event
from eventstore.testing import MockEventStore


@event(type="tests.context.Touched", revision=1)
@dataclass
class Touched:
    by: str


def ids() -> tuple[str | None, str | None, str | None]:
    c = MessageContext.get()
    return c.correlation_id, c.causation_id, c.actor_id


@pytest.fixture(autouse=True)
def _fresh_context():
    """Each test starts with, and leaves, an empty context."""
    MessageContext.clear()
    yield
    MessageContext.clear()


def test_set_get_clear() -> None:
    assert ids() == (None, None, None)
    MessageContext.set(correlation_id="req-123", causation_id="cmd-456")
    assert ids() == ("req-123", "cmd-456", None)
    MessageContext.set(actor_id="user-1")
    assert ids() == (None, None, "user-1"), "set replaces the whole context"
    MessageContext.clear()
    assert ids() == (None, None, None)


def test_scope_sets_inside_only_and_keeps_outer_values() -> None:
    MessageContext.set(correlation_id="outer", actor_id="actor")
    with MessageContext.scope(correlation_id="inner", causation_id="cause") as inside:
        assert ids() == ("inner", "cause", "actor")
        assert (inside.correlation_id, inside.causation_id, inside.actor_id) == ("inner", "cause", "actor")
        with MessageContext.scope(actor_id="nested"):
            assert ids() == ("inner", "cause", "nested")
        assert ids() == ("inner", "cause", "actor")
    assert ids() == ("outer", None, "actor")


def test_scope_restores_on_error() -> None:
    with pytest.raises(RuntimeError), MessageContext.scope(correlation_id="boom"):
        assert ids()[0] == "boom"
        raise RuntimeError
    assert ids() == (None, None, None)


def test_context_is_per_contextvars_context() -> None:
    MessageContext.set(correlation_id="here")
    copy = contextvars.copy_context()
    MessageContext.set(correlation_id="changed")
    assert copy.run(ids)[0] == "here"
    assert ids()[0] == "changed"


async def test_concurrent_tasks_keep_their_own_ids(target: Target) -> None:
    client = target.client()
    streams = {name: unique(f"order-{name}") for name in ("a", "b")}
    both_set = asyncio.Barrier(2) if hasattr(asyncio, "Barrier") else None
    ready: list[str] = []

    async def worker(name: str) -> None:
        MessageContext.set(correlation_id=f"corr-{name}", causation_id=f"cause-{name}", actor_id=f"actor-{name}")
        # Both tasks have set their ids before either appends: interleaved.
        ready.append(name)
        if both_set is not None:
            await both_set.wait()
        else:
            while len(ready) < 2:
                await asyncio.sleep(0.001)
        for i in range(5):
            await client.append_events(
                aggregate_id=streams[name], aggregate_type="Order", expected_aggregate_nonce=i, events=[Touched(name)]
            )
            await asyncio.sleep(0)

    await within(asyncio.gather(worker("a"), worker("b")))
    for name, aggregate in streams.items():
        events = (await client.read_stream(aggregate)).events
        assert len(events) == 5
        assert {(e.correlation_id, e.causation_id, e.actor_id) for e in events} == {
            (f"corr-{name}", f"cause-{name}", f"actor-{name}")
        }
    assert ids() == (None, None, None), "a task's set() does not leak into its parent"


async def test_task_created_inside_scope_keeps_it(mock: MockEventStore) -> None:
    client = EventStoreClient(endpoint="mock", store=mock)
    go = asyncio.Event()
    aggregate = unique("order")

    async def later() -> None:
        await go.wait()
        await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=[Touched("task")])

    with MessageContext.scope(correlation_id="scoped", causation_id="cause"):
        task = asyncio.create_task(later())
    # The scope is over (and the current context changed) before the task appends.
    MessageContext.set(correlation_id="after")
    go.set()
    await within(task)
    (recorded,) = mock.read(aggregate)
    assert (recorded.correlation_id, recorded.causation_id) == ("scoped", "cause")


async def test_ids_are_read_at_call_time_not_at_construction(mock: MockEventStore) -> None:
    with MessageContext.scope(correlation_id="at-construction"):
        client = EventStoreClient(endpoint="mock", store=mock)
    aggregate = unique("order")
    await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=[Touched("none")])
    with MessageContext.scope(correlation_id="at-call", actor_id="me"):
        await client.append_events(
            aggregate_id=aggregate, aggregate_type="Order", expected_aggregate_nonce=1, events=[Touched("scoped")]
        )
    MessageContext.set(causation_id="set-later")
    await client.append_events(
        aggregate_id=aggregate, aggregate_type="Order", expected_aggregate_nonce=2, events=[Touched("set")]
    )
    recorded = [(e.correlation_id, e.causation_id, e.actor_id) for e in mock.read(aggregate)]
    assert recorded == [("", "", ""), ("at-call", "", "me"), ("", "set-later", "")]


async def test_context_reaches_the_wire(mock: MockEventStore) -> None:
    """The ids are in the append request the store receives (journal)."""
    client = EventStoreClient(endpoint="mock", store=mock)
    with MessageContext.scope(correlation_id="wire-corr", causation_id="wire-cause", actor_id="wire-actor"):
        await client.append_events(aggregate_id="a", aggregate_type="A", events=[Touched("x"), Touched("y")])
    events = mock.appends[-1].events
    assert [(e.correlation_id, e.causation_id, e.actor_id) for e in events] == [
        ("wire-corr", "wire-cause", "wire-actor")
    ] * 2
