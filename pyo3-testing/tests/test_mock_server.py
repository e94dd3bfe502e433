"""The wheel's ``eventstore-mock`` command (``python -m
eventstore.testing.mock_server``): the Rust binary's command line, run from
the wheel. It prints the binary's readiness line, serves a client until
SIGTERM or SIGINT, then exits 0; ``--help`` and usage errors as clap does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import within
from eventstore import EventStoreClient

READY = re.compile(r"^eventstore-mock listening on (\S+)\n$")
# A stopped mock exits at once; a hung one must still fail the test.
EXIT_TIMEOUT = 30


def script() -> Path:
    """The console script the wheel installs, next to this interpreter."""
    path = Path(sys.executable).with_name("eventstore-mock")
    assert path.is_file(), f"the wheel installs the eventstore-mock console script (not in {path.parent})"
    return path


@contextmanager
def serving(command: list[str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The mock process of ``command`` once it printed its readiness line,
    and the address the line names; killed if the test left it running."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = READY.match(line)
        if match is None:
            process.kill()
            _, stderr = process.communicate(timeout=EXIT_TIMEOUT)
            pytest.fail(f"{command}: no readiness line (first line {line!r}, stderr {stderr!r})")
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=EXIT_TIMEOUT)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_script_serves_until_a_signal_then_exits_0(stop: signal.Signals) -> None:
    with serving([str(script()), "--listen", "127.0.0.1:0"]) as (process, address):
        host, _, port = address.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0, address
        async with EventStoreClient(endpoint=address, tenant_id="t", request_timeout=10) as client:
            appended = await within(
                client.append_events(aggregate_id="order-1", aggregate_type="Order", events=[{"event_type": "Placed"}])
            )
            (read,) = await within(client.read_stream("order-1"))
            assert read.event_type == "Placed" and read.global_nonce == appended.last_global_nonce
        assert process.poll() is None, "the mock keeps serving after its client left"
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=EXIT_TIMEOUT)
        assert process.returncode == 0, stderr
        assert stdout == "", "the readiness line is the only line on stdout"
        assert "Traceback" not in stderr, stderr


def test_python_m_runs_the_same_command() -> None:
    with serving([sys.executable, "-m", "eventstore.testing.mock_server", "--listen", "127.0.0.1:0"]) as (
        process,
        _,
    ):
        process.terminate()
        process.communicate(timeout=EXIT_TIMEOUT)
        assert process.returncode == 0


def test_help_and_usage_errors_are_the_binarys() -> None:
    helped = subprocess.run([str(script()), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0, helped.stderr
    assert "Usage: eventstore-mock [OPTIONS] [COMMAND]" in helped.stdout
    assert "--listen <LISTEN>" in helped.stdout and "record" in helped.stdout
    wrong = subprocess.run(
        [str(script()), "--listen", "not-an-address"], capture_output=True, text=True, check=False, timeout=60
    )
    assert wrong.returncode == 2
    assert "--listen" in wrong.stderr and "not-an-address" in wrong.stderr
    record = subprocess.run([str(script()), "record", "--help"], capture_output=True, text=True, check=False)
    assert record.returncode == 0 and "--tenant" in record.stdout, record.stderr


def test_a_mock_that_cannot_serve_exits_1_naming_why(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    done = subprocess.run(
        [str(script()), "--listen", "127.0.0.1:0", "--seed", str(missing)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("eventstore-mock: --seed: "), done.stderr
    assert str(missing) in done.stderr and done.stdout == ""
