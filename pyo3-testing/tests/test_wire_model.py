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
