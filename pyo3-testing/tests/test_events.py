"""@event classes: the JSON codec, custom serialization, the registry and
decoration-time errors, checked both through the codec directly and through
a real append + read against the in-process MockEventStore."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Optional, Union

import eventstore
import pytest
from conftest import expect_unregistered
from eventstore import (
    EventRegistry,
    EventStoreClient,
    NewEvent,
    ValidationError,
    default_registry,
    event,
)
from eventstore._codec import decode_value, encode_value
from eventstore._events import definition_of
from eventstore.testing import MockEventStore

PREFIX = "tests.test_events"


# -- event classes ------------------------------------------------------------


class Color(str, Enum):
    RED = "red"
    GREEN = "green"


class Priority(Enum):
    LOW = 1
    HIGH = 2


@dataclass
class Money:
    amount: Decimal
    currency: str = "EUR"


@dataclass
class Address:
    street: str
    city: str
    zip_code: Optional[str] = None  # noqa: UP045 (typing.Optional on purpose)


@dataclass
class Line:
    sku: str
    quantity: int
    price: Money


@event(type=f"{PREFIX}.Everything", revision=1)
@dataclass
class Everything:
    id: uuid.UUID
    naive: dt.datetime
    aware: dt.datetime
    day: dt.date
    at: dt.time
    price: Decimal
    big: Decimal
    color: Color
    priority: Priority
    address: Address
    lines: list[Line]
    pair: tuple[int, str]
    many: tuple[int, ...]
    tags: set[str]
    frozen: frozenset[int]
    counts: dict[str, int]
    blob: bytes
    kind: Literal["a", "b"]
    # typing.Optional / typing.Union and PEP 604 unions, on purpose.
    note: Optional[str] = None  # noqa: UP045
    maybe_address: Optional[Address] = None  # noqa: UP045
    union: Union[int, str] = 0  # noqa: UP007
    pipe_optional: Money | None = None
    ratio: float = 0.5
    flag: bool = False
    anything: Any = None
    stamps: list[dt.datetime] = field(default_factory=list)
    nested_map: dict[str, list[Money]] = field(default_factory=dict)


@event(type=f"{PREFIX}.OrderPlaced", revision=1)
@dataclass
class OrderPlaced:
    order_id: str
    amount: float
    currency: str = "USD"


@event(type=f"{PREFIX}.Customer", revision=1)
@dataclass
class Customer:
    """Revision 1, grown over time: ``email`` and ``tier`` came later."""

    name: str
    email: Optional[str] = None  # noqa: UP045
    tier: str = "basic"


@event(type=f"{PREFIX}.Renamed", revision=1)
@dataclass
class RenamedV1:
    name: str


@event(type=f"{PREFIX}.Renamed", revision=2)
@dataclass
class RenamedV2:
    first_name: str
    last_name: str


def _everything(**changes: Any) -> Everything:
    values: dict[str, Any] = dict(
        id=uuid.UUID("0190f1d2-3c4b-7a5e-9f00-112233445566"),
        naive=dt.datetime(2024, 2, 29, 23, 59, 58, 123456),
        aware=dt.datetime(2024, 3, 1, 12, 0, 0, 7, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        day=dt.date(1999, 12, 31),
        at=dt.time(6, 7, 8, 900),
        price=Decimal("0.1"),
        big=Decimal("1E+3"),
        color=Color.GREEN,
        priority=Priority.HIGH,
        address=Address("Main St 1", "Springfield"),
        lines=[Line("sku-1", 2, Money(Decimal("19.99"))), Line("sku-2", 1, Money(Decimal("0.30"), "USD"))],
        pair=(7, "seven"),
        many=(1, 2, 3),
        tags={"b", "a", "c"},
        frozen=frozenset({3, 1, 2}),
        counts={"x": 1, "y": 2},
        blob=bytes(range(256)),
        kind="b",
        stamps=[dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)],
        nested_map={"k": [Money(Decimal("1.50"))]},
    )
    values.update(changes)
    return Everything(**values)


# -- helpers --------------------------------------------------------------------


async def _round_trip(client: EventStoreClient, *events: Any) -> list[eventstore.RecordedEvent]:
    aggregate_id = f"rt-{uuid.uuid4()}"
    await client.append_events(aggregate_id=aggregate_id, aggregate_type="T", events=list(events))
    page = await client.read_stream(aggregate_id)
    assert len(page.events) == len(events)
    return page.events


@contextmanager
def _type_slot(event_type: str, revision: int) -> Iterator[None]:
    """Frees ``(event_type, revision)`` in the default registry for the block
    (a class another module registered comes back afterwards), and forgets
    whatever the block registered there."""
    prior = default_registry.resolve(event_type, revision)
    if prior is not None:
        default_registry.unregister(prior.cls)
    try:
        yield
    finally:
        current = default_registry.resolve(event_type, revision)
        if current is not None:
            default_registry.unregister(current.cls)
        if prior is not None:
            default_registry.register(prior)


# -- the JSON codec ---------------------------------------------------------------


def _assert_same(decoded: Everything, original: Everything) -> None:
    assert decoded == original
    # Equal is not enough where types could drift.
    assert type(decoded.id) is uuid.UUID
    assert type(decoded.price) is Decimal and str(decoded.price) == "0.1"
    assert type(decoded.big) is Decimal and str(decoded.big) == "1E+3"
    assert decoded.naive.tzinfo is None and decoded.naive.microsecond == 123456
    assert decoded.aware.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert decoded.aware.microsecond == 7
    assert type(decoded.day) is dt.date
    assert decoded.at == dt.time(6, 7, 8, 900)
    assert decoded.color is Color.GREEN
    assert decoded.priority is Priority.HIGH
    assert type(decoded.address) is Address
    assert type(decoded.lines[0].price) is Money
    assert type(decoded.lines[1].price.amount) is Decimal and str(decoded.lines[1].price.amount) == "0.30"
    assert type(decoded.pair) is tuple and type(decoded.many) is tuple
    assert type(decoded.tags) is set and type(decoded.frozen) is frozenset
    assert type(decoded.blob) is bytes
    assert type(decoded.ratio) is float
    assert decoded.stamps[0].tzinfo is not None


def test_codec_round_trips_every_supported_type_exactly() -> None:
    original = _everything(note="n", maybe_address=Address("a", "b", "z"), union="text", anything={"k": [1]})
    definition = definition_of(Everything)
    assert definition is not None
    payload = definition.encode(original)
    assert isinstance(payload, bytes)
    _assert_same(definition.decode(payload), original)


def test_codec_json_shapes() -> None:
    data = json.loads(definition_of(Everything).encode(_everything()))  # type: ignore[union-attr]
    # Decimals are strings (no float rounding), enums their values, bytes base64.
    assert data["price"] == "0.1"
    assert data["big"] == "1E+3"
    assert data["id"] == "0190f1d2-3c4b-7a5e-9f00-112233445566"
    assert data["color"] == "green"
    assert data["priority"] == 2
    assert data["naive"] == "2024-02-29T23:59:58.123456"
    assert data["aware"] == "2024-03-01T12:00:00.000007+05:30"
    assert data["day"] == "1999-12-31"
    assert data["blob"] == base64.b64encode(bytes(range(256))).decode()
    assert data["tags"] == ["a", "b", "c"]  # sets encode in a stable order
    assert data["pair"] == [7, "seven"]
    assert data["note"] is None
    assert data["lines"][0] == {"sku": "sku-1", "quantity": 2, "price": {"amount": "19.99", "currency": "EUR"}}


def test_codec_optional_none_and_value() -> None:
    for note, address in ((None, None), ("hello", Address("s", "c", "9"))):
        original = _everything(note=note, maybe_address=address)
        definition = definition_of(Everything)
        assert definition is not None
        decoded = definition.decode(definition.encode(original))
        assert decoded.note == note
        assert decoded.maybe_address == address


def test_encode_value_and_decode_value_directly() -> None:
    value = {"when": [dt.datetime(2024, 1, 1, 0, 0, 0, 1)], "d": Decimal("-0.000001")}
    encoded = encode_value(value)
    assert encoded == {"when": ["2024-01-01T00:00:00.000001"], "d": "-0.000001"}
    assert decode_value(["2024-01-01T00:00:00.000001"], list[dt.datetime], "x") == value["when"]
    assert decode_value("-0.000001", Decimal, "x") == Decimal("-0.000001")
    assert decode_value(3, float, "x") == 3.0 and type(decode_value(3, float, "x")) is float
    assert decode_value("2024-05-06T07:08:09Z", dt.datetime, "x") == dt.datetime(
        2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc
    )
    with pytest.raises(ValueError, match=r"x: expected an integer, got True"):
        decode_value(True, int, "x")
    with pytest.raises(ValueError, match=r"x: expected one of \('a', 'b'\), got 'c'"):
        decode_value("c", Literal["a", "b"], "x")
    with pytest.raises(ValueError, match=r"x\[1\]: expected an integer"):
        decode_value([1, "two"], list[int], "x")


def test_nan_is_not_json() -> None:
    with pytest.raises(ValueError):
        definition_of(OrderPlaced).encode(OrderPlaced("o", float("nan")))  # type: ignore[union-attr]


@event(type=f"{PREFIX}.Plain", revision=1)
@dataclass
class Plain:
    name: str
    count: int
    ratio: float
    flag: bool


class Name(str):
    pass


def _general_encoding(value: Plain) -> bytes:
    """What the general codec writes (encode, check by decoding, JSON)."""
    definition = definition_of(Plain)
    assert definition is not None
    return definition.encode_general(value)


@pytest.mark.parametrize(
    "value",
    [
        Plain("a", 1, 0.5, True),
        Plain('é " \n', -(2**70), -0.0, False),
        Plain(Name("sub"), 1, 2.0, False),  # a str subclass: the general path
        Plain("a", 1, 2, False),  # an int in a float field: the general path
    ],
    ids=repr,
)
def test_plain_events_encode_as_the_general_codec_does(value: Plain) -> None:
    """A class of str/int/float/bool fields is encoded without the codec's
    walk; the bytes are the codec's, whichever path a value takes."""
    definition = definition_of(Plain)
    assert definition is not None and definition.plain is not None
    assert definition.encode(value) == _general_encoding(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Plain("a", True, 0.5, True), r"Plain.count: expected an integer, got True"),  # type: ignore[arg-type]
        (Plain("a", 1, 0.5, 1), r"Plain.flag: expected a boolean, got 1"),  # type: ignore[arg-type]
        (Plain(None, 1, 0.5, True), r"Plain.name: expected a string, got None"),  # type: ignore[arg-type]
    ],
    ids=repr,
)
def test_plain_events_refuse_wrong_types_as_the_general_codec_does(value: Plain, message: str) -> None:
    definition = definition_of(Plain)
    assert definition is not None
    with pytest.raises(ValueError, match=message):
        definition.encode(value)
    with pytest.raises(ValueError, match=message):
        _general_encoding(value)


def test_plain_events_refuse_infinities() -> None:
    definition = definition_of(Plain)
    assert definition is not None
    with pytest.raises(ValueError, match="Out of range float"):
        definition.encode(Plain("a", 1, float("inf"), True))


# -- through the store ---------------------------------------------------------------


async def test_round_trip_through_append_and_read(client: EventStoreClient) -> None:
    original = _everything(note="x", maybe_address=Address("s", "c"), union=5, anything=[1, "two", None])
    recorded = (await _round_trip(client, original))[0]
    assert recorded.event_type == f"{PREFIX}.Everything"
    assert recorded.event_version == 1
    assert recorded.content_type == "application/json"
    _assert_same(recorded.payload, original)
    # Decoded once, then cached; the raw bytes stay available.
    assert recorded.payload is recorded.payload
    assert json.loads(recorded.data)["price"] == "0.1"


async def test_round_trip_optional_none_and_defaults(client: EventStoreClient) -> None:
    events = await _round_trip(client, _everything(), OrderPlaced("o-1", 9.5))
    assert events[0].payload.note is None
    assert events[0].payload.maybe_address is None
    assert events[0].payload.ratio == 0.5
    assert events[1].payload == OrderPlaced("o-1", 9.5, "USD")


async def test_field_added_later_takes_its_default(client: EventStoreClient) -> None:
    # A payload written before `email` and `tier` existed.
    await client.append_events(
        aggregate_id="cust-1",
        aggregate_type="Customer",
        events=[NewEvent(event_type=f"{PREFIX}.Customer", payload={"name": "Ada"})],
    )
    page = await client.read_stream("cust-1")
    assert page.events[0].payload == Customer(name="Ada", email=None, tier="basic")


async def test_unknown_fields_in_a_payload_are_ignored(client: EventStoreClient) -> None:
    await client.append_events(
        aggregate_id="cust-2",
        aggregate_type="Customer",
        events=[NewEvent(event_type=f"{PREFIX}.Customer", payload={"name": "Bob", "added_in_v9": True})],
    )
    assert (await client.read_stream("cust-2")).events[0].payload == Customer("Bob")


async def test_float_field_given_an_int_in_json(client: EventStoreClient) -> None:
    await client.append_events(
        aggregate_id="o-int",
        aggregate_type="Order",
        events=[NewEvent(event_type=f"{PREFIX}.OrderPlaced", payload={"order_id": "o", "amount": 10})],
    )
    payload = (await client.read_stream("o-int")).events[0].payload
    assert payload == OrderPlaced("o", 10.0)
    assert type(payload.amount) is float


async def test_undecodable_payload_raises_validation_error_naming_event_and_field(client: EventStoreClient) -> None:
    await client.append_events(
        aggregate_id="o-bad",
        aggregate_type="Order",
        events=[
            NewEvent(event_type=f"{PREFIX}.OrderPlaced", payload={"order_id": "o", "amount": "ten"}, event_id="ev-1"),
            NewEvent(event_type=f"{PREFIX}.OrderPlaced", payload={"order_id": "o"}, event_id="ev-2"),
        ],
        expected_aggregate_nonce=0,
    )
    page = await client.read_stream("o-bad")
    # The page itself reads fine; the payload fails when used.
    assert [e.event_id for e in page.events] == ["ev-1", "ev-2"]
    with pytest.raises(ValidationError) as wrong_type:
        _ = page.events[0].payload
    message = str(wrong_type.value)
    assert "ev-1" in message and f"{PREFIX}.OrderPlaced" in message and "OrderPlaced.amount" in message
    assert "'ten'" in message
    with pytest.raises(ValidationError, match=r"ev-2.*amount"):
        _ = page.events[1].payload
    # The raw bytes stay readable.
    assert json.loads(page.events[0].data)["amount"] == "ten"


async def test_encode_failure_on_append_is_a_validation_error(client: EventStoreClient) -> None:
    with pytest.raises(ValidationError, match=r"events\[1\]: cannot encode OrderPlaced"):
        await client.append_events(
            aggregate_id="o-nan", aggregate_type="Order", events=[OrderPlaced("a", 1.0), OrderPlaced("b", float("inf"))]
        )


async def test_classes_defined_in_a_function_decode_later(mock: MockEventStore) -> None:
    # Postponed annotations (this module uses `from __future__ import annotations`)
    # naming classes local to this function, and a recursive class.
    registry = EventRegistry()

    @dataclass
    class Part:
        name: str
        weight: Decimal

    @event(type=f"{PREFIX}.Local", registry=registry)
    @dataclass
    class Assembly:
        parts: list[Part]
        spare: Part | None = None
        children: list[Assembly] = field(default_factory=list)

    local_client = EventStoreClient(endpoint="mock", store=mock, registry=registry)
    original = Assembly([Part("bolt", Decimal("0.01"))], children=[Assembly([Part("nut", Decimal("2"))])])
    await local_client.append_events(aggregate_id="asm", aggregate_type="A", events=[original])
    assert (await local_client.read_stream("asm")).events[0].payload == original


# -- custom serialization ----------------------------------------------------------


class Opaque:
    """Not JSON-encodable: fine with custom hooks."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.token == self.token


def _serialize(e: Custom) -> bytes:
    return b"CUSTOM\x00" + e.name.encode() + b"\x00" + str(e.count).encode() + b"\x00" + e.opaque.token.encode()


def _deserialize(data: bytes) -> Custom:
    magic, name, count, token = data.split(b"\x00")
    assert magic == b"CUSTOM"
    return Custom(name.decode(), int(count), Opaque(token.decode()))


@event(
    type=f"{PREFIX}.Custom",
    revision=1,
    content_type="application/x-custom",
    serializer=_serialize,
    deserializer=_deserialize,
)
@dataclass
class Custom:
    name: str
    count: int
    opaque: Opaque


async def test_custom_hooks_round_trip(client: EventStoreClient, mock: MockEventStore) -> None:
    original = Custom("héllo", 3, Opaque("t0k"))
    recorded = (await _round_trip(client, original))[0]
    assert recorded.content_type == "application/x-custom"
    assert recorded.data == _serialize(original)
    assert recorded.payload == original
    # Not JSON: the journal shows the bytes as base64.
    assert mock.appends[-1].events[0].data == _serialize(original)
    payload = mock.appends[-1].request["events"][0]["payload"]
    assert payload == {"$base64": base64.b64encode(_serialize(original)).decode()}


async def test_serializer_must_return_bytes(client: EventStoreClient) -> None:
    registry = EventRegistry()

    @event(type=f"{PREFIX}.BadHook", content_type="text/plain", serializer=str, deserializer=bytes, registry=registry)
    @dataclass
    class BadHook:
        x: int

    with pytest.raises(ValidationError, match=r"events\[0\].*serializer of BadHook returned str, expected bytes"):
        await client.append_events(aggregate_id="bh", aggregate_type="T", events=[BadHook(1)])


async def test_guide_protobuf_example_as_written(client: EventStoreClient, mock: MockEventStore) -> None:
    with _type_slot("com.myco.order.ComplexEvent", 1):
        with pytest.warns(UserWarning, match=r"ComplexEvent.*'application/protobuf' without serializer"):

            @event(
                type="com.myco.order.ComplexEvent",
                revision=1,
                content_type="application/protobuf",  # Use protobuf serialization
            )
            @dataclass
            class ComplexEvent:
                data: bytes  # Raw protobuf bytes
                metadata: dict[str, any]  # type: ignore[valid-type]

        original = ComplexEvent(data=b"\x08\x96\x01\x12\x02hi", metadata={"source": "web", "n": [1, 2], "ok": True})
        recorded = (await _round_trip(client, original))[0]
        assert recorded.content_type == "application/protobuf"
        assert recorded.event_type == "com.myco.order.ComplexEvent"
        assert recorded.payload == original
        assert type(recorded.payload.data) is bytes


# -- the registry ------------------------------------------------------------------


def test_registry_resolves_by_type_and_revision() -> None:
    assert default_registry.resolve(f"{PREFIX}.OrderPlaced", 1).cls is OrderPlaced  # type: ignore[union-attr]
    assert default_registry.resolve(f"{PREFIX}.OrderPlaced", 2) is None
    assert default_registry.resolve(f"{PREFIX}.Nope", 1) is None
    assert default_registry.resolve(f"{PREFIX}.Renamed", 1).cls is RenamedV1  # type: ignore[union-attr]
    assert default_registry.resolve(f"{PREFIX}.Renamed", 2).cls is RenamedV2  # type: ignore[union-attr]
    definition = definition_of(RenamedV2(first_name="a", last_name="b"))
    assert definition is not None and (definition.type, definition.revision) == (f"{PREFIX}.Renamed", 2)
    assert definition.content_type == "application/json"


async def test_two_revisions_coexist_and_unknown_revisions_read_as_dicts(client: EventStoreClient) -> None:
    await client.append_events(
        aggregate_id="person-1",
        aggregate_type="Person",
        events=[
            RenamedV1("Ada Lovelace"),
            RenamedV2("Ada", "Lovelace"),
            NewEvent(event_type=f"{PREFIX}.Renamed", event_version=3, payload={"full": "Ada L."}),
            NewEvent(event_type="someone.else.Thing", payload=[1, 2]),
            NewEvent(event_type="someone.else.Blob", payload=b"\x00\xff", content_type="application/octet-stream"),
        ],
    )
    events = (await client.read_stream("person-1")).events
    assert events[0].payload == RenamedV1("Ada Lovelace")
    assert events[1].payload == RenamedV2("Ada", "Lovelace")
    assert [e.revision for e in events[:3]] == [1, 2, 3]
    with expect_unregistered(f"{PREFIX}.Renamed", "someone.else.Thing", "someone.else.Blob"):
        assert events[2].payload == {"full": "Ada L."}
        assert events[3].payload == [1, 2]
        assert events[4].payload == b"\x00\xff"


async def test_a_client_with_its_own_registry_ignores_the_default(mock: MockEventStore) -> None:
    private = EventStoreClient(endpoint="mock", store=mock, registry=EventRegistry())
    await private.append_events(aggregate_id="o-9", aggregate_type="Order", events=[OrderPlaced("o-9", 1.25)])
    (read,) = (await private.read_stream("o-9")).events
    with expect_unregistered(f"{PREFIX}.OrderPlaced"):
        payload = read.payload
    assert payload == {"order_id": "o-9", "amount": 1.25, "currency": "USD"}


def test_redefining_the_same_class_replaces_it() -> None:
    # A module reloaded defines the same class (same qualified name) again.
    registry = EventRegistry()
    classes = []
    for version in ("first", "second"):

        @event(type=f"{PREFIX}.Reloaded", registry=registry)
        @dataclass
        class Reloaded:
            value: str = version

        classes.append(Reloaded)
    assert registry.resolve(f"{PREFIX}.Reloaded", 1).cls is classes[1]  # type: ignore[union-attr]
    assert len(registry) == 1


def test_unregister() -> None:
    registry = EventRegistry()

    @event(type=f"{PREFIX}.Temp", registry=registry)
    @dataclass
    class Temp:
        x: int

    assert registry.resolve(f"{PREFIX}.Temp", 1) is not None
    registry.unregister(Temp)
    assert registry.resolve(f"{PREFIX}.Temp", 1) is None


# -- decoration errors ---------------------------------------------------------------


def test_duplicate_type_and_revision_names_both_classes() -> None:
    registry = EventRegistry()

    @event(type=f"{PREFIX}.Dup", revision=4, registry=registry)
    @dataclass
    class First:
        x: int

    with pytest.raises(ValueError) as excinfo:

        @event(type=f"{PREFIX}.Dup", revision=4, registry=registry)
        @dataclass
        class Second:
            x: int

    message = str(excinfo.value)
    assert f"{PREFIX}.Dup" in message and "revision 4" in message
    assert "First" in message and "Second" in message
    # The original keeps the slot; another revision is fine.
    assert registry.resolve(f"{PREFIX}.Dup", 4).cls is First  # type: ignore[union-attr]

    @event(type=f"{PREFIX}.Dup", revision=5, registry=registry)
    @dataclass
    class Third:
        x: int

    assert registry.resolve(f"{PREFIX}.Dup", 5).cls is Third  # type: ignore[union-attr]


def test_duplicate_in_the_default_registry_across_modules() -> None:
    with pytest.raises(ValueError, match=r"already registered by tests?\.?.*OrderPlaced.*cannot register .*Impostor"):

        @event(type=f"{PREFIX}.OrderPlaced", revision=1)
        @dataclass
        class Impostor:
            order_id: str

    assert default_registry.resolve(f"{PREFIX}.OrderPlaced", 1).cls is OrderPlaced  # type: ignore[union-attr]


def test_non_dataclass_is_rejected_with_a_hint() -> None:
    with pytest.raises(
        TypeError, match=r"must decorate a dataclass, and Plain is not one \(put @event above @dataclass\)"
    ):

        @event(type=f"{PREFIX}.Plain", registry=EventRegistry())
        class Plain:
            x: int

    # The wrong order: @dataclass on top of @event.
    with pytest.raises(TypeError, match=r"put @event above @dataclass"):

        @dataclass
        @event(type=f"{PREFIX}.Upside", registry=EventRegistry())
        class Upside:
            x: int

    with pytest.raises(TypeError, match=r"must decorate a dataclass"):
        event(type=f"{PREFIX}.Func", registry=EventRegistry())(lambda: None)  # type: ignore[arg-type]


class NotEncodable:
    pass


@pytest.mark.parametrize(
    ("annotation", "where"),
    [
        (socket.socket, r"Bad\.field: type 'socket' cannot be encoded"),
        (NotEncodable, r"Bad\.field: type 'NotEncodable' cannot be encoded"),
        (list[NotEncodable], r"Bad\.field\[\]: type 'NotEncodable'"),
        (Optional[NotEncodable], r"Bad\.field: type 'NotEncodable'"),  # noqa: UP045
        (dict[int, str], r"Bad\.field: dict keys must be str"),
    ],
)
def test_unserializable_field_is_rejected_naming_it(annotation: Any, where: str) -> None:
    registry = EventRegistry()
    with pytest.raises(TypeError, match=where) as excinfo:

        @event(type=f"{PREFIX}.Bad", registry=registry)
        @dataclass
        class Bad:
            ok: int
            field: annotation  # type: ignore[valid-type]

    assert f"{PREFIX}.Bad" in str(excinfo.value)
    assert len(registry) == 0


def test_unserializable_nested_field_is_named_with_its_path() -> None:
    @dataclass
    class Inner:
        handle: NotEncodable

    with pytest.raises(TypeError, match=r"Outer\.inner\.handle: type 'NotEncodable'"):

        @event(type=f"{PREFIX}.Outer", registry=EventRegistry())
        @dataclass
        class Outer:
            inner: Inner


def test_unresolvable_annotation_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"Dangling: cannot resolve a field's type: .*NoSuchName"):

        @event(type=f"{PREFIX}.Dangling", registry=EventRegistry())
        @dataclass
        class Dangling:
            x: NoSuchName  # type: ignore[name-defined]  # noqa: F821


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": ""}, r"type must be a non-empty string, got ''"),
        ({"type": "   "}, r"type must be a non-empty string"),
        ({"type": 123}, r"type must be a non-empty string, got 123"),
        ({"type": "t", "revision": -1}, r"revision must be an integer from 0 to 4294967295, got -1"),
        ({"type": "t", "revision": 2**32}, r"revision must be an integer"),
        ({"type": "t", "revision": "2"}, r"revision must be an integer.*'2'"),
        ({"type": "t", "revision": True}, r"revision must be an integer.*True"),
        ({"type": "t", "revision": 1.0}, r"revision must be an integer"),
        ({"type": "t", "content_type": ""}, r"content_type must be a non-empty string"),
        ({"type": "t", "serializer": bytes}, r"give both serializer= and deserializer=, or neither"),
        ({"type": "t", "deserializer": bytes}, r"give both serializer= and deserializer=, or neither"),
    ],
)
def test_bad_arguments_fail_at_decoration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        event(registry=EventRegistry(), **kwargs)


def test_json_content_types_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @event(type=f"{PREFIX}.Cloud", content_type="application/cloudevents+json", registry=EventRegistry())
        @dataclass
        class Cloud:
            x: int

    assert definition_of(Cloud).content_type == "application/cloudevents+json"  # type: ignore[union-attr]
