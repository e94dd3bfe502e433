"""The values the client takes and returns."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventstore._errors import ValidationError
from eventstore._events import EventRegistry, default_registry, is_json

if TYPE_CHECKING:
    from eventstore._native import RawEvent

__all__ = ["AppendRequest", "AppendResult", "NewEvent", "RecordedEvent", "StreamPage"]


@dataclass(frozen=True)
class AppendResult:
    """What an append returns."""

    last_global_nonce: int
    """Global position of the batch's last event."""
    last_aggregate_nonce: int
    """The stream's new head."""


@dataclass
class NewEvent:
    """An event to append without an ``@event`` class.

    ``payload`` may be ``bytes`` (stored as is) or any JSON value (stored
    as JSON, ``content_type`` ``application/json``).
    """

    event_type: str
    payload: Any = None
    event_version: int = 1
    content_type: str | None = None
    event_id: str | None = None
    content_schema: str = ""
    correlation_id: str | None = None
    causation_id: str | None = None
    actor_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timestamp: dt.datetime | None = None


@dataclass
class AppendRequest:
    """An append, as an object (``client.append_events(request)``).

    ``events`` holds ``@event`` instances, :class:`NewEvent` objects or dicts
    with :class:`NewEvent`'s keys. ``tenant_id`` ``None`` means the client's
    default tenant.
    """

    aggregate_id: str
    aggregate_type: str
    events: Sequence[Any]
    expected_aggregate_nonce: int = 0
    tenant_id: str | None = None
    idempotency_key: str | None = None


class RecordedEvent:
    """An event as the store recorded it.

    Every metadata field is an attribute. :attr:`payload` is the registered
    ``@event`` class's instance when ``(event_type, event_version)`` is
    registered, else a ``dict``/``list`` for JSON content, else ``bytes``;
    :attr:`data` is always the raw bytes. Decoding happens on first access.
    """

    __slots__ = ("_decoded", "_raw", "_registry")

    def __init__(self, raw: RawEvent, registry: EventRegistry = default_registry) -> None:
        self._raw = raw
        self._registry = registry
        self._decoded: Any = _UNSET

    event_id = property(lambda self: self._raw.event_id, doc="Client-chosen id, unique per tenant.")
    event_type = property(lambda self: self._raw.event_type, doc="For example ``com.myco.order.OrderCreated``.")
    event_version = property(lambda self: self._raw.event_version, doc="Schema revision of the event type.")
    aggregate_id = property(lambda self: self._raw.aggregate_id, doc="The stream's aggregate id.")
    aggregate_type = property(lambda self: self._raw.aggregate_type, doc="The stream's aggregate type.")
    aggregate_nonce = property(lambda self: self._raw.aggregate_nonce, doc="Position in the stream, from 1.")
    global_nonce = property(lambda self: self._raw.global_nonce, doc="Position in the global log, from 1.")
    tenant_id = property(lambda self: self._raw.tenant_id, doc="The tenant.")
    content_type = property(lambda self: self._raw.content_type, doc="MIME type of the payload.")
    content_schema = property(lambda self: self._raw.content_schema, doc="Optional schema reference.")
    correlation_id = property(lambda self: self._raw.correlation_id, doc="Correlation id (``''`` if none).")
    causation_id = property(lambda self: self._raw.causation_id, doc="Causation id (``''`` if none).")
    actor_id = property(lambda self: self._raw.actor_id, doc="Actor id (``''`` if none).")
    timestamp_unix_ms = property(lambda self: self._raw.timestamp_unix_ms, doc="Client clock, ms (0 if unset).")
    recorded_time_unix_ms = property(lambda self: self._raw.recorded_time_unix_ms, doc="Commit time, ms.")
    payload_sha256 = property(lambda self: self._raw.payload_sha256, doc="Client-sent payload hash (may be empty).")
    data = property(lambda self: self._raw.payload, doc="The payload's raw bytes.")

    @property
    def headers(self) -> dict[str, str]:
        """Custom headers."""
        return self._raw.headers

    @property
    def revision(self) -> int:
        """Alias of :attr:`event_version`."""
        return self._raw.event_version

    @property
    def timestamp(self) -> dt.datetime | None:
        """The client's timestamp (UTC), or ``None`` when it sent none."""
        ms = self._raw.timestamp_unix_ms
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc) if ms else None

    @property
    def recorded_at(self) -> dt.datetime:
        """Commit time (UTC)."""
        return dt.datetime.fromtimestamp(self._raw.recorded_time_unix_ms / 1000, tz=dt.timezone.utc)

    @property
    def payload(self) -> Any:
        """The decoded payload (see the class docs). Raises
        :class:`~eventstore.ValidationError` if a registered class cannot read it."""
        if self._decoded is _UNSET:
            self._decoded = self._decode()
        return self._decoded

    def _decode(self) -> Any:
        raw = self._raw.payload
        definition = self._registry.resolve(self._raw.event_type, self._raw.event_version)
        if definition is not None:
            try:
                return definition.decode(raw)
            except (ValueError, TypeError) as e:
                raise ValidationError(
                    f"cannot decode event {self.event_id!r} ({self.event_type} revision "
                    f"{self.event_version}) as {definition.cls.__name__}: {e}"
                ) from e
        if is_json(self._raw.content_type) and raw:
            try:
                return json.loads(raw)
            except ValueError:
                return raw
        return raw

    def __repr__(self) -> str:
        return (
            f"RecordedEvent(event_type={self.event_type!r}, aggregate_id={self.aggregate_id!r}, "
            f"aggregate_nonce={self.aggregate_nonce}, global_nonce={self.global_nonce})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordedEvent):
            return NotImplemented
        return (self.tenant_id, self.event_id, self.global_nonce) == (
            other.tenant_id,
            other.event_id,
            other.global_nonce,
        )

    def __hash__(self) -> int:
        return hash((self.tenant_id, self.event_id, self.global_nonce))


class _Unset:
    pass


_UNSET = _Unset()


@dataclass(frozen=True)
class StreamPage:
    """One page of a stream read."""

    events: list[RecordedEvent]
    is_end: bool
    """True when no further event exists in the read direction."""
    next_from_aggregate_nonce: int
    """Pass as ``from_aggregate_nonce`` to read the next page."""

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Any:
        return iter(self.events)
