"""The pytest plugin (``eventstore.testing.pytest_plugin``), run from the
outside: small test files executed by pytest in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest
from conftest import readme_example
from eventstore.testing.pytest_plugin import ASYNC_TESTS_HINT

pytest_plugins = ["pytester"]

TIMEOUT = 60  # seconds, per inner pytest run

# Inner runs: no cache, and an explicit loop scope (silences pytest-asyncio's warning).
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""

EVENTS = """
from dataclasses import dataclass
from eventstore import event

@event(type="plugin.OrderCreated", revision=1)
@dataclass
class OrderCreated:
    order_id: str
    amount: float
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini(INI)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=TIMEOUT)


def test_the_plugin_is_a_pytest11_entry_point() -> None:
    found = [ep for ep in entry_points(group="pytest11") if ep.value == "eventstore.testing.pytest_plugin"]
    assert [ep.name for ep in found] == ["eventstore"]


def test_fixtures_are_registered_through_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_empty="def test_nothing(): pass")
    result = run(pytester, "--fixtures")
    assert result.ret == 0
    # (pytest lists fixtures in the order of their "file:line" text.)
    result.stdout.fnmatch_lines(
        ["event_store_mock -- *eventstore*testing*pytest_plugin.py:*", "*A fresh MockEventStore, verified when*"]
    )
    result.stdout.fnmatch_lines(["event_store_client -- *eventstore*testing*pytest_plugin.py:*"])
    traced = run(pytester, "--trace-config", "-q")
    traced.stdout.fnmatch_lines(["PLUGIN registered: <module 'eventstore.testing.pytest_plugin'*"])
    # Disabled by its entry point's name, the fixtures are gone.
    disabled = run(pytester, "-p", "no:eventstore", "--fixtures")
    assert "event_store_mock" not in disabled.stdout.str()


def test_importing_the_plugin_does_not_load_the_native_extension() -> None:
    code = "import sys, eventstore.testing.pytest_plugin; print('eventstore._native' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_a_pytest_run_that_uses_no_fixture_loads_no_native_code(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_light="""
        import sys

        def test_light():
            assert "eventstore.testing.pytest_plugin" in sys.modules
            assert "eventstore._native" not in sys.modules
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_fixtures_with_pytest_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        events=EVENTS,
        test_asyncio=textwrap.dedent(
            """
            import asyncio
            import pytest
            from eventstore import EventStoreClient
            from eventstore.testing import MockEventStore
            from events import OrderCreated

            @pytest.mark.asyncio
            async def test_append_and_read(event_store_mock, event_store_client):
                assert isinstance(event_store_mock, MockEventStore)
                assert isinstance(event_store_client, EventStoreClient)
                event_store_mock.expect_append(aggregate_id="order-1", events=[OrderCreated("order-1", 10)])
                await event_store_client.append_events(
                    aggregate_id="order-1", aggregate_type="Order", events=[OrderCreated("order-1", 10)]
                )
                page = await event_store_client.read_stream("order-1")
                assert [e.payload for e in page.events] == [OrderCreated("order-1", 10.0)]
                sub = await event_store_client.subscribe()
                first = await asyncio.wait_for(sub.__anext__(), 5)
                await sub.close()
                assert first.global_nonce == 1

            def test_sync_test_can_use_the_mock(event_store_mock):
                event_store_mock.expect_read_stream(never=True)
                event_store_mock.seed("s", [OrderCreated("s", 1)])
                assert len(event_store_mock.read("s")) == 1
            """
        ),
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2)


def test_fixtures_with_pytest_asyncio_auto_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_auto="""
        async def test_auto(event_store_mock, event_store_client):
            event_store_mock.expect_read_stream(aggregate_id="x")
            page = await event_store_client.read_stream("x")
            assert page.events == []
        """
    )
    result = run(pytester, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1)


def test_fixtures_with_anyio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        events=EVENTS,
        test_anyio=textwrap.dedent(
            """
            import anyio
            import pytest
            from eventstore import ConcurrencyError
            from events import OrderCreated

            @pytest.fixture
            def anyio_backend():
                return "asyncio"

            @pytest.mark.anyio
            async def test_with_anyio(event_store_mock, event_store_client):
                import asyncio
                asyncio.get_running_loop()  # run by anyio on its asyncio backend
                event_store_mock.expect_append(aggregate_id="order-1", nth=2, fail_with=ConcurrencyError)
                with anyio.fail_after(10):
                    await event_store_client.append_events(
                        aggregate_id="order-1", aggregate_type="Order", events=[OrderCreated("order-1", 1)]
                    )
                    with pytest.raises(ConcurrencyError):
                        await event_store_client.append_events(
                            aggregate_id="order-1",
                            aggregate_type="Order",
                            expected_aggregate_nonce=1,
                            events=[OrderCreated("order-1", 2)],
                        )
                assert [c.status for c in event_store_mock.appends] == ["OK", "ABORTED"]
            """
        ),
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_with_anyio PASSED*"])


def test_an_unmet_expectation_fails_the_test_itself(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        events=EVENTS,
        test_unmet=textwrap.dedent(
            """
            import pytest
            from events import OrderCreated

            @pytest.mark.asyncio
            async def test_wrong_amount(event_store_mock, event_store_client):
                event_store_mock.expect_append(events=[{"payload": {"amount": 10}}])
                await event_store_client.append_events(
                    aggregate_id="order-1", aggregate_type="Order", events=[OrderCreated("order-1", 12)]
                )

            def test_never_called(event_store_mock):
                event_store_mock.expect_read_stream(aggregate_id="order-1")

            def test_met(event_store_mock):
                event_store_mock.expect_read_stream(never=True)

            def test_closed_by_the_test(event_store_mock):
                event_store_mock.close()
            """
        ),
    )
    result = run(pytester)
    # A failure of the test (call phase), not an error at teardown.
    result.assert_outcomes(passed=2, failed=2, errors=0)
    result.stdout.fnmatch_lines(
        [
            "*_ test_wrong_amount _*",
            "*MockEventStore verification failed: 1 problem.*",
            "*events[[]0[]].payload.amount: expected 10, got 12*",
            "*_ test_never_called _*",
            "*expected exactly 1 call, received 0*",
            "FAILED test_unmet.py::test_wrong_amount - Failed: MockEventStore verificati*",
            "FAILED test_unmet.py::test_never_called - Failed: MockEventStore verificati*",
        ]
    )
    out = result.stdout.str()
    assert "teardown" not in out
    # The plugin's and the mock's own frames are hidden.
    assert "pytest_plugin.py" not in out
    assert "_mock.py" not in out
    assert "traceback entries are hidden" not in out


def test_a_test_that_already_failed_is_reported_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_failing="""
        import pytest

        def test_fails_and_leaves_an_unmet_expectation(event_store_mock):
            event_store_mock.expect_read_stream(aggregate_id="order-1")
            assert 1 + 1 == 3, "the test's own failure"

        def test_skipped(event_store_mock):
            event_store_mock.expect_read_stream(aggregate_id="order-1")
            pytest.skip("not today")
        """
    )
    result = run(pytester, "-rA")
    result.assert_outcomes(failed=1, skipped=1, errors=0)
    out = result.stdout.str()
    assert "the test's own failure" in out
    assert "verification failed" not in out
    assert "teardown" not in out


@pytest.mark.parametrize("runner", ["pytest-asyncio", "anyio"])
def test_async_tests_are_verified_after_their_coroutine(pytester: pytest.Pytester, runner: str) -> None:
    mark = "@pytest.mark.asyncio" if runner == "pytest-asyncio" else "@pytest.mark.anyio"
    pytester.makepyfile(
        events=EVENTS,
        test_async=textwrap.dedent(
            f"""
            import asyncio
            import pytest
            from events import OrderCreated

            @pytest.fixture
            def anyio_backend():
                return "asyncio"

            @pytest.fixture
            async def repository(event_store_client):
                yield event_store_client

            {mark}
            async def test_met_late(event_store_mock, repository):
                event_store_mock.expect_append(aggregate_id="order-1")
                await asyncio.sleep(0.05)
                await repository.append_events(
                    aggregate_id="order-1", aggregate_type="Order", events=[OrderCreated("order-1", 1)]
                )

            {mark}
            async def test_unmet(event_store_mock, repository):
                event_store_mock.expect_append(aggregate_id="order-2")
                await repository.read_stream("order-2")
            """
        ),
    )
    # pytest-asyncio takes the async fixture in its auto mode; anyio takes it
    # with pytest-asyncio in strict mode.
    result = run(pytester, "-o", f"asyncio_mode={'auto' if runner == 'pytest-asyncio' else 'strict'}")
    result.assert_outcomes(passed=1, failed=1, errors=0)
    result.stdout.fnmatch_lines(
        [
            "*expected exactly 1 call, received 0*",
            "FAILED test_async.py::test_unmet - Failed: MockEventStore verificati*",
        ]
    )


def test_the_event_store_marker_configures_the_mock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marker="""
        import pytest
        from eventstore import EventStoreError

        @pytest.mark.event_store(strict=True, verify=False)
        @pytest.mark.asyncio
        async def test_strict(event_store_mock, event_store_client):
            assert event_store_mock.strict
            with pytest.raises(EventStoreError):
                await event_store_client.read_stream("nobody-expected-this")

        @pytest.mark.event_store(verify=False)
        def test_not_verified(event_store_mock):
            assert not event_store_mock.strict
            event_store_mock.expect_read_stream(aggregate_id="never-read")

        @pytest.mark.event_store(default_page_size=2, legacy=True)
        def test_other_options(event_store_mock):
            assert event_store_mock.legacy

        def test_default(event_store_mock):
            assert not event_store_mock.strict

        @pytest.mark.event_store(strcit=True)
        def test_misspelled(event_store_mock):
            pass
        """
    )
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_misspelled*", "@pytest.mark.event_store*strcit*"])
    assert "During handling" not in result.stdout.str()
    markers = run(pytester, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.event_store(strict=False, verify=True, **options):*"])


def test_a_strict_marker_reports_unexpected_calls_as_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_strict_module="""
        import pytest

        pytestmark = pytest.mark.event_store(strict=True)

        @pytest.mark.asyncio
        async def test_unexpected_call(event_store_mock, event_store_client):
            try:
                await event_store_client.read_stream("order-9")
            except Exception:
                pass  # the code under test swallowed it; verification still says so
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1, errors=0)
    result.stdout.fnmatch_lines(["*MockEventStore verification failed*", "*order-9*"])


def test_the_mock_is_closed_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_closed="""
        kept = []

        def test_one(event_store_mock):
            kept.append(event_store_mock)
            assert not event_store_mock.closed

        def test_two(event_store_mock):
            assert kept[0].closed
            assert kept[0] is not event_store_mock
            assert event_store_mock.calls == []
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_xdist_workers_are_isolated(pytester: pytest.Pytester) -> None:
    # Every test writes the same stream from nonce 0 and expects exactly its
    # own call: any shared state between tests or workers would fail them.
    tests = "\n".join(
        textwrap.dedent(
            f"""
            @pytest.mark.asyncio
            async def test_isolated_{i}(event_store_mock, event_store_client):
                assert event_store_mock.calls == []
                assert event_store_mock.read("order-1") == []
                event_store_mock.expect_append(aggregate_id="order-1", events=[OrderCreated("order-1", {i})])
                result = await event_store_client.append_events(
                    aggregate_id="order-1", aggregate_type="Order", events=[OrderCreated("order-1", {i})]
                )
                assert (result.last_global_nonce, result.last_aggregate_nonce) == (1, 1)
                await asyncio.sleep(0.05)
                page = await event_store_client.read_stream("order-1")
                assert [e.payload.amount for e in page.events] == [{i}]
                assert len(event_store_mock.calls) == 2
                workers.add(os.environ.get("PYTEST_XDIST_WORKER"))
                with open(os.path.join(OUT, f"{{os.environ['PYTEST_XDIST_WORKER']}}-{i}"), "w") as f:
                    f.write(event_store_mock.endpoint)
            """
        )
        for i in range(8)
    )
    out = pytester.mkdir("out")
    pytester.makepyfile(
        events=EVENTS,
        test_xdist=f"import asyncio, os\nimport pytest\nfrom events import OrderCreated\n"
        f"OUT = {str(out)!r}\nworkers = set()\n{tests}",
    )
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=8)
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 8
    assert {name.split("-")[0] for name in written} == {"gw0", "gw1"}


def test_a_fresh_project_with_the_readme_examples(pytester: pytest.Pytester) -> None:
    # A new user's project: the README's first examples pasted, no pytest
    # configuration at all. pytest-asyncio's default strict mode runs no
    # unmarked async test: each fails with the one line to add (not pytest's
    # list of async plugins to install).
    pytester.makepyfile(
        test_quick_start=readme_example("quick-start"),
        test_retry=readme_example("retry"),
    )
    bare = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=TIMEOUT)
    bare.assert_outcomes(failed=2)
    out = bare.stdout.str()
    for test in ("test_open_order", "test_create_order_retries_after_conflicts"):
        why = "pytest-asyncio is in strict mode, which runs only tests marked @pytest.mark.asyncio"
        assert f"\n{test} is an async def test that no plugin runs ({why}): {ASYNC_TESTS_HINT}\n" in out, out
    # Said once per test. The short summary's FAILED lines repeat each
    # failure's message, cut to the terminal's width, or whole when pytest
    # sees a CI environment (CI or BUILD_NUMBER set): they are not counted.
    said = [line for line in bare.outlines if ASYNC_TESTS_HINT in line and not line.startswith("FAILED ")]
    assert len(said) == 2, out
    assert "not natively supported" not in out, out
    # The README's lines in pyproject.toml: both pass, without a warning.
    pytester.makefile(".toml", pyproject=readme_example("quick-start-config", "toml"))
    configured = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=TIMEOUT)
    configured.assert_outcomes(passed=2, warnings=0)


def test_the_hint_names_pytest_asyncio_when_it_is_missing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_async="async def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio", timeout=TIMEOUT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["test_nothing is an async def test that no plugin runs (pytest-asyncio is not installed): pip install *"]
    )
