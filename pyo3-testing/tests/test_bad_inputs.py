"""Bad inputs fail early, with a ValidationError (also a ValueError) whose
message names the field and the value, and nothing reaches the store."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import expect_unregistered
from eventstore import AppendRequest, EventRegistry, EventStoreClient, NewEvent, ValidationError, event
from eventstore.testing import MockEventStore


@event(type="tests.bad.Good", revision=1)
@dataclass
class Good:
    n: int


@dataclass
class Undecorated:
    n: int


class Opaque:
    pass


@pytest.fixture
def client(mock: MockEventStore) -> Iterator[EventStoreClient]:
    yield EventStoreClient(endpoint="mock", store=mock)
    assert mock.calls == [], "a bad input must be rejected before any call"


def ok(**overrides: Any) -> dict[str, Any]:
    """A valid append, with some fields replaced."""
    return {"aggregate_id": "order-1", "aggregate_type": "Order", "events": [Good(1)], **overrides}


APPEND_CASES = [
    ("aggregate_id-int", ok(aggregate_id=123), r"aggregate_id must be a str, got int 123"),
    ("aggregate_type-int", ok(aggregate_type=5), r"aggregate_type must be a str, got int 5"),
    ("tenant_id-int", ok(tenant_id=7), r"tenant_id must be a str, got int 7"),
    ("idempotency_key-int", ok(idempotency_key=1), r"idempotency_key must be a str"),
    ("expected-negative", ok(expected_aggregate_nonce=-1), r"expected_aggregate_nonce must be an integer .*got -1"),
    ("expected-str", ok(expected_aggregate_nonce="1"), r"expected_aggregate_nonce must be an integer .*got '1'"),
    ("expected-float", ok(expected_aggregate_nonce=1.5), r"expected_aggregate_nonce .*got 1\.5"),
    ("expected-bool", ok(expected_aggregate_nonce=True), r"expected_aggregate_nonce .*got True"),
    ("expected-too-big", ok(expected_aggregate_nonce=2**64), r"expected_aggregate_nonce .*18446744073709551615"),
    ("events-str", ok(events="x"), r"events must be a list of events, got str"),
    ("events-bytes", ok(events=b"x"), r"events must be a list of events, got bytes"),
    ("events-dict", ok(events={"event_type": "x"}), r"events must be a list of events, got dict"),
    ("events-int", ok(events=3), r"events must be a list of events, got int"),
    (
        "events-object",
        ok(events=[object()]),
        r"events\[0\]: expected an @event instance, a NewEvent or a dict, got object",
    ),
    ("events-opaque-second", ok(events=[Good(1), Opaque()]), r"events\[1\]: .*got Opaque"),
    ("events-undecorated", ok(events=[Undecorated(1)]), r"events\[0\]: Undecorated is not an @event class: decorate"),
    ("events-class", ok(events=[Good]), r"events\[0\]: got the class Good, pass an instance"),
    ("events-none-item", ok(events=[None]), r"events\[0\]: .*got NoneType"),
    ("event-dict-no-type", ok(events=[{"payload": {"a": 1}}]), r"events\[0\]\.event_type is required"),
    (
        "event-dict-unknown-key",
        ok(events=[{"event_type": "x", "colour": 1}]),
        r"events\[0\]: unknown key\(s\) \['colour'\]",
    ),
    ("newevent-type-int", ok(events=[NewEvent(123)]), r"events\[0\]\.event_type must be a non-empty str.*123"),
    ("newevent-type-empty", ok(events=[NewEvent("")]), r"events\[0\]\.event_type must be a non-empty str"),
    ("newevent-version", ok(events=[NewEvent("x", event_version=-1)]), r"events\[0\]\.event_version .*got -1"),
    (
        "newevent-payload",
        ok(events=[NewEvent("x", payload=Opaque())]),
        r"events\[0\]\.payload: .*not JSON serializable",
    ),
    (
        "newevent-headers",
        ok(events=[NewEvent("x", headers={"a": 1})]),
        r"events\[0\]\.headers must be a dict of str to str",
    ),
    ("newevent-timestamp", ok(events=[NewEvent("x", timestamp="today")]), r"events\[0\]\.timestamp must be a datetime"),
    ("newevent-event-id", ok(events=[NewEvent("x", event_id=5)]), r"events\[0\]\.event_id must be a str"),
    ("event-unencodable", ok(events=[Good(Opaque())]), r"events\[0\]: cannot encode Good \(event type .*\): "),
    ("correlation-int", ok(correlation_id=5), r"correlation_id must be a str, got int 5"),
    ("no-events", {"aggregate_id": "a", "aggregate_type": "A"}, r"events is required"),
]


@pytest.mark.parametrize(("kwargs", "message"), [pytest.param(k, m, id=i) for i, k, m in APPEND_CASES])
async def test_bad_append_keywords(client: EventStoreClient, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        await client.append_events(**kwargs)
    assert isinstance(caught.value, ValueError)
    assert caught.value.code is None, "rejected by the client"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    # correlation_id & co. are arguments of the call, not fields of the request.
    [pytest.param(k, m, id=i) for i, k, m in APPEND_CASES if "correlation_id" not in k],
)
async def test_bad_append_dict_form(client: EventStoreClient, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        await client.append_events(kwargs)


async def test_bad_request_objects(client: EventStoreClient) -> None:
    with pytest.raises(ValidationError, match=r"append request: unknown key\(s\) \['evnts'\]"):
        await client.append_events({"aggregate_id": "a", "aggregate_type": "A", "evnts": [Good(1)]})
    with pytest.raises(ValidationError, match=r"unknown key\(s\) \['correlation_id'\]"):
        await client.append_events(ok(correlation_id="c"))
    with pytest.raises(ValidationError, match="takes an AppendRequest, a dict or keywords, got str"):
        await client.append_events("order-1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="events is required"):
        await client.append_events()
    with pytest.raises(ValidationError, match="events is required"):
        await client.append_events(AppendRequest(aggregate_id="a", aggregate_type="A", events=None))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"expected_aggregate_nonce .*got -2"):
        await client.append_events(AppendRequest("a", "A", [Good(1)], expected_aggregate_nonce=-2))


async def test_missing_stream_fields_are_named_by_the_store(mock: MockEventStore) -> None:
    """An append without aggregate_id/aggregate_type: the store names the field."""
    client = EventStoreClient(endpoint="mock", store=mock)
    with pytest.raises(ValidationError, match=r"^aggregate_id is required$") as caught:
        await client.append_events({"events": [Good(1)]})
    assert caught.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ValidationError, match=r"^aggregate_type is required$"):
        await client.append_events({"aggregate_id": "a", "events": [Good(1)]})
    mock.reset(journal=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aggregate_id": 1}, r"aggregate_id must be a str, got int 1"),
        ({"aggregate_id": None}, r"aggregate_id must be a str, got NoneType"),
        ({"aggregate_id": "a", "from_aggregate_nonce": -1}, r"from_aggregate_nonce must be an integer .*got -1"),
        ({"aggregate_id": "a", "from_aggregate_nonce": "3"}, r"from_aggregate_nonce .*got '3'"),
        ({"aggregate_id": "a", "from_aggregate_nonce": 2**64}, r"from_aggregate_nonce .*18446744073709551615"),
        ({"aggregate_id": "a", "max_count": -5}, r"max_count must be an integer .*got -5"),
        ({"aggregate_id": "a", "max_count": True}, r"max_count .*got True"),
        ({"aggregate_id": "a", "tenant_id": 9}, r"tenant_id must be a str, got int 9"),
    ],
)
async def test_bad_read_inputs(client: EventStoreClient, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        await client.read_stream(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"from_global_nonce": -1}, r"from_global_nonce must be an integer .*got -1"),
        ({"from_global_nonce": "0"}, r"from_global_nonce .*got '0'"),
        ({"aggregate_id_prefix": 3}, r"aggregate_id_prefix must be a str, got 3"),
        ({"tenant_id": 3}, r"tenant_id must be a str, got int 3"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
        ({"max_reconnect_attempts": -1}, r"max_reconnect_attempts must be an integer >= 0, got -1"),
    ],
)
async def test_bad_subscribe_inputs(client: EventStoreClient, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        await client.subscribe(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": 5}, r"endpoint must be a str like 'localhost:50051', got 5"),
        ({"endpoint": ""}, r'endpoint "": it is empty'),
        ({"endpoint": "ftp://host:1"}, r"only http:// and https:// are supported"),
        ({"endpoint": "mock"}, r"endpoint 'mock' needs store="),
        ({"tenant_id": ""}, r"tenant_id must be a non-empty str, got ''"),
        ({"tenant_id": 5}, r"tenant_id must be a non-empty str, got 5"),
        ({"connection_timeout": -1}, r"connection_timeout must be a positive number of seconds, got -1"),
        ({"connection_timeout": "5"}, r"connection_timeout must be a number of seconds or None, got '5'"),
        ({"request_timeout": 0}, r"request_timeout must be a positive number of seconds, got 0"),
        ({"request_timeout": float("nan")}, r"request_timeout must be a positive number"),
        ({"max_connections": 0}, r"max_connections must be .*0"),
        ({"max_connections": "2"}, r"max_connections must be an integer >= 1, got '2'"),
        ({"credentials": {"username": "u"}}, r"credentials needs a 'password' key"),
        ({"credentials": ("u",)}, r"credentials must be .*\(username, password\) pair"),
        ({"credentials": {"username": "u", "password": 1}}, r"credentials: username and password must be str"),
        ({"tls": {"bogus": 1}}, r"tls: unknown key\(s\) \['bogus'\]"),
        ({"tls": {"ca_certificate": 123}}, r"tls\.ca_certificate must be PEM bytes or str, got int"),
        ({"tls": {"client_certificate": b"x"}}, r"tls\.client_certificate needs tls\.client_key"),
    ],
)
def test_bad_client_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EventStoreClient(**kwargs)


POSITIVE = (
    "{name} must be a positive number of seconds, got {value} "
    "(None means no limit; 0 is refused, it would fail every call)"
)
AT_MOST = (
    "{name} must be at most 359999996400 seconds (99,999,999 hours, gRPC's longest deadline), "
    "got {value} (None means no limit)"
)
NOT_SECONDS = "{name} must be a number of seconds or None, got {value}"


@pytest.mark.parametrize("name", ["connection_timeout", "request_timeout"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, POSITIVE),
        (0.0, POSITIVE),
        (-1, POSITIVE),
        (-0.5, POSITIVE),
        (float("nan"), POSITIVE),
        (float("-inf"), POSITIVE),
        (float("inf"), AT_MOST),
        (359999996401, AT_MOST),
        (10**400, AT_MOST),
        (True, NOT_SECONDS),
        (False, NOT_SECONDS),
        ("5", NOT_SECONDS),
        (b"5", NOT_SECONDS),
    ],
    ids=repr,
)
def test_a_timeout_is_positive_seconds_or_none(name: str, value: object, message: str) -> None:
    """``connection_timeout`` and ``request_timeout``: a positive number of
    seconds, at most gRPC's longest deadline, or ``None`` (no limit); 0 is
    zero time, not "no limit", and refused (_checks.check_timeout)."""
    with pytest.raises(ValidationError) as refused:
        EventStoreClient(**{name: value})
    assert str(refused.value) == message.format(name=name, value=repr(value))


@pytest.mark.parametrize("value", [None, 0.001, 1, 30.0, 359999996400])
def test_good_timeouts_pass(value: float | None) -> None:
    EventStoreClient(connection_timeout=value, request_timeout=value)


def timeout_refusals(value: float) -> tuple[str | None, str | None]:
    """How the SDK and the Rust core answer ``request_timeout=value``: each
    one's refusal, or ``None``."""
    from eventstore import _native
    from eventstore._checks import check_timeout

    python = rust = None
    try:
        check_timeout("request_timeout", value)
    except ValidationError as e:
        python = str(e)
    try:
        _native.NativeConnectOptions("localhost:50051", request_timeout=value)
    except ValueError as e:
        rust = str(e)
    return python, rust


@pytest.mark.parametrize("value", [0.001, 1, 359999996400])
def test_the_native_timeout_rule_accepts_what_python_accepts(value: float) -> None:
    assert timeout_refusals(value) == (None, None)


@pytest.mark.parametrize("value", [0, -1, float("-inf"), float("inf"), 10**12, 359999996401])
def test_the_native_timeout_rule_refuses_as_python_does(value: float) -> None:
    """The Rust core refuses what the SDK refuses, with the same message
    (values whose Rust formatting is Python's repr)."""
    python, rust = timeout_refusals(value)
    assert python is not None
    assert rust == python


def test_tls_options_with_an_http_endpoint_are_refused_as_the_kit_refuses_them(tmp_path: Path) -> None:
    """TLS options with an ``http://`` URL would send in plain text what
    they ask to protect. The client refuses them before any I/O, in the
    conformance kit's words: both connect through one connector."""
    endpoint = "http://127.0.0.1:1"
    expected = (
        'endpoint "http://127.0.0.1:1": http:// is plain text, but the TLS options ask for TLS: '
        "use https:// or HOST:PORT"
    )
    for tls in (
        True,
        {"ca_certificate": b"-----BEGIN CERTIFICATE-----"},
        {"client_certificate": b"cert", "client_key": b"key"},
        {"server_name": "store.internal"},
    ):
        with pytest.raises(ValidationError) as caught:
            EventStoreClient(endpoint=endpoint, tls=tls)
        assert str(caught.value) == expected, tls
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----")
    kit = subprocess.run(
        [sys.executable, "-m", "eventstore.testing.conformance", "check", "--endpoint", endpoint, "--tls-ca", str(ca)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert kit.returncode == 2, kit.stdout + kit.stderr
    assert kit.stderr == f"eventstore-conformance: {expected}\n"


def test_store_with_wrong_endpoint(mock: MockEventStore) -> None:
    with pytest.raises(ValidationError, match="endpoint must be 'mock'"):
        EventStoreClient(endpoint="localhost:1", store=mock)


async def test_unregistered_event_class_still_appends_and_reads_as_json(mock: MockEventStore) -> None:
    """An @event class missing from the reading client's registry is not an
    error: its payload reads as the JSON dict."""
    registry = EventRegistry()

    @event(type="tests.bad.Private", revision=1, registry=registry)
    @dataclass
    class Private:
        secret: str

    writer = EventStoreClient(endpoint="mock", store=mock, registry=registry)
    await writer.append_events(aggregate_id="p", aggregate_type="P", events=[Private("s")])
    assert (await writer.read_stream("p")).events[0].payload == Private("s")
    reader = EventStoreClient(endpoint="mock", store=mock)
    (read,) = (await reader.read_stream("p")).events
    with expect_unregistered("tests.bad.Private"):
        assert read.payload == {"secret": "s"}
    mock.reset(journal=True)


async def test_good_inputs_of_every_kind_pass(mock: MockEventStore) -> None:
    """The control: valid forms of everything above are accepted."""
    client = EventStoreClient(endpoint="mock", store=mock, credentials=("u", "p"), max_connections=2)
    await client.append_events(
        aggregate_id="ok",
        aggregate_type="Order",
        events=(
            Good(1),
            NewEvent("x", {"a": 1}, timestamp=dt.datetime.now(dt.timezone.utc), headers={"h": "v"}),
            {"event_type": "y", "payload": b"raw", "content_type": "application/octet-stream"},
        ),
        correlation_id="c",
    )
    assert len((await client.read_stream("ok", max_count=2**32 + 5)).events) == 3
    await (await client.subscribe(from_global_nonce=0, batch_size=1, max_reconnect_attempts=0)).close()
    mock.reset(journal=True)
