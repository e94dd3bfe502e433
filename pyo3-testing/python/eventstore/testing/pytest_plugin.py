"""pytest fixtures for the event store (registered as the ``eventstore`` plugin).

Imports nothing heavy until a fixture is used.

- ``event_store_mock``: a fresh :class:`~eventstore.testing.MockEventStore`
  per test, verified at teardown (unless the test closed it) and closed.
- ``event_store_client``: an :class:`~eventstore.EventStoreClient` talking
  to ``event_store_mock`` in process.
- ``event_store_container``: one :class:`~eventstore.testing.EventStoreContainer`
  for the session (the real store, in Docker or in process).
- ``event_store_tenant``, ``event_store_endpoint``, ``event_store_tenant_client``
  and the ``--event-store-endpoint`` option: one store shared by a whole
  suite, isolated by a tenant per test (``_shared_store.py``).

Each pytest-xdist worker is its own process with its own mocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

# Registered with this plugin by being imported into it.
from eventstore.testing._shared_store import (  # noqa: F401
    event_store_endpoint,
    event_store_tenant,
    event_store_tenant_client,
    pytest_addoption,
)

if TYPE_CHECKING:
    from eventstore import EventStoreClient
    from eventstore.testing import EventStoreContainer, MockEventStore


@pytest.fixture
def event_store_mock() -> Iterator[MockEventStore]:
    """A fresh MockEventStore, verified when the test ends."""
    from eventstore.testing import MockEventStore

    mock = MockEventStore()
    try:
        yield mock
        # A test may close the mock itself (to see how code copes with a
        # store going away); there is nothing left to verify then.
        if not mock.closed:
            mock.verify()
    finally:
        mock.close()


@pytest.fixture
def event_store_client(event_store_mock: MockEventStore) -> Iterator[EventStoreClient]:
    """A client of ``event_store_mock``, in process (no socket)."""
    from eventstore import EventStoreClient

    client = EventStoreClient(endpoint="mock", store=event_store_mock)
    try:
        yield client
    finally:
        client._native.close()


@pytest.fixture(scope="session")
def event_store_container() -> Iterator[EventStoreContainer]:
    """The real store for the whole test session (Docker, else in process),
    started once and removed at the end. Tests share it: use unique stream
    ids (or tenants) per test."""
    from eventstore.testing import EventStoreContainer

    container = EventStoreContainer().start_blocking()
    try:
        yield container
    finally:
        container.stop_blocking()
