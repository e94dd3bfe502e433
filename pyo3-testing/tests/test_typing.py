"""The public types (issue 13, item 5): no ``Any`` leaks where a type is
known. ``basedpyright --verifytypes`` scores both packages 100%, and user
code checked with pyright strict and ``mypy --strict`` gets real types for
the metadata of a :class:`~eventstore.RecordedEvent`, page iteration,
``payload_as``, the ``events`` an append takes and ``MessageContext.get()``.

The README's standalone examples (``check_redelivery`` with a list of
pairs of several event classes), pattern values of ``expect_*`` keywords
(:data:`~eventstore.testing.Matcher`) and ``EventStoreContainer.client``'s
keywords check under both too, and a wrong one is an error in both.

Both checkers come with the ``dev`` extra; without them these tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import readme_example

BASEDPYRIGHT = shutil.which("basedpyright") or str(Path(sys.executable).parent / "basedpyright")


def basedpyright(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not Path(BASEDPYRIGHT).exists():
        pytest.skip("basedpyright is not installed (pip install './pyo3-testing[dev]')")
    # The checker finds packages through the `python` on PATH: this one's.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run(
        [BASEDPYRIGHT, *args],
        cwd=cwd,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("package", ["eventstore", "eventstore.testing"])
def test_verifytypes_scores_100_percent(package: str, tmp_path: Path) -> None:
    # Run outside the source tree, so the installed package is the one checked.
    result = basedpyright("--verifytypes", package, "--ignoreexternal", "--outputjson", cwd=tmp_path)
    report = json.loads(result.stdout)["typeCompleteness"]
    problems = [
        f"{symbol['name']}: {d['message']}"
        for symbol in report["symbols"]
        for d in symbol.get("diagnostics", [])
        if d["severity"] == "error"
    ]
    assert report["completenessScore"] == 1.0, "\n".join(problems)


USER_CODE = """
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from typing_extensions import assert_type

from eventstore import (
    AppendResult, EventInput, EventStoreClient, MessageContext, MessageIds, NewEvent, RecordedEvent, event,
)
from eventstore.testing import MockEventStore, RecordedCall


@event(type="com.myco.Tick", revision=1)
@dataclass
class Tick:
    n: int


async def use(client: EventStoreClient, mock: MockEventStore) -> None:
    batch: Sequence[EventInput] = [Tick(1), NewEvent("com.myco.Other", {"a": 1}), {"event_type": "E"}]
    result = await client.append_events(aggregate_id="t", aggregate_type="T", events=batch)
    assert_type(result, AppendResult)
    page = await client.read_stream("t")
    for e in page:
        assert_type(e, RecordedEvent)
        assert_type(e.global_nonce, int)
        assert_type(e.event_id, str)
        assert_type(e.aggregate_nonce, int)
        assert_type(e.headers, dict[str, str])
        assert_type(e.payload_sha256, bytes)
        assert_type(e.recorded_at, dt.datetime)
        assert_type(e.decoded, bool)
        assert_type(e.payload_as(Tick), Tick)
    for a in await client.read_all():
        assert_type(a, RecordedEvent)
    ids = MessageContext.get()
    assert_type(ids, MessageIds)
    assert_type(ids.correlation_id, str | None)
    mock.seed("t", [Tick(2)])
    mock.expect_append(events=[Tick(3)], fail_with=ValueError)  # {bad_fail_with}
    for call in mock.calls:
        assert_type(call, RecordedCall)
    {bad_line}
"""

BAD_LINES = {
    "metadata": "nonce: str = page.events[0].global_nonce",
    "payload_as": "tick: str = page.events[0].payload_as(Tick)",
    "events": "await client.append_events(aggregate_id='t', aggregate_type='T', events=['not an event'])",
}


def user_code(bad_line: str = "", bad_fail_with: str = "") -> str:
    text = textwrap.dedent(USER_CODE).replace("{bad_line}", bad_line or "pass")
    if not bad_fail_with:
        text = text.replace("fail_with=ValueError)  # {bad_fail_with}", "fail_with=ConnectionError)")
        text = text.replace(
            "from eventstore import (", "from eventstore import ConnectionError\nfrom eventstore import ("
        )
    return text


def test_user_code_type_checks_under_pyright_strict(tmp_path: Path) -> None:
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.10"}))
    (tmp_path / "user.py").write_text(user_code())
    result = basedpyright("--outputjson", "user.py", cwd=tmp_path)
    diagnostics = [
        f"{d['range']['start']['line'] + 1}: {d['message']}"
        for d in json.loads(result.stdout)["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert diagnostics == [], "\n".join(diagnostics)


@pytest.mark.parametrize("case", [*BAD_LINES, "fail_with"])
def test_pyright_strict_rejects_wrong_types(case: str, tmp_path: Path) -> None:
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.10"}))
    code = user_code(bad_fail_with="yes") if case == "fail_with" else user_code(BAD_LINES[case])
    (tmp_path / "user.py").write_text(code)
    result = basedpyright("--outputjson", "user.py", cwd=tmp_path)
    errors = [d for d in json.loads(result.stdout)["generalDiagnostics"] if d["severity"] == "error"]
    assert len(errors) >= 1, f"{case}: no type error reported"


def test_user_code_type_checks_under_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    good = tmp_path / "good.py"
    good.write_text(user_code())
    bad = tmp_path / "bad.py"
    bad.write_text(user_code(BAD_LINES["metadata"]))
    run = [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10", "--no-incremental"]
    ok = subprocess.run([*run, str(good)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert ok.returncode == 0, ok.stdout
    wrong = subprocess.run([*run, str(bad)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert wrong.returncode == 1 and 'Incompatible types in assignment (expression has type "int"' in wrong.stdout


# -- the README's examples, patterns on keywords, the container's client -------------

PATTERNS = """
from __future__ import annotations

import re

from eventstore import EventStoreClient
from eventstore.testing import EventStoreContainer, Matcher, MockEventStore


def expect(mock: MockEventStore) -> None:
    mock.expect_append(aggregate_id={"$regex": "^order-"}, times=3)
    mock.expect_append(aggregate_id=re.compile("^order-", re.IGNORECASE), tenant_id={"$any": True})
    mock.expect_append(aggregate_type={"$eq": "Order"}, idempotency_key=re.compile("^k-"))
    mock.expect_read_stream(aggregate_id=re.compile("^o"), metadata={"user-agent": {"$regex": "."}, "x-id": "1"})
    mock.expect_subscribe(aggregate_id_prefix=re.compile("^order-"), tenant_id="shop")
    mock.expect_read_all(tenant_id=re.compile("^t-"))
    pattern: Matcher = re.compile("^order-")
    mock.expect_append(aggregate_id=pattern)


def connect(store: EventStoreContainer) -> EventStoreClient:
    return store.client(tenant_id="shop", request_timeout=5, connection_timeout=None, credentials=("u", "p"))
"""

# Each line is wrong in one way both checkers must see.
BAD_PATTERN_LINES = {
    "misspelled_operator": 'mock.expect_append(aggregate_id={"$regx": "^order-"})',
    "any_false": 'mock.expect_read_stream(aggregate_id={"$any": False})',
    "bytes_regex": 'mock.expect_append(aggregate_id=re.compile(b"^o"))',
    "container_client_keyword": 'store.client(tenant="x")',
    "container_client_type": 'store.client(request_timeout="5")',
}


def readme_examples() -> dict[str, str]:
    """The README's test examples that stand alone, as modules."""
    return {
        f"readme_{name.replace('-', '_')}.py": readme_example(name)
        for name in ("quick-start", "retry", "projection", "strict")
    }


def typing_files(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """Writes the good modules and one bad module per BAD_PATTERN_LINES
    case; returns the good files' names and each bad file's name by case."""
    good = {**readme_examples(), "patterns.py": textwrap.dedent(PATTERNS)}
    for name, code in good.items():
        (tmp_path / name).write_text(code)
    bad: dict[str, str] = {}
    for case, line in BAD_PATTERN_LINES.items():
        name = f"bad_{case}.py"
        code = (
            textwrap.dedent(PATTERNS)
            + f"\n\ndef wrong(mock: MockEventStore, store: EventStoreContainer) -> None:\n    {line}\n"
        )
        (tmp_path / name).write_text(code)
        bad[case] = name
    return list(good), bad


def test_readme_examples_and_patterns_under_pyright_strict(tmp_path: Path) -> None:
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.10"}))
    good, bad = typing_files(tmp_path)
    result = basedpyright("--outputjson", *good, *bad.values(), cwd=tmp_path)
    errors: dict[str, list[str]] = {}
    for d in json.loads(result.stdout)["generalDiagnostics"]:
        if d["severity"] == "error":
            errors.setdefault(Path(d["file"]).name, []).append(f"{d['range']['start']['line'] + 1}: {d['message']}")
    for name in good:
        assert name not in errors, f"{name}:\n" + "\n".join(errors[name])
    last_line = len((tmp_path / bad["misspelled_operator"]).read_text().splitlines())
    for case, name in bad.items():
        assert [e for e in errors.get(name, []) if e.startswith(f"{last_line}:")], f"{case}: no error; {errors}"


def test_readme_examples_and_patterns_under_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    good, bad = typing_files(tmp_path)
    run = [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10", "--no-incremental"]
    ok = subprocess.run([*run, *good], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert ok.returncode == 0, ok.stdout
    wrong = subprocess.run([*run, *bad.values()], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    last_line = len((tmp_path / bad["misspelled_operator"]).read_text().splitlines())
    for case, name in bad.items():
        assert f"{name}:{last_line}: error:" in wrong.stdout, f"{case}: no error\n{wrong.stdout}"
