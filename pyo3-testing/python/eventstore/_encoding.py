"""Events on their way to the store: validation, the wire dict, ids.

One module for the rules every writer follows, below both the client
(``_client.py``) and the mock (``testing/_mock.py``), so neither borrows
from the other:

- an event (``@event`` instance, :class:`~eventstore.NewEvent` or dict) is
  checked and encoded into the :class:`WireEvent` dict the Rust core turns
  into protobuf (``convert.rs``, ``event_from_dict``);
- event ``i`` of a batch gets aggregate nonce ``expected + i + 1``;
- an event without an id gets a UUIDv7 (:func:`new_event_id`);
- ``payload_sha256`` is the SHA-256 of the payload bytes;
- correlation, causation and actor ids come from the event, else from the
  call (:class:`EventIds`, filled from :class:`~eventstore.MessageContext`).
"""

# This module checks what callers give at run time, and callers may be
# untyped code: an isinstance check of a value annotated `str` is the point
# here, not a redundancy. (Reading such values through a call that erases
# their type would add a call per field to every event written.)
# pyright: reportUnnecessaryIsInstance=false

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, cast

from eventstore import _native
from eventstore._checks import U32_MAX, check_optional_str, check_uint
from eventstore._context import MessageContext, MessageIds
from eventstore._errors import ValidationError
from eventstore._events import EventDefinition, definition_of
from eventstore._models import NewEvent
from eventstore._wire import WireEvent

__all__ = [
    "NO_IDS",
    "EventIds",
    "context_ids",
    "encode_event",
    "new_event_id",
    "now_ms",
]

EventIds = MessageIds
"""The ids a call stamps on events that carry none of their own (the
shape :meth:`MessageContext.get` returns)."""

NO_IDS = EventIds()
"""No ids: seeded and stubbed events carry no message context."""


def context_ids(
    correlation_id: str | None = None, causation_id: str | None = None, actor_id: str | None = None
) -> EventIds:
    """The call's ids: those given, else the current :class:`MessageContext`'s."""
    context = MessageContext.get()
    if correlation_id is None and causation_id is None and actor_id is None:
        return context
    return EventIds(
        correlation_id or context.correlation_id,
        causation_id or context.causation_id,
        actor_id or context.actor_id,
    )


def now_ms() -> int:
    """The client clock, Unix milliseconds."""
    return int(time.time() * 1000)


def new_event_id() -> str:
    """A fresh event id: a UUIDv7 (RFC 9562, time-ordered), by the Rust
    core's one id rule (the same the mock and the store use)."""
    return _native.new_event_id()


_OPTIONAL_STR_FIELDS = ("content_type", "event_id", "correlation_id", "causation_id", "actor_id")


def _check_new_event(item: NewEvent, where: str) -> None:
    # Messages are built only on failure: this runs for every event written.
    # The rules are _checks' (check_uint, check_optional_str), written out
    # inline so that a valid event costs no call per field; the functions
    # are called only to raise, with their one message.
    # A NewEvent may come from untyped code: each isinstance check is real,
    # whatever the field's annotation says (see the pragma at the top).
    event_type = item.event_type
    if not isinstance(event_type, str) or not event_type:
        raise ValidationError(
            f"{where}.event_type must be a non-empty str (e.g. 'com.myco.order.OrderCreated'), got {event_type!r}"
        )
    version = item.event_version
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= U32_MAX:
        check_uint(f"{where}.event_version", version, U32_MAX)
    for name in _OPTIONAL_STR_FIELDS:
        value = getattr(item, name)
        if value is not None and not isinstance(value, str):
            check_optional_str(f"{where}.{name}", value)
    if not isinstance(item.content_schema, str):
        raise ValidationError(f"{where}.content_schema must be a str, got {item.content_schema!r}")
    headers = item.headers
    if not isinstance(headers, Mapping) or (
        headers and not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    ):
        raise ValidationError(f"{where}.headers must be a dict of str to str, got {headers!r}")
    if item.timestamp is not None and not isinstance(item.timestamp, dt.datetime):
        raise ValidationError(f"{where}.timestamp must be a datetime, got {type(item.timestamp).__name__}")


_NEW_EVENT_KEYS = frozenset(f.name for f in dataclasses.fields(NewEvent))
"""The keys an event dict may have: :class:`NewEvent`'s fields."""


def as_new_event(item: object, where: str) -> NewEvent:
    """A dict or :class:`NewEvent` as a checked :class:`NewEvent`; errors name ``where``."""
    if isinstance(item, Mapping):
        fields = cast("Mapping[object, object]", item)
        unknown = sorted(str(k) for k in fields if k not in _NEW_EVENT_KEYS)
        if unknown:
            raise ValidationError(f"{where}: unknown key(s) {unknown}; an event dict takes {sorted(_NEW_EVENT_KEYS)}")
        if "event_type" not in fields:
            raise ValidationError(f"{where}.event_type is required (e.g. 'com.myco.order.OrderCreated')")
        # Every key is one of NewEvent's field names (checked above); the
        # values are checked by _check_new_event below.
        item = NewEvent(**cast("Mapping[str, Any]", fields))
    if not isinstance(item, NewEvent):
        if isinstance(item, type):
            hint = f"got the class {item.__name__}, pass an instance of it"
        elif dataclasses.is_dataclass(item):
            hint = f"{type(item).__name__} is not an @event class: decorate it with @event(type=..., revision=...)"
        else:
            hint = f"expected an @event instance, a NewEvent or a dict, got {type(item).__name__}"
        raise ValidationError(f"{where}: {hint}")
    _check_new_event(item, where)
    return item


def encode_registered(item: object, where: str) -> tuple[EventDefinition, bytes] | None:
    """``item``'s ``@event`` definition and encoded payload, or ``None``
    when it is not an instance of a registered class; an encoding failure
    is a :class:`ValidationError` naming ``where``."""
    definition = definition_of(item)
    if definition is None or isinstance(item, type):
        return None
    try:
        return definition, definition.encode(item)
    except (TypeError, ValueError) as e:
        raise ValidationError(
            f"{where}: cannot encode {type(item).__name__} (event type {definition.type!r} revision "
            f"{definition.revision}): {e}"
        ) from e


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""Compact JSON, as the payload of a JSON event is sent (one encoder for
every event: ``json.dumps`` with options builds a new one per call)."""


def encode_event(item: Any, index: int, nonce: int, ids: EventIds, timestamp_ms: int) -> WireEvent:
    """The wire dict of event ``index`` of a batch, with aggregate nonce
    ``nonce``; errors name ``events[index]``. ``event_id`` is left empty
    when the event gives none (the caller picks it: see the client's
    idempotent retries; the Rust core fills a UUIDv7 as a last resort)."""
    where = f"events[{index}]"
    out: WireEvent
    registered = encode_registered(item, where)
    if registered is not None:
        definition, payload = registered
        out = {
            "aggregate_nonce": nonce,
            "timestamp_unix_ms": timestamp_ms,
            "event_type": definition.type,
            "event_version": definition.revision,
            "content_type": definition.content_type,
            "payload": payload,
        }
    else:
        new = as_new_event(item, where)
        raw, content_type = new.payload, new.content_type
        if isinstance(raw, (bytes, bytearray)):
            payload = bytes(raw)
        else:
            try:
                payload = _JSON.encode(raw).encode()
            except TypeError as e:
                raise ValidationError(f"{where}.payload: {e}") from None
            content_type = content_type or "application/json"
        out = {
            "aggregate_nonce": nonce,
            "timestamp_unix_ms": timestamp_ms,
            "event_type": new.event_type,
            "event_version": new.event_version,
            "content_type": content_type or "",
            "payload": payload,
            "event_id": new.event_id,
            "content_schema": new.content_schema,
            "headers": dict(new.headers),
        }
        if new.timestamp is not None:
            out["timestamp_unix_ms"] = int(new.timestamp.timestamp() * 1000)
        if new.correlation_id or new.causation_id or new.actor_id:
            ids = EventIds(
                new.correlation_id or ids.correlation_id,
                new.causation_id or ids.causation_id,
                new.actor_id or ids.actor_id,
            )
    if ids.correlation_id:
        out["correlation_id"] = ids.correlation_id
    if ids.causation_id:
        out["causation_id"] = ids.causation_id
    if ids.actor_id:
        out["actor_id"] = ids.actor_id
    out["payload_sha256"] = hashlib.sha256(payload).digest()
    return out
