"""The journal as Python sees it: :class:`RecordedCall` (one call the mock
received) and :class:`StreamEnd` (how a subscription stream ended), read
from the mock's journal JSON (``_spec.CallJson``, the mock's
``wire/call.rs``) and its native events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from eventstore import _native
from eventstore._events import default_registry
from eventstore._models import RecordedEvent
from eventstore.testing._spec import CallJson, StreamEndReason

__all__ = ["RecordedCall", "StreamEnd", "recorded_call"]


@dataclass(frozen=True)
class StreamEnd:
    """How a subscription stream ended (:attr:`RecordedCall.stream_end`)."""

    reason: StreamEndReason
    """``"cancelled"`` by the client, ended with a ``"status"`` (a fault, the
    store shutting down), ``"completed"`` (stubbed events ran out) or
    ``"dropped"`` (the mock cut the connection)."""
    status: str
    """The status code's name the client saw: ``"CANCELLED"``, the status's,
    ``"OK"`` or ``"UNAVAILABLE"``."""
    message: str
    """The status message (``""`` when completed)."""

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else self.status


@dataclass(frozen=True, repr=False)
class RecordedCall:
    """One call the mock received (its ``repr`` is a one-line summary; the
    fields hold the whole call)."""

    seq: int
    """Position in the journal, from 1."""
    rpc: str
    """``"append"``, ``"read_stream"``, ``"subscribe"``, ``"read_all"`` or
    ``"get_server_info"``."""
    request: dict[str, Any]
    """The request as a dict (the mock's view: payloads shown as JSON when
    they parse, else ``{"$base64": ...}``), as matchers see it."""
    metadata: dict[str, str]
    """gRPC metadata."""
    status: str
    """``"OK"`` or the gRPC code's name (``""`` while in flight)."""
    message: str
    """The error message, if any."""
    response: dict[str, Any] | None
    """The response of a successful unary call."""
    received_at: dt.datetime
    latency: float | None
    """Seconds to the answer (subscriptions: to the end); ``None`` in flight."""
    delivered: list[RecordedEvent] = field(default_factory=list)
    """Subscriptions: events delivered, in order."""
    stream_end: StreamEnd | None = None
    """Subscriptions: how the stream ended (``None`` while open)."""
    caught_up_marker_sent: bool = False
    """Subscriptions: whether the mock sent the caught-up marker (the
    stream's first event-less response, after the history). ``False`` for
    other calls."""
    keepalives_sent: int = 0
    """Subscriptions: how many keepalives the mock sent (event-less
    responses after the caught-up marker: ``expect_subscribe(keepalive_every=...,
    keepalive_interval=...)``). ``0`` for other calls."""
    matched: list[int] = field(default_factory=list)
    """Ids of the expectations this call matched."""
    events: list[RecordedEvent] = field(default_factory=list)
    """An append's events, as sent (the store's fields, such as
    ``global_nonce``, are still 0); ``[]`` for other calls."""

    @property
    def aggregate_id(self) -> str | None:
        """The request's aggregate id (``None`` for calls not about one stream)."""
        value = self.request.get("aggregate_id")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        parts: list[str] = []
        for key in ("tenant_id", "aggregate_id", "aggregate_id_prefix", "expected_aggregate_nonce"):
            value = self.request.get(key)
            if value not in (None, ""):
                parts.append(f"{key}={value!r}")
        if self.rpc == "append":
            types = [e.event_type for e in self.events]
            shown = ", ".join(types[:5]) + (f", ... {len(types) - 5} more" if len(types) > 5 else "")
            parts.append(f"events={len(types)} [{shown}]")
        if self.rpc == "subscribe":
            parts.append(f"delivered={len(self.delivered)}")
            if self.keepalives_sent:
                parts.append(f"keepalives_sent={self.keepalives_sent}")
        parts.append(f"status={self.status or 'in flight'}")
        return f"RecordedCall(#{self.seq} {self.rpc}, {', '.join(parts)})"


def recorded_call(c: CallJson, events: list[_native.RawEvent], delivered: list[_native.RawEvent]) -> RecordedCall:
    """One journal entry of ``NativeMock.journal``: the call's JSON, an
    append's events and a subscription's deliveries (native events)."""
    end = c["stream_end"]
    return RecordedCall(
        seq=c["seq"],
        rpc=c["rpc"],
        request=c["request"],
        metadata=c["metadata"],
        status=c["status"],
        message=c["message"],
        response=c["response"],
        received_at=dt.datetime.fromtimestamp(c["received_unix_micros"] / 1e6, tz=dt.timezone.utc),
        latency=None if c["latency_micros"] is None else c["latency_micros"] / 1e6,
        delivered=[RecordedEvent(e, default_registry) for e in delivered],
        stream_end=None if end is None else StreamEnd(end["reason"], end["status"], end["message"]),
        caught_up_marker_sent=c["caught_up_marker_sent"],
        keepalives_sent=c["keepalives_sent"],
        matched=c["matched"],
        events=[RecordedEvent(e, default_registry) for e in events],
    )
