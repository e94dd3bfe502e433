"""Shared fixtures of the Python SDK's tests.

- ``real_server`` (session): the real ``eventstore-server`` binary on a free
  port, killed at the end. The binary is ``$EVENTSTORE_SERVER_BIN`` or
  ``../target/debug/eventstore-server`` (build it with
  ``cargo build -p eventstore-server``); tests that need it are skipped with
  that hint when it is missing.
- ``mock``: a fresh in-process :class:`~eventstore.testing.MockEventStore`.
- ``target``: parametrized over the three ways to reach a store (the mock in
  process, the mock over the network, the real server), each with its own
  fresh tenant, and a ``client()`` factory whose clients are closed at
  teardown.

Every warning is an error (``filterwarnings`` in ``pyproject.toml``): a test
that reads an unregistered event type's payload expects the
``UnregisteredEventWarning`` with ``pytest.warns``; the SDK warns once per
type and revision in a process, so that memory is cleared before each test
(``fresh_unregistered_warnings``) and the warning comes whatever ran before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eventstore import EventStoreClient, UnregisteredEventWarning, _models
from eventstore.testing import MockEventStore

PYO3_TESTING = Path(__file__).resolve().parent.parent

# Every await in these tests that could hang is bounded by this (seconds).
STEP_TIMEOUT = 10.0


def server_binary() -> Path | None:
    """The real server binary, or ``None`` when it is not built."""
    configured = os.environ.get("EVENTSTORE_SERVER_BIN")
    path = Path(configured) if configured else PYO3_TESTING.parent / "target" / "debug" / "eventstore-server"
    return path if path.is_file() and os.access(path, os.X_OK) else None


SKIP_NO_SERVER = (
    "the real server binary is missing: run `cargo build -p eventstore-server` or set EVENTSTORE_SERVER_BIN to its path"
)


def readme_example(name: str, language: str = "python") -> str:
    """The ```python (or ``language``) block after ``<!-- readme-example:
    NAME -->`` in this package's README (the examples the tests run and
    type-check)."""
    text = (PYO3_TESTING / "README.md").read_text()
    match = re.search(rf"<!-- readme-example: {name} -->\n```{language}\n(.*?)```", text, re.S)
    assert match, f"README.md has no example {name!r}"
    return match.group(1)


def free_port() -> int:
    """A TCP port nothing listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A running ``eventstore-server``."""

    process: subprocess.Popen[bytes]
    endpoint: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server(binary: Path, listen: str, *, attempts_until: float = 5.0) -> ServerProcess:
    """Starts the real server on ``listen`` and waits for its readiness line.

    Binding is retried until ``attempts_until`` seconds have passed, for a
    fixed port that the previous owner is still releasing.
    """
    deadline = time.monotonic() + attempts_until
    while True:
        process = subprocess.Popen(
            [str(binary), "--listen", listen],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        match = re.search(r"eventstore-server listening on (\S+)", line)
        if match:
            return ServerProcess(process, match.group(1))
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"eventstore-server did not start on {listen} (first line: {line!r})")
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def fresh_unregistered_warnings() -> None:
    """Forgets which unregistered event types were warned about, so that
    each test sees (and must expect) the warnings of the payloads it reads."""
    _models._WARNED.clear()  # pyright: ignore[reportPrivateUsage]


@contextlib.contextmanager
def expect_unregistered(*event_types: str) -> Iterator[None]:
    """Expects the ``UnregisteredEventWarning`` of each event type named,
    once each, and no other (reading a payload of an unregistered type on
    purpose; other warnings still fail the test)."""
    with pytest.warns(UnregisteredEventWarning) as caught:
        yield
    warned = sorted(re.sub(r"^event type '([^']*)'.*", r"\1", str(w.message), flags=re.S) for w in caught)
    assert warned == sorted(event_types), [str(w.message) for w in caught]


@pytest.fixture(scope="session")
def real_server() -> Iterator[str]:
    """The real server on a free port, for the whole session; its ``host:port``."""
    binary = server_binary()
    if binary is None:
        pytest.skip(SKIP_NO_SERVER)
    server = start_server(binary, "127.0.0.1:0")
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def mock() -> Iterator[MockEventStore]:
    """A fresh in-process mock (not verified automatically), closed at teardown."""
    store = MockEventStore()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def client(mock: MockEventStore) -> EventStoreClient:
    """An in-process client of ``mock``; test files that need another
    transport or checks at teardown override it."""
    return EventStoreClient(endpoint="mock", store=mock, request_timeout=10)


def unique(prefix: str) -> str:
    """A fresh id, so tests sharing the session's real server never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Target:
    """One way to reach a store, with a fresh tenant."""

    name: str
    endpoint: str
    mock: MockEventStore | None
    tenant: str
    clients: list[EventStoreClient] = field(default_factory=list)

    def client(self, **options: Any) -> EventStoreClient:
        """A client of this store (tenant: this target's tenant, or the
        client's default with ``tenant_id=None``); closed at teardown."""
        options.setdefault("tenant_id", self.tenant)
        if options["tenant_id"] is None:
            del options["tenant_id"]
        options.setdefault("request_timeout", STEP_TIMEOUT)
        options.setdefault("connection_timeout", STEP_TIMEOUT)
        if self.name == "mock-inproc":
            client = EventStoreClient(endpoint="mock", store=self.mock, **options)
        else:
            client = EventStoreClient(endpoint=self.endpoint, **options)
        self.clients.append(client)
        return client


TARGETS = ["mock-inproc", "mock-network", "real"]


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The mock in process (``endpoint="mock", store=mock``), the mock over
    the network (``endpoint=mock.endpoint``), and the real server."""
    name = request.param
    store = None
    if name == "real":
        endpoint = request.getfixturevalue("real_server")
    else:
        store = MockEventStore()
        endpoint = "mock" if name == "mock-inproc" else store.endpoint
    t = Target(name, endpoint, store, unique("tenant"))
    try:
        yield t
    finally:
        for client in t.clients:
            client._native.close()
        if store is not None:
            store.close()


async def within(awaitable: Any, seconds: float = STEP_TIMEOUT) -> Any:
    """Awaits with a timeout, so a broken subscription fails instead of hanging."""
    return await asyncio.wait_for(awaitable, seconds)
