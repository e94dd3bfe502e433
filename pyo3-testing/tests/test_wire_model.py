"""The Python face of the wire model agrees with the Rust core: one list of
metadata fields (``RecordedEvent``), the same as the native event's, and the
encoding contract (``WireEvent``) names only those fields."""

from __future__ import annotations

from eventstore import RecordedEvent, _native
from eventstore._errors import (
    ConcurrencyError,
    ConnectionError,
    EventStoreError,
    ValidationError,
    error_class,
    status_code,
)
from eventstore._wire import WireEvent


def _native_fields() -> set[str]:
    return {name for name, value in vars(_native.RawEvent).items() if not name.startswith("_")} - {"payload"}


def test_recorded_event_has_every_native_metadata_field() -> None:
    assert len(RecordedEvent.METADATA_FIELDS) == 17
    assert set(RecordedEvent.METADATA_FIELDS) == _native_fields()


def test_wire_event_names_only_metadata_fields_and_the_payload() -> None:
    assert set(WireEvent.__optional_keys__) <= RecordedEvent.METADATA_FIELDS | {"payload"}


def test_one_code_table_both_ways() -> None:
    assert error_class("ABORTED") is ConcurrencyError
    assert error_class("RESOURCE_EXHAUSTED") is ValidationError
    assert error_class("NOT_FOUND") is EventStoreError
    assert status_code(ConcurrencyError) == "ABORTED"
    assert status_code(ConnectionError) == "UNAVAILABLE"

    class CustomError(ValidationError):
        pass

    assert status_code(CustomError) == "INVALID_ARGUMENT"
    for cls in (ConcurrencyError, ConnectionError, ValidationError, EventStoreError):
        assert error_class(status_code(cls)) is cls


async def test_every_rpc_the_spec_names_is_the_mocks_and_its_request_fields_agree() -> None:
    """``_spec.Rpc`` lists the RPCs the Rust mock knows, by its names, and
    each ``expect_*`` takes exactly the request fields the journal shows."""
    import asyncio
    import json
    from typing import get_args

    from eventstore import EventStoreClient
    from eventstore.testing import MockEventStore
    from eventstore.testing._expectations import EXPECT_METHOD, REQUEST_KEYS
    from eventstore.testing._spec import Rpc

    assert set(get_args(Rpc)) == set(REQUEST_KEYS) == set(EXPECT_METHOD)
    with MockEventStore() as mock:
        for rpc in get_args(Rpc):
            mock._native.mount(json.dumps({"rpc": rpc, "at_least": 0}))
            assert hasattr(mock, EXPECT_METHOD[rpc])
        async with EventStoreClient(endpoint="mock", store=mock) as client:
            await client.append_events(aggregate_id="a", aggregate_type="A", events=[{"event_type": "t"}])
            await client.read_stream("a")
            await client.read_all()
            await client.server_info()
            async with await client.subscribe() as sub:
                # Reading the one event and the marker: the call has surely reached the mock.
                await sub.__anext__()
                waiting = asyncio.ensure_future(sub.__anext__())
                await sub.wait_caught_up(timeout=10)
                waiting.cancel()
        calls = mock.calls
    assert {c.rpc for c in calls} == set(get_args(Rpc))
    for call in calls:
        assert set(call.request) == REQUEST_KEYS[call.rpc], call.rpc  # type: ignore[index]
