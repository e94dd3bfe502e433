"""The SDK README's examples that show behaviour run as written, against
the in-process mock, and do what their comments say."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eventstore
from eventstore import EventStoreClient, RecordedEvent, ServerInfo, ValidationError, default_registry, event
from eventstore.testing import MockEventStore

README = Path(__file__).resolve().parent.parent / "README.md"


def python_block_after(heading: str) -> str:
    """The first ```python block of the README section ``heading``."""
    text = README.read_text()
    section = text[text.index(f"## {heading}\n") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, f"no python block under {heading!r}"
    return match.group(1)


async def run_block(source: str, namespace: dict[str, Any]) -> None:
    code = compile(source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if result is not None:
        await result


async def test_events_written_as_they_will_be_read(mock: MockEventStore) -> None:
    printed: list[str] = []
    client = EventStoreClient(endpoint="mock", store=mock)
    namespace: dict[str, Any] = {
        "client": client,
        "dataclass": dataclass,
        "event": event,
        "ValidationError": ValidationError,
        "print": lambda *args: printed.append(" ".join(map(str, args))),
    }
    try:
        await run_block(python_block_after("Events: written as they will be read"), namespace)
        assert printed == [
            "events[0]: cannot encode Tick (event type 'com.myco.Tick' revision 1): "
            "Tick.n: expected an integer, got 'abc'"
        ]
        assert len(mock.appends) == 1, "the bad batch was never sent"
        last = namespace["e"]
        assert isinstance(last, RecordedEvent)
        assert last.payload_as(namespace["Tick"]) == namespace["Tick"](n=1)
        assert last.decoded is True and last.global_nonce == 1
    finally:
        if "Tick" in namespace:
            default_registry.unregister(namespace["Tick"])


async def test_server_info_and_capabilities(mock: MockEventStore) -> None:
    namespace: dict[str, Any] = {"client": EventStoreClient(endpoint="mock", store=mock), "eventstore": eventstore}
    await run_block(python_block_after("Server info and capabilities"), namespace)
    info = namespace["info"]
    assert isinstance(info, ServerInfo) and info.version_at_least("0.17.0")
    assert info.server_version.startswith("0.17.0+eventstore-sdk.") and info.backend == "memory"
    assert [c.rpc for c in mock.calls] == ["get_server_info"] * 3
