"""The conformance kit as users run it: ``eventstore-conformance check`` and
``diff`` (``python -m eventstore.testing.conformance``), the Python API, and
``pytest --eventstore-conformance=HOST:PORT``.

``check`` runs against every store we ship (the server in memory and on
disk, the standalone ``eventstore-mock``, the container): it is the same
compiled suite ``cargo test`` runs, so these runs prove the published
command is the code our own CI trusts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PYO3_TESTING, SKIP_NO_SERVER, ServerProcess, free_port, server_binary
from eventstore import ConnectionError, ValidationError
from eventstore.testing import EventStoreContainer, MockEventStore
from eventstore.testing.conformance import cases, check, diff

# A whole check run takes seconds; a hung store must still fail the test.
COMMAND_TIMEOUT = 600
SUMMARY = re.compile(
    r"^(\d+) passed, (\d+) failed(, (\d+) refused)?(, (\d+) skipped)?(, (\d+) known reference deviations)?$"
)


def conformance(*args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """The shipped command, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "eventstore.testing.conformance", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_process(command: list[str], ready: str) -> ServerProcess:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    match = re.search(ready + r" listening on (\S+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"{command[0]} did not start (first line: {line!r})")
    return ServerProcess(process, match.group(1))


def mock_binary() -> Path | None:
    configured = os.environ.get("EVENTSTORE_MOCK_BIN")
    server = server_binary()
    default = (server.parent if server else PYO3_TESTING.parent / "target" / "debug") / "eventstore-mock"
    path = Path(configured) if configured else default
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture(params=["server", "durable-server", "standalone-mock", "container"])
def shipped_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store this project ships, running; its ``host:port``."""
    kind: str = request.param
    if kind == "container":
        container = EventStoreContainer().start_blocking()
        try:
            yield container.endpoint
        finally:
            container.stop_blocking()
        return
    if kind == "standalone-mock":
        binary = mock_binary()
        if binary is None:
            pytest.skip("the eventstore-mock binary is missing: run `cargo build -p eventstore-mock`")
        command = [str(binary), "--listen", "127.0.0.1:0"]
        ready = "eventstore-mock"
    else:
        server = server_binary()
        if server is None:
            pytest.skip(SKIP_NO_SERVER)
        command = [str(server), "--listen", "127.0.0.1:0"]
        if kind == "durable-server":
            command += ["--data-dir", str(tmp_path / "data")]
        ready = "eventstore-server"
    process = start_process(command, ready)
    try:
        yield process.endpoint
    finally:
        process.stop()


def test_check_passes_against_every_store_we_ship(shipped_store: str) -> None:
    result = conformance("check", "--endpoint", shipped_store, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == 0, [c for c in report["cases"] if c["status"] == "failed"]
    assert report["known_deviations"] == 0
    assert report["passed"] >= 50
    assert report["passed"] + report["skipped"] == len(cases())
    # Only what a shared store cannot give is skipped: custom limits, a shutdown.
    for case in report["cases"]:
        if case["status"] == "skipped":
            assert case["message"].startswith(("needs a store started with limits", "needs a store the kit")), case


def test_check_prints_a_line_per_case_and_the_summary(real_server: str) -> None:
    result = conformance("check", "--endpoint", real_server, "--only", "read_all::*")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # What it will write, a line per case, what it wrote, the summary.
    assert len(lines) == len(cases("read_all::*")) + 3 == 8
    assert lines[0].startswith(f"checking {real_server}: 5 cases append test events to new tenants"), lines[0]
    assert lines[1] == "passed    read_all::read_all_without_tenant_is_unauthenticated"
    assert any(line.startswith("skipped   read_all::read_all_page_stops_early") for line in lines)
    assert lines[-2].startswith("wrote "), lines[-2]
    match = SUMMARY.match(lines[-1])
    assert match, lines[-1]
    assert (match.group(1), match.group(2)) == ("3", "0")
    assert lines[-1] == "3 passed, 0 failed, 2 skipped"


def test_check_fails_naming_the_rule_a_store_breaks() -> None:
    # A mock whose default ReadAll page is 2 events breaks "max_count 0 is 100".
    with MockEventStore(default_page_size=2) as store:
        result = conformance("check", "--endpoint", store.endpoint, "--only", "read_all_max_count_zero")
    assert result.returncode == 1, result.stdout + result.stderr
    plan, first, written, summary = result.stdout.splitlines()
    assert plan.startswith(f"checking {store.endpoint}: 1 case appends test events"), plan
    assert written.startswith("wrote "), written
    assert first.startswith(
        "FAILED    read_all::read_all_max_count_zero_is_100_and_large_is_capped "
        "[ReadAll: max_count 0 is 100, larger than 1,000 is capped]: "
    ), first
    assert "read_all.rs" in first
    assert summary == "0 passed, 1 failed"


def test_check_reports_a_store_it_cannot_use() -> None:
    unreachable = conformance("check", "--endpoint", "127.0.0.1:1", timeout=60)
    assert unreachable.returncode == 2
    assert "cannot reach 127.0.0.1:1: " in unreachable.stderr
    malformed = conformance("check", "--endpoint", "no-port-here")
    assert malformed.returncode == 2
    assert '"no-port-here"' in malformed.stderr and "HOST:PORT" in malformed.stderr
    half_tls = conformance("check", "--endpoint", "127.0.0.1:1", "--tls-cert", "c.pem")
    assert half_tls.returncode == 2
    assert "required arguments were not provided:\n  --tls-key <FILE>" in half_tls.stderr
    nothing = conformance("check", "--endpoint", "127.0.0.1:1", "--only", "no-such-case")
    assert nothing.returncode == 2
    assert "'no-such-case' selects no conformance case" in nothing.stderr


def test_the_python_command_takes_every_connection_flag_of_the_rust_one() -> None:
    """The Python command passes its argv to the Rust command line: the
    shared connection flags (``--tls-domain`` and ``--token`` included, with
    their environment variables) are its own, and a run with them fails as
    the connector says, not as a parser that does not know them."""
    help = conformance("check", "--help")
    assert help.returncode == 0, help.stderr
    for flag in ("--tls-ca", "--tls-cert", "--tls-key", "--tls-domain", "--username", "--password", "--token"):
        assert f"  {flag} <" in help.stdout, (flag, help.stdout)
    assert "[env: EVENTSTORE_PASSWORD]" in help.stdout and "[env: EVENTSTORE_TOKEN]" in help.stdout
    port = free_port()
    closed = conformance(
        "check", "--endpoint", f"127.0.0.1:{port}", "--tls-domain", "store.internal", "--token", "t0ken", timeout=60
    )
    assert closed.returncode == 2, closed.stdout + closed.stderr
    assert closed.stderr.startswith(f"eventstore-conformance: cannot reach 127.0.0.1:{port}: "), closed.stderr
    assert "t0ken" not in closed.stderr


def test_check_needs_the_credentials_of_a_store_that_requires_them() -> None:
    with MockEventStore(credentials={"username": "kit", "password": "s3cret"}) as store:
        refused = conformance("check", "--endpoint", store.endpoint, "--only", "append_then_read_back")
        assert refused.returncode == 2
        assert "refused the credentials" in refused.stderr
        accepted = conformance(
            "check",
            "--endpoint",
            store.endpoint,
            "--username",
            "kit",
            "--password",
            "s3cret",
            "--only",
            "append_then_read_back",
        )
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert accepted.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_the_python_api_returns_each_result() -> None:
    with MockEventStore() as store:
        seen: list[str] = []
        report = check(store.endpoint, only="idempotent", on_result=lambda r: seen.append(r.case))
        with pytest.raises(ConnectionError, match=r"cannot reach 127\.0\.0\.1:1: "):
            check("127.0.0.1:1", only="idempotent")
        with pytest.raises(ValidationError, match="tls"):
            check(store.endpoint, only="idempotent", tls={"ca_certificate": Path("/no/such/ca.pem")})
    assert report.ok
    assert seen == [r.case for r in report.results] == [c.id for c in cases("idempotent")]
    assert len(seen) >= 3
    assert all(r.status == "passed" for r in report.results)
    assert all(r.known_deviation for r in report.results if "retr" in r.case)
    assert json.loads(report.json)["passed"] == len(seen)


def test_diff_between_the_mock_and_the_server_finds_nothing(real_server: str) -> None:
    with MockEventStore() as store:
        result = conformance("diff", "--a", store.endpoint, "--b", real_server, "--ops", "500", "--seed", "11")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["500 operations, 0 differences"]


def test_diff_prints_each_differing_answer() -> None:
    with MockEventStore() as a, MockEventStore(default_page_size=2) as b:
        result = conformance("diff", "--a", a.endpoint, "--b", b.endpoint, "--ops", "200", "--seed", "3")
        again = diff(a.endpoint, b.endpoint, ops=200, seed=3)
    assert result.returncode == 1, result.stdout + result.stderr
    summary = result.stdout.splitlines()[-1]
    match = re.fullmatch(r"200 operations, (\d+) differences", summary)
    assert match and int(match.group(1)) > 0, summary
    assert "ReadAll" in result.stdout and "\n  a: Ok(" in result.stdout and "\n  b: Ok(" in result.stdout
    # The same seed, the same operations, the same differences.
    assert not again.ok
    assert again.summary == summary
    assert json.loads(again.json)["operations"] == 200


def test_diff_reports_a_store_it_cannot_use() -> None:
    with MockEventStore() as store:
        result = conformance("diff", "--a", store.endpoint, "--b", "127.0.0.1:1", "--ops", "5", timeout=60)
    assert result.returncode == 2
    assert "store b: cannot reach 127.0.0.1:1: " in result.stderr
    bad_ops = conformance("diff", "--a", "x:1", "--b", "y:1", "--ops", "-1")
    assert bad_ops.returncode == 2 and "--ops" in bad_ops.stderr


def test_pytest_runs_the_cases_as_tests(tmp_path: Path) -> None:
    with MockEventStore() as store:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-rs",
                f"--eventstore-conformance={store.endpoint}",
                "--eventstore-conformance-only=read_all::*",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed, 2 skipped" in result.stdout, result.stdout
    assert "needs a store started with limits" in result.stdout


def readme_commands() -> list[list[str]]:
    """The ``eventstore-conformance`` commands of the README section
    "Is the mock faithful to my store?", split into arguments."""
    readme = (PYO3_TESTING.parent / "README.md").read_text()
    section = readme.split("## Is the mock faithful to my store?", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split() for line in block.splitlines() if line.startswith("eventstore-conformance ")]


def test_the_readme_commands_run_as_written(real_server: str) -> None:
    commands = readme_commands()
    assert [c[1] for c in commands] == ["check", "diff"]
    script = Path(sys.executable).with_name("eventstore-conformance")
    assert script.is_file(), "the wheel installs the eventstore-conformance console script"
    with MockEventStore() as mock:
        # The README's store is my-store:50051 and its mock 127.0.0.1:50061;
        # the one change: 300 operations rather than 10,000, for CI time.
        rename = {"my-store:50051": real_server, "127.0.0.1:50061": mock.endpoint, "10000": "300"}
        for command in commands:
            args = [rename.get(arg, arg) for arg in command[1:]]
            result = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
            assert result.returncode == 0, result.stdout + result.stderr
            last = result.stdout.splitlines()[-1]
            assert re.fullmatch(r"\d+ passed, 0 failed, \d+ skipped|300 operations, 0 differences", last), last
