"""pytest fixtures for one store shared by a whole suite (part of the
``eventstore`` pytest plugin).

Tests isolate by tenant instead of resetting the store: tenants are fully
isolated (nothing of one is visible through another), so every test gets a
tenant of its own and a client bound to it, and any number of tests (and
pytest-xdist workers) can use one store at the same time.

- ``event_store_tenant``: a unique tenant id per test (a ``str``).
- ``event_store_endpoint`` (session): the shared store: the endpoint given
  with ``--event-store-endpoint`` (or the ``event_store_endpoint`` ini
  option, or ``$EVENTSTORE_TEST_ENDPOINT``), e.g. one standalone
  ``eventstore-mock`` or server for every xdist worker; without one, the
  session's ``event_store_container`` (one per worker process).
- ``event_store_tenant_client``: an ``EventStoreClient`` of that store whose
  calls default to ``event_store_tenant``.

Imports nothing heavy until a fixture is used.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from eventstore import EventStoreClient

ENDPOINT_ENV = "EVENTSTORE_TEST_ENDPOINT"
"""The environment variable naming a shared store's endpoint."""

_OPTION_HELP = (
    "endpoint (host:port) of one event store shared by the whole test session, every xdist worker included; "
    f"the event_store_tenant_client fixture uses it (also ${ENDPOINT_ENV}; default: the event_store_container)"
)


def add_shared_store_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("eventstore")
    group.addoption("--event-store-endpoint", dest="event_store_endpoint", default=None, help=_OPTION_HELP)
    parser.addini("event_store_endpoint", _OPTION_HELP, default=None)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:60] or "test"


@pytest.fixture
def event_store_tenant(request: pytest.FixtureRequest) -> str:
    """A tenant id of this test alone: ``t-<xdist worker>-<test name>-<random>``
    (at most 100 characters)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"t-{_slug(worker)[:10]}-{_slug(request.node.name)}-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def event_store_endpoint(request: pytest.FixtureRequest) -> str:
    """The endpoint of the store the suite shares (see the module docs)."""
    configured = (
        request.config.getoption("event_store_endpoint", default=None)
        or request.config.getini("event_store_endpoint")
        or os.environ.get(ENDPOINT_ENV)
    )
    if configured:
        return str(configured)
    container = request.getfixturevalue("event_store_container")
    return str(container.endpoint)


@pytest.fixture
def event_store_tenant_client(event_store_endpoint: str, event_store_tenant: str) -> Iterator[EventStoreClient]:
    """A client of the shared store (``event_store_endpoint``) whose calls
    default to this test's ``event_store_tenant``: nothing to reset, and no
    other test sees its events."""
    from eventstore._client import EventStoreClient, close_now

    client = EventStoreClient(endpoint=event_store_endpoint, tenant_id=event_store_tenant)
    try:
        yield client
    finally:
        close_now(client)
