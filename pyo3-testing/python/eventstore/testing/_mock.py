"""``MockEventStore``: the Rust mock, in this process, with a Pythonic
expectation API.

By default it is a working event store (appends succeed, reads return what
was appended, subscriptions stream), exactly like the real one.
Expectations are layered on top: they count matching calls, can answer
them with a fault or a stub, and :meth:`MockEventStore.verify` checks them.
"""

from __future__ import annotations

import base64
import datetime as dt
import errno
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict, cast

from eventstore import _native
from eventstore._checks import check_int_at_least, check_uint, is_pair, unchecked
from eventstore._codec import encode_value
from eventstore._encoding import NO_IDS, encode_event, encode_registered, now_ms
from eventstore._errors import ConcurrencyError, ConnectionError, EventStoreError, ValidationError, status_code
from eventstore._events import default_registry
from eventstore._models import (
    DEFAULT_TENANT,
    AppendResult,
    Credentials,
    EventInput,
    NewEvent,
    RecordedEvent,
    ServerInfo,
    credential_parts,
)
from eventstore.testing._spec import (
    CallJson,
    EventPattern,
    ExpectationSpec,
    RespondSpec,
    Rpc,
    ServerInfoResponseSpec,
    StatusSpec,
    StubEvent,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ExpectOptions", "Expectation", "FailWith", "MockEventStore", "RecordedCall", "StreamEnd"]

_META_KEYS = RecordedEvent.METADATA_FIELDS
"""The metadata fields an event pattern or a stubbed event may name."""

FailWith: TypeAlias = "type[EventStoreError] | EventStoreError | tuple[str, str]"
"""``fail_with=``: an error class or instance, or a ``(code name, message)`` pair."""

Backend: TypeAlias = Literal["memory", "postgres", "unknown"]
"""What ``GetServerInfo`` may answer as ``backend``: the reference store's values."""

_BACKENDS: tuple[Backend, ...] = ("memory", "postgres", "unknown")


def _check_backend(value: object) -> Backend:
    """``backend=``: one of the reference's values (a ValidationError listing them)."""
    for backend in _BACKENDS:
        if isinstance(value, str) and value == backend:
            return backend
    raise ValidationError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}, got {value!r}")


class ExpectOptions(TypedDict, total=False):
    """The options every ``expect_*`` method takes (see
    :meth:`MockEventStore.expect_append`)."""

    metadata: Mapping[str, str] | None
    times: int | None
    at_least: int | None
    at_most: int | None
    never: bool
    fail_with: FailWith | None
    delay: float | None
    nth: int | None
    up_to: int | None
    name: str | None


@dataclass(frozen=True)
class StreamEnd:
    """How a subscription stream ended (:attr:`RecordedCall.stream_end`)."""

    reason: Literal["cancelled", "status", "completed", "dropped"]
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
        parts.append(f"status={self.status or 'in flight'}")
        return f"RecordedCall(#{self.seq} {self.rpc}, {', '.join(parts)})"


class Expectation:
    """A mounted expectation: its matching calls, for assertions."""

    def __init__(self, mock: MockEventStore, expectation_id: int, description: str) -> None:
        self._mock = mock
        self.id = expectation_id
        self.description = description

    @property
    def calls(self) -> list[RecordedCall]:
        """The calls it matched, in order."""
        return [c for c in self._mock.calls if self.id in c.matched]

    @property
    def call_count(self) -> int:
        """How many calls it matched."""
        return len(self.calls)

    def __repr__(self) -> str:
        return f"Expectation(id={self.id}, {self.description}, call_count={self.call_count})"


_REQUEST_KEYS: dict[Rpc, frozenset[str]] = {
    "append": frozenset(
        {"tenant_id", "aggregate_id", "aggregate_type", "expected_aggregate_nonce", "idempotency_key", "events"}
    ),
    "read_stream": frozenset({"tenant_id", "aggregate_id", "from_aggregate_nonce", "max_count", "forward"}),
    "subscribe": frozenset({"tenant_id", "aggregate_id_prefix", "from_global_nonce"}),
    "read_all": frozenset({"tenant_id", "from_global_nonce", "max_count", "forward"}),
    "get_server_info": frozenset(),
}

_EXPECT_METHOD: dict[Rpc, str] = {
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
        if isinstance(instance, ConcurrencyError):
            return {
                "conflict": {
                    "tenant_id": instance.tenant_id,
                    "aggregate_id": instance.aggregate_id,
                    "actual_last_aggregate_nonce": instance.actual_last_aggregate_nonce,
                    "actual_last_global_nonce": instance.actual_last_global_nonce,
                }
            }
        return {"conflict": {}}
    if issubclass(cls, EventStoreError):
        message = str(instance) if instance is not None else f"{cls.__name__} injected by MockEventStore"
        return {"status": {"code": getattr(instance, "code", None) or status_code(cls), "message": message}}
    raise ValidationError(
        f"fail_with must be an eventstore error class or instance, or a (code, message) pair; got {error!r}"
    )


def _request_fields(request: Mapping[str, object] | None, **given: object) -> dict[str, object]:
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


def _server_info_spec(returns: ServerInfo | Mapping[str, Any]) -> ServerInfoResponseSpec:
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


def _recorded_call(c: CallJson, events: list[_native.RawEvent], delivered: list[_native.RawEvent]) -> RecordedCall:
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
        matched=c["matched"],
        events=[RecordedEvent(e, default_registry) for e in events],
    )


def _read_reply(
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


class MockEventStore:
    """An in-memory event store for tests, with expectations and a journal.

    ``MockEventStore()`` starts it (in about a millisecond); it needs no
    event loop. Clients reach it in process with
    ``EventStoreClient(endpoint="mock", store=mock)``, or over the network at
    :attr:`endpoint` (``listen="127.0.0.1:50051"`` picks the address; the
    default is a free port). ``strict=True`` makes calls that no expectation
    matches fail (``FAILED_PRECONDITION``) and :meth:`verify` report them.
    ``legacy=True`` plays a server from before ``GetServerInfo``: it answers
    that call ``UNIMPLEMENTED`` (``client.server_info()`` reads it as legacy).
    Otherwise ``GetServerInfo`` answers as the stores of this project do:
    version ``0.17.0+eventstore-sdk.X.Y.Z`` (the reference API level, see
    :meth:`~eventstore.ServerInfo.version_at_least`), API
    ``eventstore.v1``, every capability of
    :data:`~eventstore.KNOWN_CAPABILITIES`, and backend ``"memory"``;
    ``backend="postgres"`` (or ``"unknown"``) answers as the user's
    production store would (settable later: :attr:`backend`).
    ``credentials={"username": ..., "password": ...}`` makes it require them
    on every service (the store, the control API, reflection; not health),
    as the real server's ``--username/--password`` do: a client without them
    gets :class:`~eventstore.AuthenticationError`. ``credentials={"token":
    ...}`` requires that bearer token instead (clients pass ``token=`` or
    the same ``credentials``), and all three keys accept either a client
    with the username and password or one with the token. The journal shows
    credential headers as ``[redacted]`` unless ``journal_credentials=True``.
    """

    def __init__(
        self,
        *,
        strict: bool = False,
        listen: str | None = None,
        max_events_per_batch: int | None = None,
        max_page_size: int | None = None,
        default_page_size: int | None = None,
        legacy: bool = False,
        credentials: Credentials | None = None,
        journal_credentials: bool = False,
        backend: Backend = "memory",
    ) -> None:
        username, password, token = credential_parts(credentials)
        answered_backend = _check_backend(backend)
        try:
            self._native = _native.NativeMock(
                strict=strict,
                listen=listen,
                max_events_per_batch=max_events_per_batch,
                max_page_size=max_page_size,
                default_page_size=default_page_size,
                legacy_server=bool(legacy),
                backend=answered_backend,
                username=username,
                password=password,
                token=token,
                journal_credentials=bool(journal_credentials),
            )
        except ValueError as e:
            raise ValidationError(str(e)) from None
        self._strict = strict
        self._legacy = bool(legacy)
        self._backend: Backend = answered_backend
        self._expectations = 0

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:<port>``, for clients that connect over the network."""
        return self._native.endpoint

    # -- expectations -----------------------------------------------------

    def _expect(self, rpc: Rpc, request: dict[str, object], reply: RespondSpec, options: ExpectOptions) -> Expectation:
        """The one implementation behind every ``expect_*``: checks the
        request fields and the options, builds the :class:`ExpectationSpec`
        and mounts it."""
        method = _EXPECT_METHOD[rpc]
        unknown_options = sorted(set(options) - ExpectOptions.__optional_keys__)
        if unknown_options:
            raise TypeError(f"{method}() got unexpected keyword argument(s) {unknown_options}")
        unknown = sorted(set(request) - _REQUEST_KEYS[rpc])
        if unknown:
            raise ValidationError(f"{method}: unknown request field(s) {unknown} (known: {sorted(_REQUEST_KEYS[rpc])})")
        spec: ExpectationSpec = {"rpc": rpc}
        if request:
            spec["request"] = request
        metadata = options.get("metadata")
        if metadata:
            spec["metadata"] = dict(metadata)
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
            text = json.dumps(spec, default=encode_value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValidationError(f"{method}: a value cannot be matched: {e}") from None
        try:
            expectation_id = self._native.mount(text)
        except ValueError as e:
            raise ValidationError(str(e)) from None
        self._expectations += 1
        description = name or f"{rpc} {json.dumps(request, default=str)}"
        return Expectation(self, expectation_id, description)

    def expect_append(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | None = None,
        aggregate_id: str | None = None,
        aggregate_type: str | None = None,
        expected_aggregate_nonce: int | None = None,
        events: Sequence[EventInput] | None = None,
        idempotency_key: str | None = None,
        returns: AppendResult | Mapping[str, int] | None = None,
        drop_connection: bool = False,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects appends matching the fields given (others are ignored).

        ``events`` lists ``@event`` instances (matched by type, revision and
        payload), :class:`~eventstore.NewEvent` objects or dict patterns;
        the batch must have exactly that many events. Counts: exactly once
        by default, or ``times=``, ``at_least=``/``at_most=``, ``never=True``.
        ``fail_with`` an error class or instance (``ConcurrencyError``,
        ``ConnectionError``...) or a ``(code, message)`` pair answers with
        that failure, only on the ``nth`` matching call if given (which
        makes the default count "at least n"); ``up_to=n`` matches only the
        first ``n`` matching calls (later ones go past it, to the working
        store, and are not counted; the default count becomes exactly
        ``n``), so ``fail_with=ConcurrencyError, up_to=2`` fails twice and
        then lets the append through; ``returns``
        answers with a stubbed result without writing; ``delay`` (seconds)
        waits first; ``drop_connection`` cuts the client's connection;
        ``metadata`` matches gRPC metadata; ``name`` names it in reports.
        Values may be ``{"$regex": "..."}`` patterns.
        """
        fields = _request_fields(
            request,
            tenant_id=tenant_id,
            aggregate_id=aggregate_id,
            aggregate_type=aggregate_type,
            expected_aggregate_nonce=expected_aggregate_nonce,
            events=events,
            idempotency_key=idempotency_key,
        )
        if "events" in fields:
            batch = fields["events"]
            if isinstance(batch, (str, bytes, Mapping)) or not isinstance(batch, Sequence):
                raise ValidationError(f"expect_append: events must be a list of expected events, got {batch!r}")
            fields["events"] = [
                _event_pattern(e, f"events[{i}]") for i, e in enumerate(cast("Sequence[object]", batch))
            ]
        reply: RespondSpec = {}
        if returns is not None:
            r = returns if isinstance(returns, Mapping) else vars(returns)
            reply["append_response"] = {
                "last_global_nonce": r["last_global_nonce"],
                "last_aggregate_nonce": r["last_aggregate_nonce"],
            }
        if drop_connection:
            reply["drop_connection"] = True
        return self._expect("append", fields, reply, options)

    def expect_read_stream(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | None = None,
        aggregate_id: str | None = None,
        from_aggregate_nonce: int | None = None,
        max_count: int | None = None,
        forward: bool | None = None,
        returns: Sequence[EventInput] | None = None,
        drop_connection: bool = False,
        data_loss_at: int | None = None,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects reads matching the fields given. ``returns`` answers with
        a page holding these events (``@event`` instances or NewEvents,
        numbered 1..n) instead of the store's; ``data_loss_at=N`` fails a
        page that reaches global nonce ``N`` with ``DATA_LOSS`` and the
        trailer (the client raises :class:`~eventstore.UndecodableEventError`),
        as the real store does for a damaged record; other options as
        :meth:`expect_append`."""
        fields = _request_fields(
            request,
            tenant_id=tenant_id,
            aggregate_id=aggregate_id,
            from_aggregate_nonce=from_aggregate_nonce,
            max_count=max_count,
            forward=forward,
        )
        reply = _read_reply("read_stream", fields, returns, drop_connection, data_loss_at)
        return self._expect("read_stream", fields, reply, options)

    def expect_subscribe(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | None = None,
        aggregate_id_prefix: str | None = None,
        from_global_nonce: int | None = None,
        fail_after: int | None = None,
        drop_after: int | None = None,
        delay_each: float | None = None,
        keepalive_every: int | None = None,
        keepalive_interval: float | None = None,
        data_loss_at: int | None = None,
        returns: Sequence[EventInput] | None = None,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects subscriptions matching the fields given.

        Stream faults: ``fail_after=n`` ends the stream after ``n`` events
        with ``fail_with`` (default ``ConnectionError``, i.e. UNAVAILABLE);
        ``drop_after=n`` cuts the connection after ``n`` events;
        ``delay_each`` (seconds) slows every event. As the reference store
        does: ``keepalive_every=n`` sends an event-less response after every
        ``n`` events, ``keepalive_interval`` (seconds) one whenever no event
        came for that long; ``data_loss_at=N`` ends the stream with
        ``DATA_LOSS`` and the trailer ``esp-undecodable-global-nonce: N``
        instead of the event at global nonce ``N`` or later, after every
        event before it (the client raises
        :class:`~eventstore.UndecodableEventError`). Without ``fail_after``,
        ``fail_with`` refuses the subscription. ``returns`` streams these
        events instead of the store's, then ends. Other options as
        :meth:`expect_append`.
        """
        fields = _request_fields(
            request, tenant_id=tenant_id, aggregate_id_prefix=aggregate_id_prefix, from_global_nonce=from_global_nonce
        )
        reply: RespondSpec = {}
        if fail_after is not None:
            # fail_with is the stream's end here, not a refusal of the call.
            fail_with = options.pop("fail_with", None)
            status: StatusSpec | None = _status_for(ConnectionError if fail_with is None else fail_with).get("status")
            if status is None:
                raise ValidationError("fail_after: a subscription can fail with a status, not a conflict")
            reply["fail_after"] = {"events": fail_after, **status}
        if drop_after is not None:
            reply["drop_after"] = drop_after
        if delay_each is not None:
            reply["delay_each_ms"] = round(delay_each * 1000)
        if keepalive_every is not None:
            reply["keepalive_every"] = check_int_at_least("expect_subscribe: keepalive_every", keepalive_every, 1)
        if keepalive_interval is not None:
            if isinstance(keepalive_interval, bool) or not isinstance(unchecked(keepalive_interval), (int, float)):
                raise ValidationError(
                    f"expect_subscribe: keepalive_interval must be seconds, got {keepalive_interval!r}"
                )
            if not keepalive_interval > 0:
                raise ValidationError(
                    f"expect_subscribe: keepalive_interval must be more than 0 seconds, got {keepalive_interval!r}"
                )
            reply["keepalive_interval_ms"] = max(1, round(keepalive_interval * 1000))
        _data_loss(reply, data_loss_at, "expect_subscribe")
        if returns is not None:
            reply["events"] = _stub_events(returns, fields)
        return self._expect("subscribe", fields, reply, options)

    def expect_read_all(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | None = None,
        from_global_nonce: int | None = None,
        max_count: int | None = None,
        forward: bool | None = None,
        returns: Sequence[EventInput] | None = None,
        drop_connection: bool = False,
        data_loss_at: int | None = None,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects ``ReadAll`` calls matching the fields given. ``returns``
        answers with a final page holding these events (``@event`` instances
        or NewEvents, at global nonces 1..n) instead of the store's;
        ``data_loss_at`` as :meth:`expect_read_stream`; other options as
        :meth:`expect_append`."""
        fields = _request_fields(
            request,
            tenant_id=tenant_id,
            from_global_nonce=from_global_nonce,
            max_count=max_count,
            forward=forward,
        )
        reply = _read_reply("read_all", fields, returns, drop_connection, data_loss_at)
        return self._expect("read_all", fields, reply, options)

    def expect_server_info(
        self,
        *,
        returns: ServerInfo | Mapping[str, Any] | None = None,
        legacy: bool = False,
        drop_connection: bool = False,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects ``GetServerInfo`` calls. ``returns`` answers with this
        :class:`~eventstore.ServerInfo` (or a dict of some of its fields; a
        field left out is the mock's own: its version
        (``0.17.0+eventstore-sdk.X.Y.Z``), ``eventstore.v1``, its
        :attr:`backend` (``"memory"`` unless told otherwise), every
        capability); ``legacy=True`` answers
        ``UNIMPLEMENTED`` as a server from before ``GetServerInfo``. Other
        options as :meth:`expect_append`."""
        reply: RespondSpec = {}
        if returns is not None:
            reply["server_info_response"] = _server_info_spec(returns)
        if legacy:
            reply["legacy_server"] = True
        if drop_connection:
            reply["drop_connection"] = True
        return self._expect("get_server_info", {}, reply, options)

    # -- verification and journal -----------------------------------------

    def verify(self) -> None:
        """Raises :class:`AssertionError` with a report (each unmet
        expectation, the nearest calls, a field-by-field diff) unless every
        expectation is met."""
        __tracebackhide__ = True  # pytest shows the caller's line, not this one
        report = self._unmet_report()
        if report is not None:
            raise AssertionError(report)

    def _unmet_report(self) -> str | None:
        """What :meth:`verify` would raise, or ``None`` when every
        expectation is met (the pytest plugin fails the test with it)."""
        return self._native.verify()

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call received, in order."""
        return [
            _recorded_call(json.loads(text), events, delivered) for text, events, delivered in self._native.journal()
        ]

    @property
    def appends(self) -> list[RecordedCall]:
        """The ``Append`` calls received."""
        return [c for c in self.calls if c.rpc == "append"]

    @property
    def reads(self) -> list[RecordedCall]:
        """The ``ReadStream`` calls received."""
        return [c for c in self.calls if c.rpc == "read_stream"]

    @property
    def subscriptions(self) -> list[RecordedCall]:
        """The ``Subscribe`` calls received."""
        return [c for c in self.calls if c.rpc == "subscribe"]

    @property
    def read_alls(self) -> list[RecordedCall]:
        """The ``ReadAll`` calls received."""
        return [c for c in self.calls if c.rpc == "read_all"]

    @property
    def server_info_calls(self) -> list[RecordedCall]:
        """The ``GetServerInfo`` calls received."""
        return [c for c in self.calls if c.rpc == "get_server_info"]

    @property
    def unmatched_calls(self) -> list[RecordedCall]:
        """The calls no expectation matched."""
        return [c for c in self.calls if not c.matched]

    # -- state --------------------------------------------------------------

    def reset(self, *, journal: bool = False, expectations: bool = False, data: bool = False) -> None:
        """Forgets calls, expectations and/or data; with no argument, all three."""
        if not (journal or expectations or data):
            journal = expectations = data = True
        self._native.reset(journal=journal, expectations=expectations, data=data)
        if expectations:
            self._expectations = 0

    @property
    def strict(self) -> bool:
        """Strict mode (see the class docs); settable."""
        return self._strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self._native.set_strict(bool(value))
        self._strict = bool(value)

    @property
    def legacy(self) -> bool:
        """Legacy mode: ``GetServerInfo`` answers ``UNIMPLEMENTED`` (see the
        class docs); settable. An expectation's reply still wins."""
        return self._legacy

    @legacy.setter
    def legacy(self, value: bool) -> None:
        self._native.set_legacy_server(bool(value))
        self._legacy = bool(value)

    @property
    def backend(self) -> Backend:
        """The ``backend`` ``GetServerInfo`` answers: ``"memory"`` (the
        default), ``"postgres"`` or ``"unknown"`` (the reference's values);
        settable, e.g. to answer as the user's production store would. An
        expectation's reply still wins."""
        return self._backend

    @backend.setter
    def backend(self, value: Backend) -> None:
        checked = _check_backend(value)
        self._native.set_backend(checked)
        self._backend = checked

    def seed(
        self,
        aggregate_id: str,
        events: Sequence[EventInput],
        *,
        tenant_id: str = DEFAULT_TENANT,
        aggregate_type: str = "Aggregate",
    ) -> AppendResult:
        """Preloads a stream without going through the journal or the
        expectations: events get the next nonces, fresh event ids and global
        positions, as the store assigns them."""
        now = now_ms()
        encoded = [encode_event(e, i, 0, NO_IDS, now) for i, e in enumerate(events)]
        last_global, last_nonce = self._native.seed(tenant_id, aggregate_id, aggregate_type, encoded)
        return AppendResult(last_global_nonce=last_global, last_aggregate_nonce=last_nonce)

    @classmethod
    def from_fixture(cls, path: str | os.PathLike[str]) -> MockEventStore:
        """A mock (default options) preloaded with the fixture file at ``path``:
        one written by ``eventstore-mock record`` (or ``python -m
        eventstore.testing.record``) from a real store answers every stream
        and ``read_all`` read with the events and nonces the store answered.
        A missing file raises :class:`FileNotFoundError`; a malformed one
        :class:`~eventstore.ValidationError` naming the file, line and field.
        For other options, ``MockEventStore(...)`` then :meth:`load_fixture`."""
        mock = cls()
        try:
            mock.load_fixture(path)
        except BaseException:
            mock.close()
            raise
        return mock

    def load_fixture(self, path: str | os.PathLike[str]) -> None:
        """Preloads the fixture file at ``path`` (see :meth:`from_fixture`),
        bypassing the journal and the expectations. A recorded fixture keeps
        its global nonces, so it loads into an empty mock."""
        file = os.fspath(path)
        if not os.path.isfile(file):
            raise FileNotFoundError(errno.ENOENT, "fixture file not found", file)
        self._native.load_fixture(file)

    def read(self, aggregate_id: str, *, tenant_id: str = DEFAULT_TENANT) -> list[RecordedEvent]:
        """Every event of a stream, read directly (not journaled)."""
        return [RecordedEvent(r, default_registry) for r in self._native.read_all(tenant_id, aggregate_id)]

    def close(self) -> None:
        """Stops the mock; open subscriptions end. Idempotent."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    def __repr__(self) -> str:
        flags = "".join(f", {name}=True" for name, on in (("strict", self._strict), ("legacy", self._legacy)) if on)
        if self._backend != "memory":
            flags += f", backend={self._backend!r}"
        state = "closed" if self._native.closed else f"calls={self._native.call_count()}"
        return f"MockEventStore(endpoint={self.endpoint!r}{flags}, expectations={self._expectations}, {state})"

    def __enter__(self) -> MockEventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.verify()
        finally:
            self.close()

    def __iter__(self) -> Iterator[RecordedCall]:
        return iter(self.calls)
