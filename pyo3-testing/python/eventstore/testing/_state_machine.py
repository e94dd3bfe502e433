"""``consumer_state_machine``: a Hypothesis state machine that drives one
consumer through a checkpointed subscription to an in-process mock, and
hunts the histories and faults that make it diverge.

Rules (each step one of them, drawn and shrunk by Hypothesis):

- ``append(aggregate, event)``: a drawn event appended to a drawn aggregate;
- ``deliver()``: the subscription hands the next event to ``handle()``
  (after acknowledging the one before, as a consumer's loop does);
- ``ack()``: the handled event is acknowledged (its checkpoint saved);
- ``cut_connection()``: the connection drops after ``handle()`` and before
  ``ack()``: the subscription resumes after the last acknowledged event,
  so the handled event comes again;
- ``restart_from_checkpoint()``: the subscription is closed, whatever it
  was doing, and opened again from the saved checkpoint.

Invariant: whenever the consumer has caught up (every appended event
handled and acknowledged), its ``state()`` equals the state of a fresh
consumer fed the whole log once; the machine catches up and checks once
more at the end of every run. The consumer follows the
:func:`~eventstore.testing.check_redelivery` protocol: ``async
handle(event)`` and ``state()``.

A cut is made by closing the subscription without the acknowledgement and
resubscribing from the checkpoint (acknowledgements are saved at once):
what the consumer sees is what it sees when its connection drops (the
SDK's own reconnect resumes from the same position), without waiting for
a reconnect's backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar, cast

# First: without Hypothesis, its import guard says how to install it.
from eventstore.testing.strategies import checked, event_strategies

# isort: split
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from hypothesis.strategies import SearchStrategy

from eventstore._checkpoints import MemoryCheckpointStore
from eventstore._checks import check_int_at_least, check_name, check_seconds
from eventstore._client import EventStoreClient
from eventstore._errors import ValidationError
from eventstore._models import EventInput, RecordedEvent
from eventstore._subscription import Subscription
from eventstore.testing._consumers import consumer_state, new_consumer, state_diff
from eventstore.testing._mock import MockEventStore

__all__ = ["consumer_state_machine"]

T = TypeVar("T")

_TENANT = "consumer-state-machine"
_CONSUMER = "consumer-under-test"


def consumer_state_machine(
    make_consumer: Callable[[], Any],
    events: type[Any] | SearchStrategy[Any] | Sequence[type[Any] | SearchStrategy[Any]],
    *,
    aggregates: int = 3,
    prefix: str = "aggregate",
    timeout: float = 10.0,
) -> type[RuleBasedStateMachine]:
    """A :class:`hypothesis.stateful.RuleBasedStateMachine` class that
    drives a consumer made by ``make_consumer()`` (``async handle(event)``
    and ``state()``, compared with ``==``) through a checkpointed
    subscription to an in-process :class:`MockEventStore`.

    ``events``: an ``@event`` class, a strategy of events, or a sequence of
    those; appends go to at most ``aggregates`` aggregates, named
    ``f"{prefix}-1"``... The machine appends, delivers, acknowledges, cuts
    the connection between ``handle`` and ``ack`` and restarts the
    subscription from its checkpoint, in the orders Hypothesis draws; its
    invariant is that, once caught up, the consumer's state equals that of
    a fresh consumer fed the whole log once. A failure reports the shortest
    sequence of steps found, as Python that replays it.

    Use its ``TestCase`` under pytest or unittest::

        TestOrderTotals = consumer_state_machine(OrderTotals, [OrderPlaced, OrderPaid]).TestCase

    The machine runs its own event loop (one per run): no async plumbing,
    and no pytest-asyncio needed. Hypothesis runs a state machine without
    a deadline; set ``TestCase.settings = settings(max_examples=...,
    stateful_step_count=...)`` to change the run. ``timeout`` (seconds)
    bounds each wait for an event.
    """
    if not callable(make_consumer):
        raise ValidationError(f"make_consumer must be a callable returning a consumer, got {make_consumer!r}")
    caller = "consumer_state_machine()"
    if isinstance(events, Sequence) and not isinstance(events, (str, bytes)):
        listed = cast("Sequence[object]", events)
        drawn = event_strategies(caller, listed, lambda i: f"events[{i}]")
    else:
        drawn = event_strategies(caller, [events], lambda _: "events")
    checked(caller, lambda: check_int_at_least("aggregates", aggregates, 1))
    checked(caller, lambda: check_name("prefix", prefix))
    wait = checked(caller, lambda: check_seconds("timeout", timeout))

    class ConsumerStateMachine(RuleBasedStateMachine):
        """One consumer, one mock, one event loop per run."""

        def __init__(self) -> None:
            super().__init__()
            # The consumer first: a bad one raises before anything is opened
            # (Hypothesis tears down only a machine that was built).
            self._consumer = new_consumer(make_consumer)
            self._mock = MockEventStore()
            self._client = EventStoreClient(endpoint="mock", store=self._mock, tenant_id=_TENANT)
            self._loop = asyncio.new_event_loop()
            self._broken = False
            self._checkpoints = MemoryCheckpointStore()
            self._subscription: Subscription | None = None
            self._heads: dict[str, int] = {}
            self._head = 0  # the last appended event's global nonce
            self._received = 0  # the last global nonce the subscription handed out
            self._acked = 0
            self._pending: RecordedEvent | None = None

        def _run(self, step: Coroutine[Any, Any, T]) -> T:
            try:
                return self._loop.run_until_complete(step)
            except BaseException:
                self._broken = True
                raise

        async def _subscribe(self) -> Subscription:
            if self._subscription is None:
                self._subscription = await self._client.subscribe(
                    consumer=_CONSUMER, checkpoint=self._checkpoints, checkpoint_interval=0
                )
                # A new subscription starts after the saved checkpoint.
                self._received = self._acked
            return self._subscription

        async def _close_subscription(self) -> None:
            subscription, self._subscription = self._subscription, None
            self._pending = None
            if subscription is not None:
                await subscription.close()

        async def _deliver(self) -> None:
            subscription = await self._subscribe()
            try:
                event = await asyncio.wait_for(subscription.__anext__(), wait)
            except asyncio.TimeoutError:
                raise AssertionError(
                    f"consumer_state_machine: no event after global nonce {self._received} within {wait} s, "
                    f"though the log's head is {self._head}"
                ) from None
            self._received = event.global_nonce
            await self._consumer.handle(event)
            self._pending = event

        async def _ack(self) -> None:
            pending, self._pending = self._pending, None
            if pending is not None and self._subscription is not None:
                await self._subscription.ack(pending.global_nonce)
                self._acked = pending.global_nonce

        async def _catch_up(self) -> None:
            await self._ack()
            while self._acked < self._head:
                await self._deliver()
                await self._ack()

        async def _check(self) -> None:
            log = await self._log()
            fresh = new_consumer(make_consumer)
            for event in log:
                await fresh.handle(event)
            expected, actual = await consumer_state(fresh), await consumer_state(self._consumer)
            if actual != expected:
                diff = state_diff(
                    expected,
                    actual,
                    ("expected (a fresh consumer fed the log once)", "actual (the consumer after the steps above)"),
                )
                raise AssertionError(
                    f"consumer_state_machine: the consumer caught up with {len(log)} "
                    f"event{'' if len(log) == 1 else 's'} but its state differs from that of a fresh "
                    f"consumer fed each event once (the steps that led here are below):\n{diff}"
                )

        async def _log(self) -> list[RecordedEvent]:
            return [event async for event in self._client.read_all_events()]

        async def _append(self, aggregate_id: str, event: object) -> None:
            result = await self._client.append_events(
                aggregate_id=aggregate_id,
                aggregate_type="Aggregate",
                expected_aggregate_nonce=self._heads.get(aggregate_id, 0),
                events=[cast("EventInput", event)],
            )
            self._heads[aggregate_id] = result.last_aggregate_nonce
            self._head = result.last_global_nonce

        # Every rule can run in every state (one without work to do does
        # nothing): Hypothesis then draws the same rule from the same
        # choice whatever came before, and a failing run shrinks by
        # deleting steps. Preconditions would make each choice depend on
        # the state, and the shrinker's edits would mostly be misaligned.

        @rule(aggregate=st.integers(0, aggregates - 1), event=drawn)
        def append(self, aggregate: int, event: object) -> None:
            self._run(self._append(f"{prefix}-{aggregate + 1}", event))

        @rule()
        def deliver(self) -> None:
            # A consumer's loop: the event before is acknowledged first.
            # (So a history shrinks by deleting one append: the delivery
            # that took its event takes the next one.)
            if self._received < self._head:
                if self._pending is not None:
                    self._run(self._ack())
                    self._check_if_caught_up()
                self._run(self._deliver())

        @rule()
        def ack(self) -> None:
            if self._pending is not None:
                self._run(self._ack())
                self._check_if_caught_up()

        @rule()
        def cut_connection(self) -> None:
            if self._pending is not None:
                self._run(self._close_subscription())

        @rule()
        def restart_from_checkpoint(self) -> None:
            self._run(self._close_subscription())

        def _check_if_caught_up(self) -> None:
            # The invariant, where it can hold: after the acknowledgement of
            # the head. (A Hypothesis @invariant would be printed after every
            # step of a failing run.)
            if self._pending is None and self._acked == self._head:
                self._run(self._check())

        def teardown(self) -> None:
            try:
                if not self._broken:
                    # Every run ends caught up and checked.
                    self._run(self._catch_up())
                    self._run(self._check())
            finally:
                try:
                    self._loop.run_until_complete(self._close_subscription())
                    self._loop.run_until_complete(self._client.close())
                finally:
                    self._mock.close()
                    self._loop.close()

    return ConsumerStateMachine
