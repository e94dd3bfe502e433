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
- ``event_store_tenant``, ``event_store_endpoint``, ``event_store_tenant_client``
  and the ``--event-store-endpoint`` option: one store shared by a whole
  suite, isolated by a tenant per test (``_shared_store.py``).
- an ``async def`` test that no plugin runs (pytest-asyncio in its default
  strict mode runs only tests marked ``@pytest.mark.asyncio``) fails with
  the one line to add: ``asyncio_mode = "auto"`` under
  ``[tool.pytest.ini_options]``, instead of pytest's list of async plugins.
- ``--eventstore-conformance=HOST:PORT``: every case of the conformance kit
  (:mod:`eventstore.testing.conformance`) as a test against that store:
  failed cases fail, cases the store cannot host are skipped, known
  reference deviations are xfailed, cases whose credentials the store
  refused fail saying so.

Each pytest-xdist worker is its own process with its own mocks.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from eventstore.testing._shared_store import add_shared_store_options

# Fixtures registered with this plugin by being imported into it (`x as x`:
# a re-export, so no checker calls the import unused).
from eventstore.testing._shared_store import event_store_endpoint as event_store_endpoint
from eventstore.testing._shared_store import event_store_tenant as event_store_tenant
from eventstore.testing._shared_store import event_store_tenant_client as event_store_tenant_client

if TYPE_CHECKING:
    from eventstore import EventStoreClient
    from eventstore.testing import EventStoreContainer, MockEventStore
    from eventstore.testing.conformance import ConformanceSession


MARKER = "event_store"
"""``@pytest.mark.event_store(...)``: the options of the test's ``event_store_mock``."""

_MOCKS = pytest.StashKey["list[MockEventStore]"]()
"""The mocks a test's ``event_store_mock`` made that the call phase verifies."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(strict=False, verify=True, **options): configures the test's event_store_mock: "
        "strict mode, whether its expectations are verified when the test returns, and any other "
        "keyword option of MockEventStore (legacy, backend, max_page_size, ...).",
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
    mock: MockEventStore | None = None
    problem = ""
    try:
        mock = MockEventStore(**options)
    except TypeError as e:
        problem = str(e)
    if mock is None:
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
        # verify()'s report without its AssertionError: the plugin's own
        # hook into MockEventStore (a private method, not a user's API).
        report = mock._unmet_report()  # pyright: ignore[reportPrivateUsage]
        if report is not None:
            # The report says it all: no traceback (every frame would be the plugin's).
            pytest.fail(report, pytrace=False)
    return result


ASYNC_TESTS_HINT = (
    'add asyncio_mode = "auto" under [tool.pytest.ini_options] in pyproject.toml '
    "(or mark the test @pytest.mark.asyncio)"
)
"""What a project whose ``async def`` tests no plugin runs is missing."""


def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object | None:
    """An ``async def`` test still a coroutine function here was taken by no
    async plugin (pytest-asyncio runs it as a plain function by now; anyio,
    pytest-twisted and pytest-tornasync run theirs in ``tryfirst`` hooks,
    before this one): it fails with the line to add, before pytest's own
    ``trylast`` hook fails it with a list of plugins to install."""
    test = pyfuncitem.obj
    if not (inspect.iscoroutinefunction(test) or inspect.isasyncgenfunction(test)):
        return None
    if pyfuncitem.config.pluginmanager.has_plugin("asyncio"):
        why = "pytest-asyncio is in strict mode, which runs only tests marked @pytest.mark.asyncio"
        todo = ASYNC_TESTS_HINT
    else:
        why = "pytest-asyncio is not installed"
        todo = "pip install pytest-asyncio (or eventstore-sdk-py[test]), then " + ASYNC_TESTS_HINT
    pytest.fail(f"{pyfuncitem.name} is an async def test that no plugin runs ({why}): {todo}", pytrace=False)


@pytest.fixture
def event_store_client(event_store_mock: MockEventStore) -> Iterator[EventStoreClient]:
    """A client of ``event_store_mock``, in process (no socket)."""
    from eventstore._client import EventStoreClient, close_now

    client = EventStoreClient(endpoint="mock", store=event_store_mock)
    try:
        yield client
    finally:
        close_now(client)


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


# ---------------------------------------------------------------------------
# The conformance kit as tests: ``pytest --eventstore-conformance=HOST:PORT``
# ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    add_shared_store_options(parser)
    group = parser.getgroup("eventstore")
    group.addoption(
        "--eventstore-conformance",
        metavar="HOST:PORT",
        default=None,
        help="run every case of the eventstore conformance kit against the store at HOST:PORT, one test per case",
    )
    group.addoption(
        "--eventstore-conformance-only",
        metavar="PATTERN",
        default=None,
        help="with --eventstore-conformance: only the cases whose id contains PATTERN, or matches it as a glob",
    )


class _ConformanceRun:
    """The session's connection to the store under test, made on first use."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._session: ConformanceSession | None = None
        self._error: str | None = None

    def session(self) -> ConformanceSession:
        from eventstore._errors import EventStoreError
        from eventstore.testing.conformance import ConformanceSession

        if self._session is None and self._error is None:
            try:
                self._session = ConformanceSession(self.endpoint)
            except (EventStoreError, ValueError) as error:
                self._error = str(error)
        if self._session is None:
            pytest.fail(f"eventstore conformance: {self._error}", pytrace=False)
        return self._session


class ConformanceItem(pytest.Item):
    """One case of the conformance kit, run against ``--eventstore-conformance``."""

    def __init__(self, *, case: str, rule: str, run: _ConformanceRun, **kwargs: Any) -> None:
        # pytest leaves Item.__init__'s name, parent and **kw unannotated.
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.case = case
        self.rule = rule
        self.run = run

    def runtest(self) -> None:
        result = self.run.session().run(self.case)
        if result.status == "skipped":
            pytest.skip(result.message or "skipped")
        if result.status == "known_deviation":
            pytest.xfail(f"known reference deviation ({result.known_deviation}): {result.message}")
        if result.status == "failed":
            pytest.fail(f"{self.rule}\n{result.message}", pytrace=False)
        if result.status == "refused":
            # Not a broken rule, but nothing was checked: the credentials.
            pytest.fail(f"not checked, the store refused the credentials: {self.rule}\n{result.message}", pytrace=False)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return ("eventstore-conformance", None, f"{self.case} [{self.rule}]")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    endpoint: str | None = config.getoption("--eventstore-conformance", default=None)
    if not endpoint:
        return
    from eventstore.testing.conformance import cases

    run = _ConformanceRun(endpoint)
    only: str | None = config.getoption("--eventstore-conformance-only", default=None)
    for case in cases(only):
        # pytest leaves from_parent's **kw unannotated.
        item = ConformanceItem.from_parent(  # pyright: ignore[reportUnknownMemberType]
            session, name=f"eventstore-conformance::{case.id}", case=case.id, rule=case.rule, run=run
        )
        items.append(item)
