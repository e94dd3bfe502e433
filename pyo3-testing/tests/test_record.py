"""The recorder from the wheel (``python -m eventstore.testing.record``) and
its replay (``MockEventStore.from_fixture``): a tenant recorded from the real
server reads back through the mock with the same events and nonces; bad
fixtures and bad options get errors naming what is wrong.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import expect_unregistered, unique
from eventstore import HEAD, EventStoreClient, NewEvent, RecordedEvent, ValidationError, event
from eventstore.testing import MockEventStore
from eventstore.testing.record import main as record


@event(type="tests.record.Placed", revision=2)
@dataclass
class Placed:
    order_id: str
    email: str
    amount: int


def snapshot(e: RecordedEvent) -> tuple[object, ...]:
    """Every metadata field and the payload: what a reader can see."""
    return (*(getattr(e, name) for name in sorted(RecordedEvent.METADATA_FIELDS)), e.payload)


async def everything(client: EventStoreClient, tenant: str, streams: list[str]) -> list[object]:
    """The answers of many reads: ReadAll pages both ways, every stream both ways."""
    answers: list[object] = []
    for forward in (True, False):
        start = 1 if forward else HEAD
        async for page in client.read_all_pages(
            tenant_id=tenant, from_global_nonce=start, forward=forward, page_size=2
        ):
            answers.append(([snapshot(e) for e in page.events], page.is_end, page.next_from_global_nonce))
        for aggregate in streams:
            page = await client.read_stream(tenant_id=tenant, aggregate_id=aggregate, forward=forward, max_count=2)
            answers.append(([snapshot(e) for e in page.events], page.is_end))
    return answers


async def test_recorded_tenant_replays_in_the_mock(real_server: str, tmp_path: Path) -> None:
    tenant, other = unique("tenant"), unique("other")
    orders = [unique("order"), unique("order")]
    async with EventStoreClient(endpoint=real_server) as source:
        for i, aggregate in enumerate(orders * 2):
            # Another tenant writes in between: the recorded global nonces have gaps.
            await source.append_events(
                tenant_id=other,
                aggregate_id=unique("x"),
                aggregate_type="X",
                expected_aggregate_nonce=0,
                events=[Placed("x", "x@x", 0)],
            )
            await source.append_events(
                tenant_id=tenant,
                aggregate_id=aggregate,
                aggregate_type="Order",
                expected_aggregate_nonce=(i // 2) * 2,
                events=[
                    Placed(aggregate, f"customer{i % 2}@example.com", i),
                    NewEvent(
                        event_type="tests.record.Blob",
                        payload=bytes([0, 255, i]),
                        headers={"h": str(i)},
                        correlation_id=f"c-{i}",
                        actor_id="alice",
                    ),
                ],
            )
        out = tmp_path / "fixture.json"
        assert record(["--from", real_server, "--tenant", tenant, "--out", str(out), "--page-size", "3"]) == 0
        with expect_unregistered("tests.record.Blob"):
            expected = await everything(source, tenant, orders)

    with MockEventStore.from_fixture(out) as mock:
        async with EventStoreClient(endpoint="mock", store=mock) as replay:
            # (The Blob type warned once already, above.)
            assert await everything(replay, tenant, orders) == expected
            # The mock starts empty but for the fixture: nothing of the other tenant.
            assert (await replay.read_all(tenant_id=other)).events == []


async def test_redacted_recording_keeps_equal_values_equal(tmp_path: Path) -> None:
    with MockEventStore() as source:
        async with EventStoreClient(endpoint="mock", store=source) as client:
            for i, email in enumerate(["ann@x.io", "bob@x.io", "ann@x.io"]):
                await client.append_events(
                    aggregate_id="order-1",
                    aggregate_type="Order",
                    expected_aggregate_nonce=i,
                    events=[Placed("order-1", email, i)],
                )
        out = tmp_path / "redacted.json"
        args = ["--from", source.endpoint, "--tenant", "default", "--redact", "/email", "--out", str(out)]
        assert record(args) == 0
    assert "ann@x.io" not in out.read_text()
    with MockEventStore.from_fixture(out) as replay:
        emails = [e.payload.email for e in replay.read("order-1") if isinstance(e.payload, Placed)]
        assert emails == ["redacted-1", "redacted-2", "redacted-1"]


def test_from_fixture_errors_name_the_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        MockEventStore.from_fixture(tmp_path / "missing.json")
    assert missing.value.filename == str(tmp_path / "missing.json")

    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"streams": [\n {"tenant_id": "t", "aggregate_id": "a", "aggregate_type": "A",\n'
        '  "events": [{"event_type": "E", "evnt_id": "x"}]}\n]}'
    )
    with pytest.raises(ValidationError) as invalid:
        MockEventStore.from_fixture(bad)
    assert str(invalid.value).startswith(f"{bad} line 3: streams[0].events[0].evnt_id: unknown field")


def test_record_errors_and_usage(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    out = tmp_path / "never.json"
    assert record(["--from", closed, "--tenant", "t", "--out", str(out)]) == 1
    assert f"cannot reach {closed}: " in capfd.readouterr().err
    assert not out.exists()

    assert record(["--from", closed, "--tenant", "t", "--redact", "no-slash", "--out", str(out)]) == 1
    assert '--redact "no-slash": not a JSON pointer' in capfd.readouterr().err

    # The module runs as a command: --help, and a usage error (exit 2).
    shown = subprocess.run(
        [sys.executable, "-m", "eventstore.testing.record", "--help"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0 and "--redact <JSON_POINTER>" in shown.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "eventstore.testing.record", "--from", closed],
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 2 and "--tenant" in usage.stderr


@event(type="tests.record.Ordered", revision=1)
@dataclass
class Ordered:
    customer: dict[str, str]


def readme_commands() -> list[list[str]]:
    """The commands of the README's record block, one argv each."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- record-commands", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_readme_record_commands_run(tmp_path: Path) -> None:
    record_command, replay_command = readme_commands()
    assert record_command[:3] == ["python", "-m", "eventstore.testing.record"]
    assert replay_command[:2] == ["eventstore-mock", "--seed"]
    with MockEventStore() as source:
        for aggregate in ("order-1", "cart-1"):
            source.seed(aggregate, [Ordered({"email": "ann@x.io", "name": "Ann"})], tenant_id="acme")
        argv = [sys.executable, *record_command[1:]]
        argv[argv.index("localhost:50051")] = source.endpoint
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "recorded 1 event in 1 stream (" in done.stdout
    with MockEventStore.from_fixture(tmp_path / "acme.json") as replay:
        (only,) = replay.read("order-1", tenant_id="acme")
        assert isinstance(only.payload, Ordered)
        assert only.payload.customer == {"email": "redacted-1", "name": "Ann"}
        assert replay.read("cart-1", tenant_id="acme") == []
