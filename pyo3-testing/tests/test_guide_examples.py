"""Every ```python block of the user guide runs, and does its job.

The guide (``$EVENTSTORE_GUIDE``, default ``../../shared/spec/python-sdk-guide.md``
from ``pyo3-testing``) is read at collection time; each block becomes one test
per target:

- ``mock``: ``MockEventStore(listen="127.0.0.1:50051")``;
- ``real``: the ``eventstore-server`` binary started with
  ``--listen 127.0.0.1:50051``;

so ``endpoint="localhost:50051"`` in the examples works as written. Each test
starts its own store on port 50051 and stops it afterwards: one owner of the
port at a time, and every example sees a fresh store (the examples use fixed
ids such as ``order-123``).

How a block runs
----------------
A block is executed, unchanged, in a fresh namespace with ``__name__ ==
"__main__"``, seeded by the PRELUDE below with the names the guide uses but
does not define (a reader's program would have them):

- imports the guide makes elsewhere: ``asyncio``, ``dataclass``, ``Optional``,
  ``EventStoreClient``, ``event``, ``MessageContext``, ``AppendRequest``;
- event classes ``OrderCreated``, ``OrderShipped`` (as in the Quick Start) and
  ``OrderUpdated(order_id, status)``;
- ``client``: ``EventStoreClient(endpoint="localhost:50051")`` (default tenant);
- ``request`` (and ``request1``/``request2``): an :class:`AppendRequest` of one
  event to a fresh stream; ``event1``..``event3``: ``OrderUpdated`` events;
- ``ca_cert_bytes``, ``client_cert_bytes``, ``client_key_bytes``: a throwaway
  self-signed PEM certificate and key made with ``openssl`` (well-formed, so
  the client accepts them; the TLS client is only constructed, never used:
  it connects lazily);
- ``load_current_state``, ``retry_operation``, ``retry_with_backoff``,
  ``process_events``: recording helpers;
- ``print``: records what the block prints, for the checks.

Each block's scenario may seed the store first (e.g. ``order-123`` of
``tenant-123`` at head 2 for "Append Operations", which expects it) and checks
afterwards that the example did its job, reading the store back with a
separate client.

- Blocks with top-level ``await`` are compiled with
  ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` and awaited on an event loop (with a
  timeout); the others run in a thread with no running loop (the Quick Start
  calls ``asyncio.run`` itself).
- The subscription example's ``async for`` never ends by itself. The prelude
  appends events first; a helper task waits until the block has
  acknowledged all of them (plus one event appended live), then calls
  ``subscription1.close()``, which ends the iteration as documented.
- Blocks that define pytest fixtures/tests (the Testing section) are written
  to a temporary directory as a test module and run with pytest in a
  subprocess. Its conftest provides the names the guide's test modules use
  without importing (``pytest``, ``EventStoreClient``, ``request``...) as
  builtins, so the module text stays the guide's. Two transformations are
  needed, and applied, because the guide's unit-test example is not valid
  Python as written:

  1. ``def test_append_events`` awaits, so it becomes ``async def`` (an
     ``await`` in a plain ``def`` is a SyntaxError);
  2. ``[/* expected events */]`` is a C comment (a SyntaxError): the
     placeholder becomes ``*expected_events``, a prelude list matching
     ``request``'s events.

  A negative control reruns the module with a ``request`` to another stream
  and checks that pytest then fails, so the example's test can fail.
- "Batching Events": the requests ``{"events": [...]}`` name no stream, so
  as written the store rejects them (asserted: ``ValidationError`` naming
  ``aggregate_id``). The block is then run with each dict given its stream
  (``{**stream_for_next_append(), "events": [...]}``: the three small appends
  go to one stream with expected nonces 0, 1, 2, the batch to a fresh one),
  and the result is checked.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import fcntl
import inspect
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import PYO3_TESTING, SKIP_NO_SERVER, free_port, server_binary, start_server
from eventstore import EventStoreClient, ValidationError, default_registry
from eventstore._events import definition_of
from eventstore.testing import MockEventStore

pytestmark = pytest.mark.xdist_group("port-50051")

GUIDE_PORT = "127.0.0.1:50051"
BLOCK_TIMEOUT = 15.0


# -- the guide's blocks ------------------------------------------------------


def guide_path() -> Path:
    configured = os.environ.get("EVENTSTORE_GUIDE")
    return Path(configured) if configured else (PYO3_TESTING / "../../shared/spec/python-sdk-guide.md").resolve()


@dataclass(frozen=True)
class Block:
    index: int
    heading: str
    label: str
    code: str
    line: int

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.heading} {self.label}".lower()).strip("-")
        return f"{self.index:02d}-{slug}"

    @property
    def is_pytest_module(self) -> bool:
        return bool(re.search(r"^\s*(@pytest\.fixture|(async\s+)?def test_)", self.code, re.M))


def parse_guide(text: str) -> list[Block]:
    """Every fenced ```python block, with its nearest heading (and bold label)."""
    blocks: list[Block] = []
    heading, label = "", ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^\s*```(\w*)\s*$", line)
        if fence:
            lang, start = fence.group(1).lower(), i + 1
            i += 1
            body = []
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i])
                i += 1
            if lang == "python":
                blocks.append(Block(len(blocks), heading, label, textwrap.dedent("\n".join(body)) + "\n", start + 1))
        elif re.match(r"^#{1,6}\s", line):
            heading, label = line.lstrip("#").strip(), ""
        elif re.match(r"^\*\*[^*]+\*\*", line):
            label = re.match(r"^\*\*([^*]+)\*\*", line).group(1).strip(" :")  # type: ignore[union-attr]
        i += 1
    return blocks


def _load_blocks() -> list[Any]:
    path = guide_path()
    if not path.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"guide not found at {path} (set EVENTSTORE_GUIDE)"))]
    blocks = parse_guide(path.read_text())
    return [pytest.param(b, id=b.id) for b in blocks]


BLOCKS = _load_blocks()


def test_guide_has_the_expected_blocks() -> None:
    """The parser finds the guide's python blocks (not the ``pip install`` one)."""
    path = guide_path()
    if not path.is_file():
        pytest.skip(f"guide not found at {path}")
    blocks = parse_guide(path.read_text())
    assert len(blocks) >= 15
    assert all("pip install" not in b.code for b in blocks)
    assert blocks[0].heading == "Quick Start"
    assert len({b.id for b in blocks}) == len(blocks)


# -- targets: one owner of 127.0.0.1:50051 at a time --------------------------


def _start_mock() -> MockEventStore:
    deadline = time.monotonic() + 5
    while True:
        try:
            return MockEventStore(listen=GUIDE_PORT)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def port_lock() -> Iterator[None]:
    """Serializes the owners of 127.0.0.1:50051 across processes (pytest-xdist workers)."""
    with open(Path(tempfile.gettempdir()) / "eventstore-guide-port-50051.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(params=["mock", "real"])
def guide_target(request: pytest.FixtureRequest) -> Iterator[str]:
    with port_lock():
        yield from _own_the_port(request.param)


def _own_the_port(target: str) -> Iterator[str]:
    if target == "mock":
        mock = _start_mock()
        try:
            yield "mock"
        finally:
            mock.close()
    else:
        binary = server_binary()
        if binary is None:
            pytest.skip(SKIP_NO_SERVER)
        server = start_server(binary, GUIDE_PORT)
        try:
            yield "real"
        finally:
            server.stop()


# -- the prelude ---------------------------------------------------------------

PRELUDE = """
import asyncio
from dataclasses import dataclass
from typing import Optional

from eventstore import AppendRequest, EventStoreClient, MessageContext, event


@event(type="com.myco.order.OrderCreated", revision=1)
@dataclass
class OrderCreated:
    order_id: str
    amount: float
    currency: str = "USD"


@event(type="com.myco.order.OrderShipped", revision=1)
@dataclass
class OrderShipped:
    order_id: str
    tracking_number: str


@event(type="com.myco.order.OrderUpdated", revision=1)
@dataclass
class OrderUpdated:
    order_id: str
    status: str


client = EventStoreClient(endpoint="localhost:50051")

request = AppendRequest(
    aggregate_id="order-new",
    aggregate_type="Order",
    expected_aggregate_nonce=0,
    events=[OrderCreated(order_id="order-new", amount=10.0)],
)
request1 = AppendRequest(
    aggregate_id="order-a", aggregate_type="Order", events=[OrderCreated(order_id="order-a", amount=1.0)]
)
request2 = AppendRequest(
    aggregate_id="order-b", aggregate_type="Order", events=[OrderCreated(order_id="order-b", amount=2.0)]
)
event1 = OrderUpdated(order_id="order-batch", status="one")
event2 = OrderUpdated(order_id="order-batch", status="two")
event3 = OrderUpdated(order_id="order-batch", status="three")
"""


@dataclass
class Ctx:
    """What a scenario works with."""

    target: str
    block: Block
    loop: asyncio.AbstractEventLoop
    checker: EventStoreClient
    tmp_path: Path
    prints: list[str] = field(default_factory=list)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    classes: list[type] = field(default_factory=list)

    def run(self, awaitable: Any, timeout: float = BLOCK_TIMEOUT) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    def namespace(self) -> dict[str, Any]:
        """A fresh namespace: the prelude, plus recording helpers."""
        ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(PRELUDE, "<guide prelude>", "exec"), ns)
        self.classes.extend(v for v in ns.values() if isinstance(v, type) and definition_of(v) is not None)

        def record_print(*args: Any, **kwargs: Any) -> None:
            self.prints.append(" ".join(str(a) for a in args))

        async def load_current_state(aggregate_id: str) -> Any:
            self.calls.append(("load_current_state", (aggregate_id,)))
            return await ns["client"].read_stream(aggregate_id, tenant_id=getattr(ns["request"], "tenant_id", None))

        async def retry_operation(state: Any) -> Any:
            self.calls.append(("retry_operation", (state,)))
            head = state.events[-1].aggregate_nonce if state.events else 0
            return await ns["client"].append_events(ns["request"], expected_aggregate_nonce=head)

        async def retry_with_backoff() -> None:
            self.calls.append(("retry_with_backoff", ()))

        async def process_events(events: list[Any]) -> None:
            self.calls.append(("process_events", (list(events),)))

        ns.update(
            print=record_print,
            load_current_state=load_current_state,
            retry_operation=retry_operation,
            retry_with_backoff=retry_with_backoff,
            process_events=process_events,
        )
        return ns

    def execute(self, ns: dict[str, Any], code: str | None = None, concurrently: Any = None) -> None:
        """Runs the block (or ``code``) in ``ns``; ``concurrently``: a coroutine
        function of ``ns`` run beside a block that awaits."""
        source = self.block.code if code is None else code
        compiled = compile(
            source,
            f"<guide block {self.block.id} (line {self.block.line})>",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        )
        with warnings.catch_warnings():
            # e.g. "content_type 'application/protobuf' without serializer=": expected, not a failure.
            warnings.simplefilter("ignore")
            try:
                if compiled.co_flags & inspect.CO_COROUTINE:

                    async def main() -> None:
                        coroutine = eval(compiled, ns)
                        if concurrently is None:
                            await coroutine
                        else:
                            await asyncio.gather(coroutine, concurrently(ns))

                    self.run(main())
                else:
                    assert concurrently is None
                    run_in_thread(lambda: exec(compiled, ns))
            finally:
                self.classes.extend(v for v in ns.values() if isinstance(v, type) and definition_of(v) is not None)

    # store helpers (through the checker client)

    def append(self, aggregate_id: str, events: list[Any], tenant_id: str | None = None, expected: int = 0) -> Any:
        return self.run(
            self.checker.append_events(
                tenant_id=tenant_id,
                aggregate_id=aggregate_id,
                aggregate_type="Order",
                expected_aggregate_nonce=expected,
                events=events,
            )
        )

    def read(self, aggregate_id: str, tenant_id: str | None = None) -> list[Any]:
        async def all_events() -> list[Any]:
            return [e async for e in self.checker.read_stream_events(aggregate_id, tenant_id=tenant_id)]

        return self.run(all_events())


def run_in_thread(fn: Callable[[], None], timeout: float = BLOCK_TIMEOUT) -> None:
    """Runs a synchronous block in a thread without a running event loop."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the block did not finish within {timeout} s")
    if outcome[0] is not None:
        raise outcome[0]


# -- scenarios: setup, run, check ---------------------------------------------


def scenario_quick_start(ctx: Ctx) -> None:
    ns = ctx.namespace()
    ctx.execute(ns)
    events = ctx.read("order-123", tenant_id="tenant-123")
    assert [e.aggregate_nonce for e in events] == [1, 2]
    assert [e.event_type for e in events] == ["com.myco.order.OrderCreated", "com.myco.order.OrderShipped"]
    assert events[0].payload == ns["OrderCreated"](order_id="order-123", amount=99.99, currency="USD")
    assert events[1].payload == ns["OrderShipped"](order_id="order-123", tracking_number="TRK123456")
    assert all(e.aggregate_type == "Order" and e.tenant_id == "tenant-123" for e in events)


def _openssl_pems(tmp_path: Path) -> tuple[bytes, bytes, bytes]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"openssl is needed to make a throwaway certificate for the TLS example: {e}")
    return cert.read_bytes(), cert.read_bytes(), key.read_bytes()


def scenario_client_configuration(ctx: Ctx) -> None:
    ns = ctx.namespace()
    ns["ca_cert_bytes"], ns["client_cert_bytes"], ns["client_key_bytes"] = _openssl_pems(ctx.tmp_path)
    prelude_client = ns["client"]
    ctx.execute(ns)
    client = ns["client"]
    assert isinstance(client, EventStoreClient) and client is not prelude_client
    assert client.endpoint == "localhost:50051" and not client.closed
    # Configured for TLS against a plaintext store: constructed only, never used.
    ctx.run(client.close())
    assert client.closed


def scenario_event_definition(ctx: Ctx) -> None:
    ns = ctx.namespace()
    ctx.execute(ns)
    cls = ns["OrderCreated"]
    definition = definition_of(cls)
    assert definition is not None
    assert (definition.type, definition.revision, definition.content_type) == (
        "com.myco.order.OrderCreated",
        1,
        "application/json",
    )
    instance = cls(order_id="o-1", amount=5.5)
    assert instance.currency == "USD"
    ctx.append("order-def", [instance, cls(order_id="o-1", amount=1.0, currency=None)])
    events = ctx.read("order-def")
    assert [e.payload for e in events] == [instance, cls(order_id="o-1", amount=1.0, currency=None)]
    assert events[0].content_type == "application/json"


def scenario_append_operations(ctx: Ctx) -> None:
    ns = ctx.namespace()
    # The example expects order-123 of tenant-123 at head 2, and order-456 absent.
    ctx.append(
        "order-123",
        [ns["OrderCreated"](order_id="order-123", amount=1.0), ns["OrderShipped"]("order-123", "TRK")],
        tenant_id="tenant-123",
    )
    ctx.execute(ns)
    events = ctx.read("order-123", tenant_id="tenant-123")
    assert [e.aggregate_nonce for e in events] == [1, 2, 3]
    assert events[2].payload == ns["OrderUpdated"](order_id="order-123", status="confirmed")
    created = ctx.read("order-456", tenant_id="tenant-123")
    assert [e.payload for e in created] == [ns["OrderCreated"](order_id="order-456", amount=149.99)]


def scenario_read_operations(ctx: Ctx) -> None:
    ns = ctx.namespace()
    # The client's tenant ("default") holds order-123 with 12 events.
    updates = [ns["OrderUpdated"]("order-123", f"s{i}") for i in range(1, 13)]
    ctx.append("order-123", updates)
    ctx.execute(ns)
    stream, recent = ns["stream"], ns["recent_events"]
    assert [e.aggregate_nonce for e in stream.events] == list(range(1, 13))
    assert stream.is_end
    assert [e.payload for e in stream.events] == updates
    assert [e.aggregate_nonce for e in recent.events] == [10, 9, 8, 7, 6]
    assert recent.next_from_aggregate_nonce == 5 and not recent.is_end


def scenario_subscription(ctx: Ctx) -> None:
    ns = ctx.namespace()
    order_created, order_updated = ns["OrderCreated"], ns["OrderUpdated"]
    ctx.append("order-1", [order_created("order-1", 1.0), order_updated("order-1", "paid")], tenant_id="tenant-123")
    ctx.append("other-tenant", [order_created("x", 0.0)])  # another tenant: never delivered
    history = ctx.append("Order-7", [order_created("Order-7", 7.0)], tenant_id="tenant-123")
    live: list[Any] = []

    async def stop_when_acknowledged(ns: dict[str, Any]) -> None:
        # Ends the example's endless `async for`: once the block has acked
        # the history, append one event live; once that is acked too, close.
        while "subscription1" not in ns:
            await asyncio.sleep(0.01)
        subscription = ns["subscription1"]
        while subscription.acknowledged < history.last_global_nonce:
            await asyncio.sleep(0.01)
        result = await ctx.checker.append_events(
            tenant_id="tenant-123",
            aggregate_id="order-1",
            aggregate_type="Order",
            expected_aggregate_nonce=2,
            events=[order_updated("order-1", "shipped")],
        )
        live.append(result)
        while subscription.acknowledged < result.last_global_nonce:
            await asyncio.sleep(0.01)
        await subscription.close()

    try:
        ctx.execute(ns, concurrently=stop_when_acknowledged)
    finally:
        for name in ("subscription1", "subscription2"):
            if name in ns:
                ctx.run(ns[name].close())
    assert ctx.prints == [
        f"Received: com.myco.order.OrderCreated {order_created('order-1', 1.0)}",
        f"Received: com.myco.order.OrderUpdated {order_updated('order-1', 'paid')}",
        f"Received: com.myco.order.OrderCreated {order_created('Order-7', 7.0)}",
        f"Received: com.myco.order.OrderUpdated {order_updated('order-1', 'shipped')}",
    ]
    assert ns["subscription1"].acknowledged == live[0].last_global_nonce


def scenario_custom_serialization(ctx: Ctx) -> None:
    ns = ctx.namespace()
    ctx.execute(ns)
    cls = ns["ComplexEvent"]
    definition = definition_of(cls)
    assert definition is not None and definition.content_type == "application/protobuf"
    instance = cls(data=b"\x08\x96\x01", metadata={"source": "test", "n": 1})
    ctx.append("complex-1", [instance])
    (recorded,) = ctx.read("complex-1")
    assert recorded.content_type == "application/protobuf"
    assert recorded.event_type == "com.myco.order.ComplexEvent"
    assert recorded.payload == instance


def scenario_error_handling(ctx: Ctx) -> None:
    # 1. A conflict: the stream already exists, the request expects 0.
    ns = ctx.namespace()
    order_created, order_updated = ns["OrderCreated"], ns["OrderUpdated"]
    ns["request"] = ns["AppendRequest"](
        tenant_id="tenant-123",
        aggregate_id="order-123",
        aggregate_type="Order",
        expected_aggregate_nonce=0,
        events=[order_updated("order-123", "retried")],
    )
    ctx.append("order-123", [order_created("order-123", 1.0)], tenant_id="tenant-123")
    ctx.execute(ns)
    assert ctx.prints == ["Concurrency conflict detected!"]
    assert [c[0] for c in ctx.calls] == ["load_current_state", "retry_operation"]
    assert ctx.calls[0][1] == ("order-123",)
    events = ctx.read("order-123", tenant_id="tenant-123")
    assert [e.payload for e in events] == [order_created("order-123", 1.0), order_updated("order-123", "retried")]

    # 2. Nothing listens: the ConnectionError branch.
    ctx.prints.clear()
    ctx.calls.clear()
    ns = ctx.namespace()
    ns["client"] = EventStoreClient(endpoint=f"127.0.0.1:{free_port()}", connection_timeout=2.0)
    ctx.execute(ns)
    assert ctx.prints == ["Connection failed, will retry..."]
    assert [c[0] for c in ctx.calls] == ["retry_with_backoff"]

    # 3. No error: nothing printed, the event is stored.
    ctx.prints.clear()
    ctx.calls.clear()
    ns = ctx.namespace()
    ctx.execute(ns)
    assert ctx.prints == [] and ctx.calls == []
    assert len(ctx.read("order-new")) == 1


def scenario_context_manager(ctx: Ctx) -> None:
    ns = ctx.namespace()
    prelude_client = ns["client"]
    ctx.execute(ns)
    assert ns["client"] is not prelude_client
    assert ns["client"].closed, "leaving `async with` closes the client"
    (recorded,) = ctx.read("order-new")
    assert recorded.payload == ns["OrderCreated"](order_id="order-new", amount=10.0)


def scenario_message_context(ctx: Ctx) -> None:
    ns = ctx.namespace()
    ctx.execute(ns)
    (recorded,) = ctx.read("order-new")
    assert (recorded.correlation_id, recorded.causation_id) == ("req-123", "cmd-456")
    from eventstore import MessageContext

    assert MessageContext.get().correlation_id is None, "the block's context must not leak into the test's"


def scenario_batching(ctx: Ctx) -> None:
    ns = ctx.namespace()
    # As written, the requests name no stream: the store rejects the first one.
    with pytest.raises(ValidationError, match="aggregate_id"):
        ctx.execute(ns)
    # With each request given its stream (see the module docs).
    ns = ctx.namespace()
    streams = iter(
        [{"aggregate_id": "batch-small", "aggregate_type": "Order", "expected_aggregate_nonce": n} for n in range(3)]
        + [{"aggregate_id": "batch-big", "aggregate_type": "Order", "expected_aggregate_nonce": 0}]
    )
    ns["stream_for_next_append"] = lambda: next(streams)
    code, count = re.subn(r"\{(\s*)\"events\"", r'{\1**stream_for_next_append(), "events"', ctx.block.code)
    assert count == 4, ctx.block.code
    ctx.execute(ns, code=code)
    expected = [ns["event1"], ns["event2"], ns["event3"]]
    small, big = ctx.read("batch-small"), ctx.read("batch-big")
    assert [e.payload for e in small] == expected == [e.payload for e in big]
    assert [e.aggregate_nonce for e in big] == [1, 2, 3]
    globals_big = [e.global_nonce for e in big]
    assert globals_big == list(range(globals_big[0], globals_big[0] + 3)), "one batch: consecutive positions"


def scenario_gather(ctx: Ctx) -> None:
    ns = ctx.namespace()
    order_updated = ns["OrderUpdated"]
    ctx.append("agg1", [order_updated("agg1", "a"), order_updated("agg1", "b")])
    ctx.append("agg2", [order_updated("agg2", "c")])
    ctx.execute(ns)
    appended1, appended2, read1, read2 = ns["results"]
    assert appended1.last_aggregate_nonce == 1 and appended2.last_aggregate_nonce == 1
    assert [e.payload for e in read1.events] == [order_updated("agg1", "a"), order_updated("agg1", "b")]
    assert [e.payload for e in read2.events] == [order_updated("agg2", "c")]
    assert len(ctx.read("order-a")) == 1 and len(ctx.read("order-b")) == 1


def scenario_large_stream(ctx: Ctx) -> None:
    ns = ctx.namespace()
    ctx.execute(ns)
    order_updated = ns["OrderUpdated"]
    for start in range(0, 250, 100):
        ctx.append("big", [order_updated("big", str(i)) for i in range(start, min(start + 100, 250))], expected=start)
    ctx.run(ns["read_large_stream"]("big"))
    pages = [c[1][0] for c in ctx.calls if c[0] == "process_events"]
    assert [len(p) for p in pages] == [100, 100, 50]
    seen = [e.aggregate_nonce for page in pages for e in page]
    assert seen == list(range(1, 251)), "every event exactly once, in order"


def scenario_new_client(ctx: Ctx) -> None:
    """A block that only builds a client: the client must work."""
    ns = ctx.namespace()
    prelude_client = ns["client"]
    ctx.execute(ns)
    client = ns["client"]
    assert isinstance(client, EventStoreClient) and client is not prelude_client

    async def use_it() -> None:
        await client.append_events(
            aggregate_id="smoke", aggregate_type="Order", events=[ns["OrderUpdated"]("smoke", "ok")]
        )
        pages = await asyncio.gather(*(client.read_stream("smoke") for _ in range(8)))
        assert all(len(p.events) == 1 for p in pages)
        await client.close()

    ctx.run(use_it())


def scenario_default(ctx: Ctx) -> None:
    """A block with no specific scenario: it must run without error."""
    ctx.execute(ctx.namespace())


# -- pytest-module blocks (the Testing section) ----------------------------------

PYTEST_CONFTEST = '''
"""Names the guide's test modules use without importing them, as builtins,
so the module's text stays the guide's."""
import builtins
from dataclasses import dataclass

import pytest

from eventstore import AppendRequest, EventStoreClient, event


@event(type="com.myco.order.OrderCreated", revision=1)
@dataclass
class OrderCreated:
    order_id: str
    amount: float
    currency: str = "USD"


AGGREGATE_ID = {aggregate_id!r}
EVENTS = [OrderCreated(order_id=AGGREGATE_ID, amount=99.99) for _ in range({count})]

builtins.pytest = pytest
builtins.EventStoreClient = EventStoreClient
builtins.OrderCreated = OrderCreated
builtins.request = AppendRequest(aggregate_id=AGGREGATE_ID, aggregate_type="Order", events=EVENTS)
# The events the unit-test example's mock expects (its `/* expected events */`).
builtins.expected_events = [OrderCreated(order_id="order-123", amount=99.99)]
'''

PYTEST_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


def make_runnable(code: str) -> tuple[str, list[str]]:
    """The two documented transformations; returns the code and what changed."""
    changes: list[str] = []

    def placeholder(m: re.Match[str]) -> str:
        name = re.sub(r"\W+", "_", m.group(1).strip().lower())
        changes.append(f"/* {m.group(1).strip()} */ -> *{name}")
        return f"*{name}"

    code = re.sub(r"/\*\s*(.*?)\s*\*/", placeholder, code)
    tree = ast.parse(code)
    lines = code.splitlines(keepends=True)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(isinstance(n, ast.Await) for n in _own_nodes(node)):
            line = lines[node.lineno - 1]
            col = line.index("def ", node.col_offset)
            lines[node.lineno - 1] = line[:col] + "async " + line[col:]
            changes.append(f"def {node.name} -> async def {node.name}")
    return "".join(lines), changes


def _own_nodes(fn: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function's body, not of functions nested in it."""
    for child in ast.iter_child_nodes(fn):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield child
            yield from _own_nodes(child)


def run_pytest_module(
    ctx: Ctx, code: str, aggregate_id: str, count: int, name: str
) -> subprocess.CompletedProcess[str]:
    directory = ctx.tmp_path / name
    directory.mkdir()
    (directory / "pytest.ini").write_text(PYTEST_INI)
    (directory / "conftest.py").write_text(PYTEST_CONFTEST.format(aggregate_id=aggregate_id, count=count))
    (directory / f"test_guide_{ctx.block.index:02d}.py").write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(directory)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            # For an EventStoreContainer that runs the real server's binary.
            **({"EVENTSTORE_SERVER_BIN": str(server_binary())} if server_binary() else {}),
        },
    )


def scenario_pytest_module(ctx: Ctx) -> None:
    code, changes = make_runnable(ctx.block.code)
    # The stream the block's test reads or expects: `aggregate_id="..."` in its text.
    ids = re.findall(r'aggregate_id"?\s*[:=]\s*"([^"]+)"', ctx.block.code)
    aggregate_id = ids[0] if ids else "order-123"
    tests = len(re.findall(r"^\s*(?:async\s+)?def test_", code, re.M))
    result = run_pytest_module(ctx, code, aggregate_id, 1, "as-documented")
    report = f"changes: {changes}\n--- module ---\n{code}\n--- pytest ---\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report
    assert re.search(rf"\b{tests} passed\b", result.stdout), report
    assert not re.search(r"\b\d+ (skipped|xfailed|xpassed|errors?)\b", result.stdout), report
    if ctx.target == "mock":
        # Negative control: the same module, but `request` appends two events
        # to another stream: the example's test must then fail.
        control = run_pytest_module(ctx, code, "order-999", 2, "negative-control")
        assert control.returncode == 1 and "failed" in control.stdout, control.stdout + control.stderr


# Scenario per block: by heading, then by content.
def pick_scenario(block: Block) -> Callable[[Ctx], None]:
    if block.is_pytest_module:
        return scenario_pytest_module
    by_heading = {
        "Quick Start": scenario_quick_start,
        "Client Configuration": scenario_client_configuration,
        "Event Definition": scenario_event_definition,
        "Append Operations": scenario_append_operations,
        "Read Operations": scenario_read_operations,
        "Subscription Operations": scenario_subscription,
        "Custom Event Serialization": scenario_custom_serialization,
        "Error Handling": scenario_error_handling,
        "Context Managers": scenario_context_manager,
        "Message Context Propagation": scenario_message_context,
        "Batching Events": scenario_batching,
        "Async Best Practices": scenario_gather,
    }
    if block.heading in by_heading:
        return by_heading[block.heading]
    if "def read_large_stream" in block.code:
        return scenario_large_stream
    if re.search(r"^client = EventStoreClient\(", block.code, re.M):
        return scenario_new_client
    return scenario_default


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """The default event registry as it was before the test (the examples
    register OrderCreated & co.)."""
    by_key = getattr(default_registry, "_by_key", None)
    saved = dict(by_key) if by_key is not None else None
    if by_key is not None:
        by_key.clear()
    try:
        yield
    finally:
        if by_key is not None and saved is not None:
            by_key.clear()
            by_key.update(saved)


@pytest.mark.parametrize("block", BLOCKS)
def test_guide_example(guide_target: str, block: Block, tmp_path: Path, isolated_registry: None) -> None:
    loop = asyncio.new_event_loop()
    checker = EventStoreClient(endpoint="localhost:50051", request_timeout=5.0, connection_timeout=5.0)
    ctx = Ctx(guide_target, block, loop, checker, tmp_path)
    try:
        pick_scenario(block)(ctx)
    finally:
        checker._native.close()
        for cls in ctx.classes:
            default_registry.unregister(cls)
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
