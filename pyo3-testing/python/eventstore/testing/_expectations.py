"""``expect_*`` keywords -> the expectation JSON the Rust mock mounts.

:class:`~eventstore.testing.MockEventStore`'s ``expect_*`` methods take a
request pattern, a count, a reply and faults as Python values; this module
checks them and builds the :class:`~eventstore.testing._spec.ExpectationSpec`
(typed in ``_spec.py``, parsed by ``eventstore_mock::spec`` with unknown
fields refused). It mounts nothing: the facade (``_mock.py``) does.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypedDict, cast

from eventstore import _native
from eventstore._checks import check_int_at_least, check_uint, is_pair, unchecked
from eventstore._codec import encode_value
from eventstore._encoding import NO_IDS, encode_event, encode_registered, now_ms
from eventstore._errors import ConcurrencyError, ConnectionError, EventStoreError, ValidationError, status_code
from eventstore._models import AppendResult, EventInput, NewEvent, RecordedEvent, ServerInfo
from eventstore.testing._spec import (
    AnyPattern,
    EqPattern,
    EventPattern,
    ExpectationSpec,
    RegexPattern,
    RespondSpec,
    Rpc,
    ServerInfoResponseSpec,
    StatusSpec,
    StubEvent,
)

__all__ = [
    "EXPECT_METHOD",
    "REQUEST_KEYS",
    "ExpectOptions",
    "FailWith",
    "Matcher",
    "append_reply",
    "append_request",
    "expectation_json",
    "pattern_values",
    "read_reply",
    "request_fields",
    "server_info_reply",
    "subscribe_reply",
]

_META_KEYS = RecordedEvent.METADATA_FIELDS
"""The metadata fields an event pattern or a stubbed event may name."""

FailWith: TypeAlias = "type[EventStoreError] | EventStoreError | tuple[str, str]"
"""``fail_with=``: an error class or instance, or a ``(code name, message)`` pair."""

Matcher: TypeAlias = re.Pattern[str] | RegexPattern | AnyPattern | EqPattern
"""A value of an ``expect_*`` keyword that is a pattern, not a literal:
``re.compile("^order-")`` (sent as ``{"$regex": "^order-"}``; of its flags,
``re.IGNORECASE``, ``re.MULTILINE``, ``re.DOTALL`` and ``re.VERBOSE`` are
honoured, as inline ``(?imsx)``), or one of the mock's operators written as
a dict: ``{"$regex": "^order-"}``, ``{"$any": True}`` (any value),
``{"$eq": value}`` (exactly). The regex syntax is the Rust ``regex``
crate's (no look-around, no backreferences); a regex it cannot compile is a
:class:`~eventstore.ValidationError` naming the field."""

_HONOURED_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x"))
"""The ``re`` flags the Rust matcher honours, and their inline letters."""


class ExpectOptions(TypedDict, total=False):
    """The options every ``expect_*`` method takes (see
    :meth:`MockEventStore.expect_append`)."""

    metadata: Mapping[str, str | Matcher] | None
    times: int | None
    at_least: int | None
    at_most: int | None
    never: bool
    fail_with: FailWith | None
    delay: float | None
    nth: int | None
    up_to: int | None
    name: str | None


REQUEST_KEYS: dict[Rpc, frozenset[str]] = {
    "append": frozenset(
        {"tenant_id", "aggregate_id", "aggregate_type", "expected_aggregate_nonce", "idempotency_key", "events"}
    ),
    "read_stream": frozenset({"tenant_id", "aggregate_id", "from_aggregate_nonce", "max_count", "forward"}),
    "subscribe": frozenset({"tenant_id", "aggregate_id_prefix", "from_global_nonce"}),
    "read_all": frozenset({"tenant_id", "from_global_nonce", "max_count", "forward"}),
    "get_server_info": frozenset(),
}

EXPECT_METHOD: dict[Rpc, str] = {
    "append": "expect_append",
    "read_stream": "expect_read_stream",
    "subscribe": "expect_subscribe",
    "read_all": "expect_read_all",
    "get_server_info": "expect_server_info",
}
"""The ``expect_*`` method of each RPC, for error messages."""


def _payload_view(payload: bytes) -> object:
    """A payload as the journal shows it (the mock's wire model decides:
    JSON when it parses as JSON, else ``{"$base64": ...}``), as a pattern."""
    if not payload:
        return None
    return _literal(json.loads(_native.payload_view(payload)))


def _literal(value: object) -> object:
    """``value`` as a pattern that means itself: objects with ``$`` keys
    (which would read as operators) are wrapped in ``$eq``."""
    if isinstance(value, dict):
        obj = cast("dict[object, object]", value)
        if any(isinstance(k, str) and k.startswith("$") for k in obj):
            return {"$eq": obj}
        return {k: _literal(v) for k, v in obj.items()}
    if isinstance(value, list):
        return [_literal(v) for v in cast("list[object]", value)]
    return value


def _event_pattern(item: object, where: str) -> EventPattern:
    """The pattern an expected event stands for: only the fields it gives."""
    registered = encode_registered(item, where)
    if registered is not None:
        definition, payload = registered
        return {
            "meta": {"event_type": definition.type, "event_version": definition.revision},
            "payload": _payload_view(payload),
        }
    if isinstance(item, NewEvent):
        pattern: EventPattern = {"meta": {"event_type": item.event_type, "event_version": item.event_version}}
        if item.payload is not None:
            if isinstance(item.payload, (bytes, bytearray)):
                pattern["payload"] = _payload_view(bytes(item.payload))
            else:
                pattern["payload"] = _literal(item.payload)
        return pattern
    if isinstance(item, Mapping):
        # A dict pattern's keys are field names (any other is refused below).
        fields = cast("Mapping[str, object]", item)
        pattern = {}
        meta: dict[str, object] = dict(cast("Mapping[str, object]", fields.get("meta", {})))
        for key, value in fields.items():
            if key == "meta":
                continue
            if key == "payload":
                pattern["payload"] = value
            elif key == "revision":
                meta["event_version"] = value
            elif key in _META_KEYS:
                meta[key] = value
            else:
                raise ValidationError(f"{where}: unknown event field {key!r}")
        if meta:
            pattern["meta"] = meta
        return pattern
    raise ValidationError(
        f"{where}: expected an @event instance, a NewEvent or a dict pattern, got {type(item).__name__}"
    )


def _status_for(error: object) -> RespondSpec:
    """The reply for ``fail_with``: a ``status``, or a ``conflict`` for
    :class:`ConcurrencyError` (so the client gets its detail)."""
    if is_pair(error):
        # The code's name and the message: the Rust mock checks their types.
        code, message = cast("tuple[str, str]", error)
        return {"status": {"code": code, "message": message}}
    cls = error if isinstance(error, type) else type(error)
    instance = None if isinstance(error, type) else error
    if issubclass(cls, ConcurrencyError):
        # The class, or an instance naming no head: the stream's real head
        # (a client that retries with it converges); else exactly what it names.
        if isinstance(instance, ConcurrencyError) and (
            instance.actual_last_aggregate_nonce or instance.actual_last_global_nonce
        ):
            return {
                "conflict": {
                    "tenant_id": instance.tenant_id,
                    "aggregate_id": instance.aggregate_id,
                    "actual_last_aggregate_nonce": instance.actual_last_aggregate_nonce,
                    "actual_last_global_nonce": instance.actual_last_global_nonce,
                }
            }
        if isinstance(instance, ConcurrencyError):
            return {"conflict": {"tenant_id": instance.tenant_id, "aggregate_id": instance.aggregate_id}}
        return {"conflict": {}}
    if issubclass(cls, EventStoreError):
        message = str(instance) if instance is not None else f"{cls.__name__} injected by MockEventStore"
        return {"status": {"code": getattr(instance, "code", None) or status_code(cls), "message": message}}
    raise ValidationError(
        f"fail_with must be an eventstore error class or instance, or a (code, message) pair; got {error!r}"
    )


def _regex(pattern: re.Pattern[str], where: str) -> RegexPattern:
    """``re.compile(...)`` as the mock's ``$regex``, its flags inline."""
    if not isinstance(unchecked(pattern.pattern), str):
        raise ValidationError(f"{where}: a bytes regex cannot match text fields, got {pattern!r}")
    flags = pattern.flags & ~re.UNICODE
    inline = "".join(letter for flag, letter in _HONOURED_FLAGS if flags & flag)
    for flag, _ in _HONOURED_FLAGS:
        flags &= ~flag
    if flags:
        names = ", ".join(f"re.{f.name}" for f in re.RegexFlag if f.value and f.value & flags)
        raise ValidationError(
            f"{where}: {pattern!r} has flag(s) {names} that the mock's matcher (Rust regex) cannot honour; "
            "it honours re.IGNORECASE, re.MULTILINE, re.DOTALL and re.VERBOSE"
        )
    return {"$regex": f"(?{inline}){pattern.pattern}" if inline else pattern.pattern}


def pattern_values(value: object, where: str) -> object:
    """``value`` with every ``re.Pattern`` in it (at any depth of dicts and
    lists) replaced by the mock's ``{"$regex": ...}``; errors name the path
    from ``where``."""
    if isinstance(value, re.Pattern):
        return _regex(cast("re.Pattern[str]", value), where)
    if isinstance(value, Mapping):
        items = cast("Mapping[object, object]", value).items()
        return {k: pattern_values(v, f"{where}.{k}" if where else str(k)) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [pattern_values(v, f"{where}[{i}]") for i, v in enumerate(cast("Sequence[object]", value))]
    return value


def request_fields(request: Mapping[str, object] | None, **given: object) -> dict[str, object]:
    """The request pattern: ``request``'s fields, overridden by the keywords given (not ``None``)."""
    fields: dict[str, object] = dict(request or {})
    fields.update({k: v for k, v in given.items() if v is not None})
    return fields


def _count(spec: ExpectationSpec, options: ExpectOptions) -> None:
    """Puts the count into ``spec``: exactly once unless told otherwise."""
    times, at_least, at_most = options.get("times"), options.get("at_least"), options.get("at_most")
    nth = options.get("nth")
    up_to = options.get("up_to")
    if up_to is not None:
        spec["up_to"] = check_int_at_least("up_to", up_to, 1, " (the calls it answers)")
    if times is not None and (at_least is not None or at_most is not None):
        raise ValidationError("times cannot be combined with at_least or at_most")
    if options.get("never"):
        if times not in (None, 0) or at_least is not None or at_most is not None:
            raise ValidationError("never=True cannot be combined with times, at_least or at_most")
        spec["times"] = 0
    elif times is not None:
        spec["times"] = times
    elif at_least is not None or at_most is not None:
        if at_least is not None:
            spec["at_least"] = at_least
        if at_most is not None:
            spec["at_most"] = at_most
    elif up_to is not None:
        # "Fail the first n calls, then work": the n calls are expected.
        spec["times"] = up_to
    elif nth is not None:
        # Answering the nth call needs at least n calls.
        spec["at_least"] = nth
    else:
        spec["times"] = 1


def _stub_events(items: Sequence[EventInput], request: Mapping[str, object]) -> list[StubEvent]:
    """Stubbed events in the journal's view form: encoded like appended
    events, numbered 1..n, in the request's tenant and stream."""
    now = now_ms()
    out: list[StubEvent] = []
    for i, item in enumerate(items):
        encoded = encode_event(item, i, i + 1, NO_IDS, now)
        payload = encoded.get("payload", b"")
        meta: dict[str, object] = {
            k: v
            for k, v in encoded.items()
            if v is not None and k in _META_KEYS and k not in ("headers", "payload_sha256")
        }
        meta.setdefault("event_id", f"stub-{i + 1}")
        meta.update(global_nonce=i + 1, recorded_time_unix_ms=now)
        for key in ("tenant_id", "aggregate_id"):
            if isinstance(request.get(key), str):
                meta[key] = request[key]
        out.append({"meta": meta, "payload": {"$base64": base64.b64encode(payload).decode()}})
    return out


def _data_loss(reply: RespondSpec, global_nonce: int | None, method: str) -> None:
    """``data_loss_at=N``: ``DATA_LOSS`` with the trailer at global nonce N."""
    if global_nonce is not None:
        check_uint(f"{method}: data_loss_at", global_nonce)
        reply["data_loss_at"] = global_nonce


_SERVER_INFO_KEYS = frozenset(ServerInfoResponseSpec.__optional_keys__)


def _server_info_response(returns: ServerInfo | Mapping[str, Any]) -> ServerInfoResponseSpec:
    """``expect_server_info(returns=...)`` as the mock's reply."""
    if isinstance(returns, ServerInfo):
        if returns.is_legacy:
            raise ValidationError("expect_server_info: for a legacy server pass legacy=True, not returns=")
        fields: dict[str, Any] = {
            "server_version": returns.server_version,
            "api_version": returns.api_version,
            "backend": returns.backend,
            "capabilities": returns.capabilities,
        }
    elif isinstance(unchecked(returns), Mapping):
        fields = dict(returns)
    else:
        raise ValidationError(f"expect_server_info: returns must be a ServerInfo or a dict, got {returns!r}")
    unknown = sorted(set(fields) - _SERVER_INFO_KEYS)
    if unknown:
        raise ValidationError(f"expect_server_info: unknown field(s) {unknown} (known: {sorted(_SERVER_INFO_KEYS)})")
    texts: dict[str, str] = {}
    for key in ("server_version", "api_version", "backend"):
        value = fields.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"expect_server_info: {key} must be a str, got {value!r}")
        if value is not None:
            texts[key] = value
    spec: ServerInfoResponseSpec = {}
    if "server_version" in texts:
        spec["server_version"] = texts["server_version"]
    if "api_version" in texts:
        spec["api_version"] = texts["api_version"]
    if "backend" in texts:
        spec["backend"] = texts["backend"]
    capabilities = fields.get("capabilities")
    if capabilities is not None:
        if isinstance(capabilities, str) or not all(isinstance(c, str) for c in capabilities):
            raise ValidationError(f"expect_server_info: capabilities must be a collection of str, got {capabilities!r}")
        spec["capabilities"] = sorted(capabilities)
    return spec


def read_reply(
    rpc: Literal["read_stream", "read_all"],
    fields: dict[str, object],
    returns: Sequence[EventInput] | None,
    drop_connection: bool,
    data_loss_at: int | None,
) -> RespondSpec:
    """The reply of ``expect_read_stream`` / ``expect_read_all``: a final
    page of the stub events (numbered 1..n), a cut connection, a damaged
    record at ``data_loss_at``."""
    reply: RespondSpec = {}
    if returns is not None:
        events = _stub_events(returns, fields)
        if rpc == "read_stream":
            reply["read_response"] = {"events": events, "is_end": True, "next_from_aggregate_nonce": len(returns) + 1}
        else:
            reply["read_all_response"] = {"events": events, "is_end": True, "next_from_global_nonce": len(returns) + 1}
    if drop_connection:
        reply["drop_connection"] = True
    _data_loss(reply, data_loss_at, f"expect_{rpc}")
    return reply


def expectation_json(rpc: Rpc, request: dict[str, object], reply: RespondSpec, options: ExpectOptions) -> str:
    """The expectation of an ``expect_*`` call as the JSON text
    ``NativeMock.mount`` takes: ``request`` (the pattern, its keys checked),
    ``reply`` (the method's own reply keywords) and ``options`` (the count,
    ``fail_with``, ``delay``, ``nth``, ``metadata``, ``name``)."""
    method = EXPECT_METHOD[rpc]
    unknown_options = sorted(set(options) - ExpectOptions.__optional_keys__)
    if unknown_options:
        raise TypeError(f"{method}() got unexpected keyword argument(s) {unknown_options}")
    unknown = sorted(set(request) - REQUEST_KEYS[rpc])
    if unknown:
        raise ValidationError(f"{method}: unknown request field(s) {unknown} (known: {sorted(REQUEST_KEYS[rpc])})")
    spec: ExpectationSpec = {"rpc": rpc}
    if request:
        spec["request"] = {k: pattern_values(v, f"{method}: {k}") for k, v in request.items()}
    metadata = options.get("metadata")
    if metadata:
        spec["metadata"] = {k: pattern_values(v, f"{method}: metadata[{k!r}]") for k, v in metadata.items()}
    _count(spec, options)
    respond: RespondSpec = {}
    fail_with = options.get("fail_with")
    if fail_with is not None:
        respond.update(_status_for(fail_with))
    # A second reply next to fail_with is refused by the Rust side ("at most one of").
    respond.update(reply)
    delay = options.get("delay")
    if delay is not None:
        respond["delay_ms"] = round(delay * 1000)
    if respond:
        spec["respond"] = respond
    nth, name = options.get("nth"), options.get("name")
    if nth is not None:
        spec["nth"] = nth
    if name is not None:
        spec["name"] = name
    try:
        # Values the JSON codec writes (Decimal, datetime, UUID, Enum...)
        # stand for their JSON form, as in a stored payload.
        return json.dumps(spec, default=encode_value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"{method}: a value cannot be matched: {e}") from None


def append_request(fields: dict[str, object]) -> dict[str, object]:
    """``expect_append``'s request pattern: its ``events`` (``@event``
    instances, NewEvents or dict patterns) as event patterns."""
    if "events" in fields:
        batch = fields["events"]
        if isinstance(batch, (str, bytes, Mapping)) or not isinstance(batch, Sequence):
            raise ValidationError(f"expect_append: events must be a list of expected events, got {batch!r}")
        fields["events"] = [_event_pattern(e, f"events[{i}]") for i, e in enumerate(cast("Sequence[object]", batch))]
    return fields


def append_reply(returns: AppendResult | Mapping[str, int] | None, drop_connection: bool) -> RespondSpec:
    """``expect_append``'s reply: a stubbed result, or a cut connection."""
    reply: RespondSpec = {}
    if returns is not None:
        r = returns if isinstance(returns, Mapping) else vars(returns)
        reply["append_response"] = {
            "last_global_nonce": r["last_global_nonce"],
            "last_aggregate_nonce": r["last_aggregate_nonce"],
        }
    if drop_connection:
        reply["drop_connection"] = True
    return reply


def subscribe_reply(
    fields: dict[str, object],
    options: ExpectOptions,
    fail_after: int | None,
    drop_after: int | None,
    delay_each: float | None,
    keepalive_every: int | None,
    keepalive_interval: float | None,
    data_loss_at: int | None,
    returns: Sequence[EventInput] | None,
    /,
) -> RespondSpec:
    """``expect_subscribe``'s reply and stream faults (its keywords, in its
    order). With ``fail_after``, ``fail_with`` is the stream's end, not a
    refusal of the call: it is taken out of ``options``."""
    reply: RespondSpec = {}
    if fail_after is not None:
        fail_with = options.pop("fail_with", None)
        status: StatusSpec | None = _status_for(ConnectionError if fail_with is None else fail_with).get("status")
        if status is None:
            raise ValidationError("fail_after: a subscription can fail with a status, not a conflict")
        reply["fail_after"] = {"events": fail_after, "code": status["code"], "message": status["message"]}
    if drop_after is not None:
        reply["drop_after"] = drop_after
    if delay_each is not None:
        reply["delay_each_ms"] = round(delay_each * 1000)
    if keepalive_every is not None:
        reply["keepalive_every"] = check_int_at_least("expect_subscribe: keepalive_every", keepalive_every, 1)
    if keepalive_interval is not None:
        if isinstance(keepalive_interval, bool) or not isinstance(unchecked(keepalive_interval), (int, float)):
            raise ValidationError(f"expect_subscribe: keepalive_interval must be seconds, got {keepalive_interval!r}")
        if not keepalive_interval > 0:
            raise ValidationError(
                f"expect_subscribe: keepalive_interval must be more than 0 seconds, got {keepalive_interval!r}"
            )
        reply["keepalive_interval_ms"] = max(1, round(keepalive_interval * 1000))
    _data_loss(reply, data_loss_at, "expect_subscribe")
    if returns is not None:
        reply["events"] = _stub_events(returns, fields)
    return reply


def server_info_reply(
    returns: ServerInfo | Mapping[str, Any] | None, legacy: bool, drop_connection: bool
) -> RespondSpec:
    """``expect_server_info``'s reply: a stubbed answer, ``UNIMPLEMENTED``
    as a legacy server, or a cut connection."""
    reply: RespondSpec = {}
    if returns is not None:
        reply["server_info_response"] = _server_info_response(returns)
    if legacy:
        reply["legacy_server"] = True
    if drop_connection:
        reply["drop_connection"] = True
    return reply
