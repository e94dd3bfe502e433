"""pytest fixtures for the event store (registered as the ``eventstore`` plugin).

Imports nothing heavy until a fixture is used.

- ``event_store_mock``: a fresh :class:`~eventstore.testing.MockEventStore`
  per test, closed at teardown. Its expectations are verified as part of
  the test itself, right after the test body returns (a hook on the call
  phase): an unmet expectation fails the test (``1 failed``, not a teardown
  error), a test that already failed is not verified again, and a test that
  closed the mock itself is not verified.
- ``@pytest.mark.event_store(strict=True, verify=False)`` configures that
  mock for one test (or a module, with ``pytestmark``): ``strict`` and the
  other keyword options of ``MockEventStore``, and ``verify=False`` to skip
  the verification.
- ``event_store_client``: an :class:`~eventstore.EventStoreClient` talking
  to ``event_store_mock`` in process.
- ``event_store_container``: one :class:`~eventstore.testing.EventStoreContainer`
  for the session (the real store, in Docker or in process).

Each pytest-xdist worker is its own process with its own mocks.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from eventstore import EventStoreClient
    from eventstore.testing import EventStoreContainer, MockEventStore


MARKER = "event_store"
"""``@pytest.mark.event_store(...)``: the options of the test's ``event_store_mock``."""

_MOCKS = pytest.StashKey["list[MockEventStore]"]()
"""The mocks a test's ``event_store_mock`` made that the call phase verifies."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(strict=False, verify=True, **options): configures the test's event_store_mock: "
        "strict mode, whether its expectations are verified when the test returns, and any other "
        "keyword option of MockEventStore (legacy, max_page_size, ...).",
    )


def _marker_options(node: pytest.Item) -> tuple[dict[str, Any], bool]:
    """The mock's keyword options and ``verify`` from the closest
    ``event_store`` marker (none: defaults)."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return {}, True
    if marker.args:
        pytest.fail(
            f"@pytest.mark.{MARKER} takes keyword options only (e.g. strict=True, verify=False), "
            f"got positional {marker.args!r}",
            pytrace=False,
        )
    options = dict(marker.kwargs)
    verify = options.pop("verify", True)
    if not isinstance(verify, bool):
        pytest.fail(f"@pytest.mark.{MARKER}(verify=...) must be True or False, got {verify!r}", pytrace=False)
    return options, verify


@pytest.fixture
def event_store_mock(request: pytest.FixtureRequest) -> Iterator[MockEventStore]:
    """A fresh MockEventStore, verified when the test ends."""
    from eventstore.testing import MockEventStore

    options, verify = _marker_options(request.node)
    problem: str | None = None
    try:
        mock = MockEventStore(**options)
    except TypeError as e:
        problem = str(e)
    if problem is not None:
        pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)
    if verify:
        request.node.stash.setdefault(_MOCKS, []).append(mock)
    try:
        yield mock
    finally:
        mock.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Verifies the test's mocks once its body has returned, so an unmet
    expectation fails the test itself. A test that raised is reported as it
    is: ``yield`` re-raises its error and nothing is verified."""
    result = yield
    for mock in item.stash.get(_MOCKS, ()):
        # A test may close the mock itself (to see how code copes with a
        # store going away); there is nothing left to verify then.
        if mock.closed:
            continue
        try:
            mock.verify()
        except AssertionError as e:
            report = str(e)
        else:
            continue
        # The report says it all: no traceback (every frame would be the plugin's).
        pytest.fail(report, pytrace=False)
    return result


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
