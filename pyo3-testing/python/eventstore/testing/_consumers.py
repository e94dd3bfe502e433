"""Testing consumers and projections: is a handler safe to run twice on
the same event, and has a consumer caught up with the store?

- :func:`check_redelivery`: replays a list of events into fresh consumers,
  crashing each one (the mock cuts its subscription) between ``handle()``
  and ``ack()`` of one position; the SDK's checkpointed subscription then
  resumes from the previous ack, so that event comes again. Every final
  state must equal the state of a run without faults.
- :func:`wait_until_consumed`: waits until a consumer's checkpoint reaches
  the tenant's head, instead of sleeping in an integration test.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import pprint
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from eventstore._checkpoints import CheckpointStore, MemoryCheckpointStore, check_store, hurry_writers, load_checkpoint
from eventstore._checks import check_name, check_seconds, is_pair, unchecked
from eventstore._client import EventStoreClient
from eventstore._errors import TimeoutError, ValidationError
from eventstore._models import HEAD, EventInput, RecordedEvent
from eventstore.testing._mock import MockEventStore

__all__ = ["Consumer", "check_redelivery", "wait_until_consumed"]


class Consumer(Protocol):
    """What :func:`check_redelivery` drives: a projection or handler."""

    async def handle(self, event: RecordedEvent) -> None:
        """Applies one event."""
        ...

    def state(self) -> Any:
        """What the consumer built so far (compared with ``==``)."""
        ...


_TENANT = "check-redelivery"


def _pairs(events: object) -> list[tuple[str, EventInput]]:
    if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
        raise ValidationError(f"events must be a sequence of (aggregate_id, event) pairs, got {type(events).__name__}")
    pairs: list[tuple[str, EventInput]] = []
    for i, item in enumerate(cast("Sequence[object]", events)):
        if not is_pair(item):
            raise ValidationError(f"events[{i}] must be an (aggregate_id, event) pair, got {item!r}")
        aggregate_id, event = item
        # The event itself is checked when it is encoded (append_events).
        pairs.append((check_name(f"events[{i}]: aggregate_id", aggregate_id), cast("EventInput", event)))
    return pairs


def new_consumer(make_consumer: Callable[[], Any]) -> Any:
    consumer = make_consumer()
    for method in ("handle", "state"):
        if not callable(getattr(consumer, method, None)):
            raise ValidationError(
                f"make_consumer() must return an object with async handle(event) and state(); "
                f"{type(consumer).__name__} has no {method}()"
            )
    return consumer


async def consumer_state(consumer: Any) -> Any:
    state = consumer.state()
    return await state if inspect.isawaitable(state) else state


def _describe_event(event: RecordedEvent) -> str:
    return (
        f"global nonce {event.global_nonce}, {event.event_type} of {event.aggregate_id!r} "
        f"(aggregate nonce {event.aggregate_nonce})"
    )


def state_diff(
    expected: Any,
    actual: Any,
    labels: tuple[str, str] = ("expected (each event handled once)", "actual (the event handled twice)"),
) -> str:
    """Two consumer states as a unified diff of their pretty-printed forms."""
    lines = difflib.unified_diff(
        pprint.pformat(expected, width=100).splitlines(),
        pprint.pformat(actual, width=100).splitlines(),
        *labels,
        lineterm="",
    )
    return "\n".join(lines)


async def _run(
    client: EventStoreClient,
    mock: MockEventStore,
    consumer: Any,
    positions: list[int],
    crash_at: int | None,
) -> tuple[Any, list[RecordedEvent]]:
    """Feeds every event to ``consumer`` through a checkpointed subscription
    (handle, then ack); with ``crash_at`` = k, the mock cuts the first
    subscription right after event k, which the consumer handles but never
    acknowledges. Returns its state and the events it was handed."""
    last = positions[-1]
    name = "redelivery-check" if crash_at is None else f"redelivery-check-{crash_at}"
    if crash_at is not None:
        # The message a store stopping mid-stream sends (wire contract).
        resume = positions[crash_at - 1] + 1
        message = f"cut by check_redelivery after event {crash_at}; resume from global_nonce {resume}"
        mock.expect_subscribe(
            tenant_id=_TENANT,
            fail_after=crash_at,
            fail_with=("UNAVAILABLE", message),
            up_to=1,
            name=f"check_redelivery: cut after event {crash_at}",
        )
    handled: list[RecordedEvent] = []
    subscription = await client.subscribe(
        tenant_id=_TENANT, consumer=name, checkpoint=MemoryCheckpointStore(), checkpoint_interval=0
    )
    crashed = False
    try:
        async for event in subscription:
            handled.append(event)
            try:
                await consumer.handle(event)
            except Exception as e:
                if crash_at is None or not crashed:
                    raise
                raise AssertionError(
                    f"check_redelivery: handle() raised {type(e).__name__}: {e} when event {crash_at} "
                    f"({_describe_event(handled[-1])}) was delivered again after a crash between its "
                    "handle() and ack(); a consumer must accept an event it has already applied"
                ) from e
            if crash_at is not None and not crashed and event.global_nonce == positions[crash_at - 1]:
                # The crash: handled, never acknowledged.
                crashed = True
                continue
            await subscription.ack(event.global_nonce)
            if event.global_nonce >= last:
                break
    finally:
        await subscription.close()
    return await consumer_state(consumer), handled


async def check_redelivery(
    make_consumer: Callable[[], Any],
    events: Sequence[tuple[str, object]],
    *,
    aggregate_type: str = "Aggregate",
    timeout: float = 10.0,
) -> None:
    """Checks that a consumer ends in the same state when an event it has
    handled is delivered again (at-least-once delivery).

    ``make_consumer()`` returns a fresh consumer: an object with ``async
    handle(event: RecordedEvent)`` and ``state()`` (compared with ``==``).
    ``events`` are ``(aggregate_id, event)`` pairs (``@event`` instances or
    :class:`~eventstore.NewEvent`), appended in that order to a fresh
    :class:`MockEventStore` (streams of type ``aggregate_type``). The
    event is typed ``object``: a list of pairs of several event classes
    (``[("o-1", OrderPlaced(...)), ("o-1", OrderCancelled(...))]``) is a
    ``list[tuple[str, object]]`` to mypy; each event is checked when it is
    appended (a :class:`~eventstore.ValidationError` naming ``events[i]``).

    One consumer first takes every event once, without faults: its state is
    the expected one. Then, for every position k, a fresh consumer reads
    the events through a checkpointed subscription (``handle``, then
    ``ack``) whose connection the mock cuts after event k was handled and
    before it was acknowledged: the SDK reconnects, resumes after the
    previous ack, and event k arrives again. Every final state must equal
    the expected one.

    An empty ``events`` passes at once. Under Hypothesis, each example
    gets a store of its own: ``@given(history=histories(OrderPlaced))``
    around ``await check_redelivery(OrderTotals, history)`` is a property
    test (:mod:`eventstore.testing.strategies`).

    Raises :class:`AssertionError` naming the first k whose state differs
    (with both states as a diff), or where ``handle`` raised on the
    redelivered event. ``timeout`` bounds each run (seconds).
    """
    if not callable(make_consumer):
        raise ValidationError(f"make_consumer must be a callable returning a consumer, got {make_consumer!r}")
    pairs = _pairs(events)
    check_name("aggregate_type", aggregate_type)
    limit = check_seconds("timeout", timeout)
    if not pairs:
        # Nothing to deliver, so nothing to deliver twice (a property test
        # draws the empty history too); the consumer is still checked.
        new_consumer(make_consumer)
        return
    mock = MockEventStore()
    client = EventStoreClient(endpoint="mock", store=mock, tenant_id=_TENANT)
    try:
        heads: dict[str, int] = {}
        positions: list[int] = []
        for i, (aggregate_id, event) in enumerate(pairs):
            try:
                result = await client.append_events(
                    aggregate_id=aggregate_id,
                    aggregate_type=aggregate_type,
                    expected_aggregate_nonce=heads.get(aggregate_id, 0),
                    events=[event],
                )
            except ValidationError as e:
                # Appended one by one: the error names events[0] of a batch of one.
                raise ValidationError(f"events[{i}]{str(e).removeprefix('events[0]')}") from None
            heads[aggregate_id] = result.last_aggregate_nonce
            positions.append(result.last_global_nonce)

        async def run(crash_at: int | None) -> tuple[Any, list[RecordedEvent]]:
            what = "the run without faults" if crash_at is None else f"the run crashing at event {crash_at}"
            try:
                return await asyncio.wait_for(
                    _run(client, mock, new_consumer(make_consumer), positions, crash_at), limit
                )
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"check_redelivery: {what} did not reach the last event (global nonce {positions[-1]}) "
                    f"within {limit} s"
                ) from None

        expected, _ = await run(None)
        for k in range(1, len(positions) + 1):
            actual, handled = await run(k)
            redelivered = [e for e in handled if e.global_nonce == positions[k - 1]]
            if len(redelivered) < 2:
                raise AssertionError(
                    f"check_redelivery: event {k} was not delivered again after the cut "
                    f"(the subscription handed out global nonces {[e.global_nonce for e in handled]})"
                )
            if actual != expected:
                raise AssertionError(
                    f"check_redelivery: the consumer is not idempotent: delivering event {k} of {len(positions)} "
                    f"({_describe_event(redelivered[0])}) a second time, after a crash between its handle() "
                    f"and ack(), changes the final state.\n{state_diff(expected, actual)}"
                )
    finally:
        await client.close()
        mock.close()


async def wait_until_consumed(
    client: EventStoreClient,
    checkpoint_store: CheckpointStore,
    consumer: str,
    *,
    tenant_id: str | None = None,
    timeout: float = 10.0,
) -> int:
    """Waits until ``consumer``'s checkpoint in ``checkpoint_store`` has
    reached the tenant's head: the global nonce of its last event when the
    call starts (read with ``ReadAll`` backward from the head). Returns the
    checkpoint reached.

    A subscription of this process checkpointing that consumer into that
    store (the same object, or a :class:`~eventstore.SqliteCheckpointStore`
    of the same file) writes its position as soon as it has acknowledged
    the head, rather than when its ``checkpoint_interval`` allows, so the
    wait ends once the events are processed. A consumer in another process
    is waited for through the store alone.

    Raises :class:`~eventstore.TimeoutError` (also a builtin
    ``TimeoutError``) after ``timeout`` seconds, naming the checkpoint (or
    that the consumer has none) and the head;
    :class:`~eventstore.CheckpointError` when the store fails. ``tenant_id``
    defaults to the client's tenant.
    """
    if not isinstance(unchecked(client), EventStoreClient):
        raise ValidationError(f"client must be an EventStoreClient, got {type(client).__name__}")
    store = check_store(checkpoint_store)
    check_name("consumer", consumer)
    tenant = client.tenant_id if tenant_id is None else check_name("tenant_id", tenant_id)
    limit = check_seconds("timeout", timeout)
    page = await client.read_all(tenant_id=tenant, from_global_nonce=HEAD, forward=False, max_count=1)
    head = page.events[0].global_nonce if page.events else 0
    deadline = time.monotonic() + limit
    pause = 0.002
    while True:
        # A consumer of this process that has acknowledged the head saves it
        # now, not a checkpoint_interval later.
        await hurry_writers(store, tenant, consumer, head)
        position = await load_checkpoint(store, tenant, consumer)
        if (position or 0) >= head:
            return position or 0
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            where = (
                "has no checkpoint (an unknown consumer name, or it has acknowledged nothing yet)"
                if position is None
                else f"is at global nonce {position}"
            )
            raise TimeoutError(
                f"wait_until_consumed: consumer {consumer!r} of tenant {tenant!r} {where}; "
                f"the tenant's head is global nonce {head} (waited {limit} s)"
            )
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.05)
