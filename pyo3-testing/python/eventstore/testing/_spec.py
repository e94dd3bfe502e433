"""The JSON exchanged with the Rust mock, typed once: the expectation spec
``MockEventStore.expect_*`` sends (``NativeMock.mount``), and the journal
it hands back (``NativeMock.journal``).

The Rust side (``eventstore_mock::spec``) parses the expectation with
unknown fields rejected; each ``TypedDict`` of it here mirrors one of its
structs, key for key (``tests/test_spec_contract.py`` feeds every shape,
with every key, through the Rust parser and compares the keys each side
knows), so a typo is a mypy error on this side and a named
``ValidationError`` on the other. Pattern values (``request``, ``meta``,
``payload``) are JSON values where an object with ``$regex``, ``$any`` or
``$eq`` is an operator (typed here as :data:`RegexPattern`,
:data:`AnyPattern` and :data:`EqPattern`). A few keys the Rust side takes
are never sent by the Python API; they are declared so that the mirror is
whole, and say so.
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "AnyPattern",
    "AppendResponseSpec",
    "CallJson",
    "ConflictSpec",
    "EqPattern",
    "EventPattern",
    "ExpectationSpec",
    "FailAfterSpec",
    "ReadAllResponseSpec",
    "ReadResponseSpec",
    "RegexPattern",
    "RespondSpec",
    "Rpc",
    "ServerInfoResponseSpec",
    "StatusSpec",
    "StreamEndJson",
    "StreamEndReason",
    "StubEvent",
]

Rpc = Literal["append", "read_stream", "subscribe", "read_all", "get_server_info"]
"""The RPC an expectation is about (the journal's ``RecordedCall.rpc``)."""

# The pattern operators (``eventstore_mock::pattern``). Their keys start with
# ``$``, so they are written in TypedDict's functional form.

RegexPattern = TypedDict("RegexPattern", {"$regex": str})
"""``{"$regex": "^order-"}``: matches a string in which the regex (the Rust
``regex`` crate's syntax) finds a match."""

AnyPattern = TypedDict("AnyPattern", {"$any": Literal[True]})
"""``{"$any": True}``: matches any value that is present."""

EqPattern = TypedDict("EqPattern", {"$eq": object})
"""``{"$eq": value}``: matches exactly ``value`` (an object with all its
fields and no others; its ``$`` keys are not operators)."""


class _StatusCode(TypedDict):
    code: str
    message: str


class StatusSpec(_StatusCode, total=False):
    """Answer with a gRPC status (``code`` is the code's name, ``"UNAVAILABLE"``)."""

    details_base64: str
    """The status details (``grpc-status-details-bin``), base64; not sent by
    the Python API (``fail_with=ConcurrencyError`` sends a ``conflict``)."""


class ConflictSpec(TypedDict, total=False):
    """Answer an append with ``ABORTED`` and a concurrency detail: exactly the
    nonces given, or without them the stream's real head (a retry converges)."""

    tenant_id: str
    aggregate_id: str
    actual_last_aggregate_nonce: int
    actual_last_global_nonce: int


class AppendResponseSpec(TypedDict):
    """Answer an append with this result, without writing."""

    last_global_nonce: int
    last_aggregate_nonce: int


class StubEvent(TypedDict):
    """A stubbed event in the journal's view form: ``meta`` holds metadata
    fields by name (those left out take the store's defaults), ``payload`` is
    ``{"$base64": ...}``."""

    meta: dict[str, object]
    payload: dict[str, str]


class ReadResponseSpec(TypedDict):
    """Answer a read with this page instead of the store's."""

    events: list[StubEvent]
    is_end: bool
    next_from_aggregate_nonce: int


class ReadAllResponseSpec(TypedDict):
    """Answer a ``ReadAll`` with this page instead of the store's."""

    events: list[StubEvent]
    is_end: bool
    next_from_global_nonce: int


class ServerInfoResponseSpec(TypedDict, total=False):
    """Answer ``GetServerInfo`` with this; a field left out is the mock's own."""

    server_version: str
    api_version: str
    backend: str
    capabilities: list[str]


class FailAfterSpec(TypedDict):
    """End a subscription with a status after ``events`` events."""

    events: int
    code: str
    message: str


class RespondSpec(TypedDict, total=False):
    """How a matching call is answered: at most one reply (``status``,
    ``conflict``, ``append_response``, ``read_response``,
    ``read_all_response``, ``server_info_response``, ``legacy_server``,
    ``events``, ``drop_connection``; none passes the call through to the
    store), plus any of the delays and stream faults (``keepalive_every``:
    an event-less response after every n events; ``keepalive_interval_ms``:
    one whenever no event came for that long; ``data_loss_at``: ``DATA_LOSS``
    with the trailer instead of the event at that global nonce or later)."""

    status: StatusSpec
    conflict: ConflictSpec
    append_response: AppendResponseSpec
    read_response: ReadResponseSpec
    read_all_response: ReadAllResponseSpec
    server_info_response: ServerInfoResponseSpec
    legacy_server: bool
    events: list[StubEvent]
    drop_connection: bool
    delay_ms: int
    delay_each_ms: int
    fail_after: FailAfterSpec
    drop_after: int
    keepalive_every: int
    keepalive_interval_ms: int
    data_loss_at: int


class EventPattern(TypedDict, total=False):
    """What an expected event must look like: only the fields given count."""

    meta: dict[str, object]
    payload: object


class _ExpectationRpc(TypedDict):
    rpc: Rpc


class ExpectationSpec(_ExpectationRpc, total=False):
    """One expectation, as ``NativeMock.mount`` takes it (JSON-encoded).

    Only ``rpc`` is required. A count is either ``times`` or
    ``at_least``/``at_most``; with none the Rust mock counts any number of
    calls (the Python API always sends one: its default is exactly once)."""

    request: dict[str, object]
    fields: dict[str, object]
    """Patterns by field path (``"events[0].payload.amount"``); not sent by
    the Python API, whose ``request`` patterns nest instead."""
    metadata: dict[str, object]
    """gRPC metadata patterns by header name: a string, or an operator."""
    times: int
    at_least: int
    at_most: int
    respond: RespondSpec
    nth: int
    up_to: int
    """Match only the first ``up_to`` calls; later ones go past it."""
    name: str
    sequence: str
    """The name of a sequence: its expectations must be met in the order
    they were mounted; not sent by the Python API."""


# -- the journal: what ``NativeMock.journal`` hands back (``wire/call.rs``) ----------


StreamEndReason = Literal["cancelled", "status", "completed", "dropped"]
"""Why a subscription stream ended (``StreamEndJson.reason``)."""


class StreamEndJson(TypedDict):
    """How a subscription stream ended."""

    reason: StreamEndReason
    status: str
    message: str


class CallJson(TypedDict):
    """One journal call, flattened by the mock's wire model
    (``eventstore_mock::wire::call_json``). The events of an append and of a
    subscription's deliveries travel next to it as native events."""

    seq: int
    rpc: str
    request: dict[str, object]
    metadata: dict[str, str]
    status: str
    message: str
    response: dict[str, object] | None
    received_unix_micros: int
    latency_micros: int | None
    delivered: list[dict[str, object]]
    """The view form of the deliveries (Python reads the native events instead)."""
    stream_end: StreamEndJson | None
    caught_up_marker_sent: bool
    keepalives_sent: int
    matched: list[int]
    completed: bool
    rejected_by_strict_mode: bool
