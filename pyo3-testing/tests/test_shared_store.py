"""One store shared by a whole suite, isolated by ``event_store_tenant``:
a suite whose tests all write the same stream id passes under
``pytest -n 4`` against one mock, and fails without the tenant per test.
Also runs the README's consumer examples (``<!-- readme-example: ... -->``
blocks of ``pyo3-testing/README.md``) as pytest modules."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import readme_example
from eventstore.testing import MockEventStore

SUITE = """
from dataclasses import dataclass

import pytest
from eventstore import EventStoreClient, event


@event(type="suite.OrderCreated", revision=1)
@dataclass
class OrderCreated:
    order_id: str


@pytest.fixture
def client(request, event_store_tenant_client, event_store_endpoint):
    if request.config.getoption("--fixed-tenant"):
        fixed = EventStoreClient(endpoint=event_store_endpoint, tenant_id="one-tenant-for-all")
        yield fixed
        fixed._native.close()
    else:
        yield event_store_tenant_client


@pytest.mark.parametrize("i", range(12))
async def test_the_same_stream_in_every_test(client, i):
    # Every test creates "order-1" expecting it not to exist yet, and reads the
    # whole log: only a tenant of its own makes that pass beside the others.
    await client.append_events(aggregate_id="order-1", aggregate_type="Order", expected_aggregate_nonce=0,
                               events=[OrderCreated("order-1")])
    page = await client.read_all()
    assert [e.aggregate_id for e in page.events] == ["order-1"]
"""

CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--fixed-tenant", action="store_true")
"""

INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


def run_pytest(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
    )


def write_suite(folder: Path, name: str, code: str) -> None:
    (folder / name).write_text(code)
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "pytest.ini").write_text(INI)


def test_a_suite_shares_one_store_under_xdist(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    write_suite(tmp_path, "test_suite.py", SUITE)
    with MockEventStore() as mock:
        result = run_pytest(tmp_path, "-n", "4", "--event-store-endpoint", mock.endpoint)
        report = result.stdout + result.stderr
        assert result.returncode == 0, report
        assert re.search(r"\b12 passed\b", report), report
        tenants = {c.request["tenant_id"] for c in mock.appends}
        assert len(tenants) == 12, tenants
        workers = {t.split("-")[1] for t in tenants}
        assert len(workers) > 1 and all(re.fullmatch(r"gw\d", w) for w in workers), workers

        # Negative control: the same suite on one tenant for all fails (the
        # endpoint from the environment variable this time).
        control = run_pytest(tmp_path, "--fixed-tenant", env={"EVENTSTORE_TEST_ENDPOINT": mock.endpoint})
        assert control.returncode == 1, control.stdout + control.stderr
        assert "ConcurrencyError" in control.stdout, control.stdout
        assert re.search(r"\b11 failed, 1 passed\b", control.stdout), control.stdout


_SEEN_TENANTS: list[str] = []


@pytest.mark.parametrize("i", range(3))
def test_event_store_tenant_is_unique_per_test(event_store_tenant: str, i: int) -> None:
    assert isinstance(event_store_tenant, str)
    assert event_store_tenant.startswith("t-") and len(event_store_tenant) <= 100
    assert f"test_event_store_tenant_is_unique_per_test-{i}" in event_store_tenant
    assert event_store_tenant not in _SEEN_TENANTS
    _SEEN_TENANTS.append(event_store_tenant)


# -- the README's consumer examples -------------------------------------------------


@pytest.mark.parametrize("name", ["retry", "projection", "strict"])
def test_readme_example_runs(name: str, tmp_path: Path) -> None:
    code = readme_example(name)
    write_suite(tmp_path, f"test_readme_{name}.py", code)
    tests = len(re.findall(r"^async def test_", code, re.M))
    result = run_pytest(tmp_path, "-p", "no:xdist")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"\b{tests} passed\b", result.stdout), result.stdout


def test_readme_property_example_runs_in_a_default_hypothesis_run(tmp_path: Path) -> None:
    # The README's property test and state machine, as a user runs them:
    # default Hypothesis settings (a deadline, 100 examples), warnings as errors.
    write_suite(tmp_path, "test_readme_property.py", readme_example("property"))
    (tmp_path / "pytest.ini").write_text(INI + "filterwarnings = error\n")
    result = run_pytest(tmp_path, "-p", "no:xdist")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b2 passed\b", result.stdout), result.stdout


@pytest.mark.parametrize("store", ["shared mock, -n 2", "container"])
def test_readme_shared_store_example_runs(store: str, tmp_path: Path) -> None:
    code = readme_example("projection") + "\n" + readme_example("shared-store")
    write_suite(tmp_path, "test_readme_shared.py", code)
    if store == "container":
        result = run_pytest(tmp_path, "-p", "no:xdist")
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"\b3 passed\b", result.stdout), result.stdout
        return
    pytest.importorskip("xdist")
    with MockEventStore() as mock:
        result = run_pytest(tmp_path, "-n", "2", "--event-store-endpoint", mock.endpoint)
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"\b3 passed\b", result.stdout), result.stdout
        assert [c.request["tenant_id"].startswith("t-gw") for c in mock.appends] == [True]
