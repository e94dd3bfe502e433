"""The values the client takes and returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast, overload

from eventstore._checks import check_semver, check_token, is_pair
from eventstore._codec import decode_value
from eventstore._errors import UnregisteredEventWarning, ValidationError
from eventstore._events import EventRegistry, default_registry, definition_of, is_json
from eventstore._semver import precedence

if TYPE_CHECKING:
    from eventstore._native import RawEvent

__all__ = [
    "CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE",
    "CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX",
    "CAPABILITY_SUBSCRIPTION_ERRORS_SURFACED",
    "CAPABILITY_UNDECODABLE_EVENTS_SURFACED",
    "DEFAULT_TENANT",
    "HEAD",
    "KNOWN_CAPABILITIES",
    "AllPage",
    "AppendRequest",
    "AppendResult",
    "DataclassInstance",
    "EventInput",
    "NewEvent",
    "RecordedEvent",
    "ServerInfo",
    "StreamPage",
]

DEFAULT_TENANT = "default"
"""The tenant used when neither the call nor the client names one."""

# A client's defaults, one place for every factory of clients
# (EventStoreClient and EventStoreContainer.client).
DEFAULT_CONNECTION_TIMEOUT = 5.0
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 4

HEAD = 2**63 - 1
"""A read position at or past every stream's and log's head: a backward
read from it starts at the last event. (The reference stores positions as
signed 64-bit, so this is the largest one every store takes.)"""

CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE = "commit_ordered_global_nonce"
"""A global nonce becomes visible only after every smaller nonce of the
tenant: a ``read_all`` cursor that passed N never misses a nonce below N."""
CAPABILITY_SUBSCRIPTION_ERRORS_SURFACED = "subscription_errors_surfaced"
"""A subscription the store ends says so (``UNAVAILABLE`` ... ``resume from
global_nonce N``); it never ends silently."""
CAPABILITY_UNDECODABLE_EVENTS_SURFACED = "undecodable_events_surfaced"
"""An event the store cannot decode is a ``DATA_LOSS`` naming its position
(:class:`~eventstore.UndecodableEventError`), never skipped."""
CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX = "literal_subscription_prefix"
"""A subscription's ``aggregate_id_prefix`` is matched literally: ``_``,
``%`` and ``\\`` are ordinary characters, never wildcards or escapes."""
KNOWN_CAPABILITIES = frozenset(
    {
        CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE,
        CAPABILITY_SUBSCRIPTION_ERRORS_SURFACED,
        CAPABILITY_UNDECODABLE_EVENTS_SURFACED,
        CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX,
    }
)
"""The capability names this SDK knows: the reference store's four (v0.17),
which the stores of this project all advertise. A server may advertise
others: they are kept in :attr:`ServerInfo.capabilities` as they are (a
released name is never renamed or reused)."""

T = TypeVar("T")


@dataclass(frozen=True)
class AppendResult:
    """What an append returns."""

    last_global_nonce: int
    """Global position of the batch's last event."""
    last_aggregate_nonce: int
    """The stream's new head."""


def _no_headers() -> dict[str, str]:
    """A new event's headers: none. (A named function: as fast as ``dict``,
    typed; ``dict[str, str]`` as the factory costs twice the whole
    NewEvent construction.)"""
    return {}


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
    headers: Mapping[str, str] = field(default_factory=_no_headers)
    timestamp: dt.datetime | None = None


class DataclassInstance(Protocol):
    """Any dataclass instance (an ``@event`` class's, or a :class:`NewEvent`),
    for type checkers."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


EventInput = DataclassInstance | Mapping[str, Any]
"""What an append takes as one event: an ``@event`` instance, a
:class:`NewEvent`, or a dict with :class:`NewEvent`'s keys. (A type checker
cannot tell an ``@event`` dataclass from another dataclass: the client
checks that at run time.)"""


@dataclass
class AppendRequest:
    """An append, as an object (``client.append_events(request)``).

    ``events`` holds ``@event`` instances, :class:`NewEvent` objects or dicts
    with :class:`NewEvent`'s keys. ``tenant_id`` ``None`` means the client's
    default tenant.
    """

    aggregate_id: str
    aggregate_type: str
    events: Sequence[EventInput]
    expected_aggregate_nonce: int = 0
    tenant_id: str | None = None
    idempotency_key: str | None = None


class _Meta(Generic[T]):
    """A metadata attribute of :class:`RecordedEvent`: reads the native
    event's field of the same name, typed ``T`` for mypy."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name: str = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _Meta[T]: ...
    @overload
    def __get__(self, instance: RecordedEvent, owner: type) -> T: ...
    def __get__(self, instance: RecordedEvent | None, owner: type) -> T | _Meta[T]:
        if instance is None:
            return self
        # The descriptor of RecordedEvent's fields reads the native event
        # RecordedEvent keeps in its private slot (this class is its part).
        value: T = getattr(instance._raw, self.name)  # pyright: ignore[reportPrivateUsage]
        return value


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

    # The 17 metadata fields of the wire model, each once, with its type:
    # read from the native event when accessed.
    event_id: _Meta[str] = _Meta("Client-chosen id, unique per tenant.")
    aggregate_id: _Meta[str] = _Meta("The stream's aggregate id.")
    aggregate_type: _Meta[str] = _Meta("The stream's aggregate type.")
    aggregate_nonce: _Meta[int] = _Meta("Position in the stream, from 1.")
    event_type: _Meta[str] = _Meta("For example ``com.myco.order.OrderCreated``.")
    event_version: _Meta[int] = _Meta("Schema revision of the event type.")
    content_type: _Meta[str] = _Meta("MIME type of the payload.")
    content_schema: _Meta[str] = _Meta("Optional schema reference.")
    correlation_id: _Meta[str] = _Meta("Correlation id (``''`` if none).")
    causation_id: _Meta[str] = _Meta("Causation id (``''`` if none).")
    actor_id: _Meta[str] = _Meta("Actor id (``''`` if none).")
    tenant_id: _Meta[str] = _Meta("The tenant.")
    timestamp_unix_ms: _Meta[int] = _Meta("Client clock, ms (0 if unset).")
    recorded_time_unix_ms: _Meta[int] = _Meta("Commit time, ms.")
    payload_sha256: _Meta[bytes] = _Meta("Client-sent payload hash (may be empty).")
    headers: _Meta[dict[str, str]] = _Meta("Custom headers.")
    global_nonce: _Meta[int] = _Meta("Position in the global log, from 1.")

    METADATA_FIELDS: ClassVar[frozenset[str]]
    """The names of the metadata attributes above (the wire model's ``meta``)."""

    @property
    def data(self) -> bytes:
        """The payload's raw bytes."""
        return self._raw.payload

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

    @property
    def decoded(self) -> bool:
        """Whether :attr:`payload` is an instance of an ``@event`` class:
        true when ``(event_type, event_version)`` is registered (in the
        client's registry). False means the payload comes back as the raw
        JSON value (``dict``/``list``) or ``bytes``; the first access to such
        a payload warns once per type and revision
        (:class:`~eventstore.UnregisteredEventWarning`)."""
        return self._registry.resolve(self._raw.event_type, self._raw.event_version) is not None

    def payload_as(self, cls: type[T]) -> T:
        """The payload decoded as ``cls``, by the rules of ``@event`` classes.

        ``cls`` is an ``@event`` class (its ``serializer``/``deserializer``
        apply; its type must be this event's, any revision), a plain
        dataclass, or a JSON type such as ``dict``. Raises
        :class:`~eventstore.ValidationError` naming the event, the field and
        the value when the payload does not fit.
        """
        definition = definition_of(cls)
        name = getattr(cls, "__name__", repr(cls))
        what = f"event {self.event_id!r} ({self.event_type} revision {self.event_version})"
        if definition is not None and definition.type != self.event_type:
            raise ValidationError(
                f"{what} is not a {name}: {name} is event type {definition.type!r} revision {definition.revision}"
            )
        raw = self._raw.payload
        try:
            if definition is not None:
                value = definition.decode(raw)
            else:
                if not is_json(self._raw.content_type):
                    raise ValueError(f"its content type is {self._raw.content_type!r}, not JSON")
                value = decode_value(json.loads(raw) if raw else {}, cls, name)
        except (ValueError, TypeError, NameError) as e:
            raise ValidationError(f"cannot decode {what} as {name}: {e}") from e
        result: T = value
        return result

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
        _warn_unregistered(self._registry, self._raw.event_type, self._raw.event_version)
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


RecordedEvent.METADATA_FIELDS = frozenset(k for k, v in vars(RecordedEvent).items() if isinstance(v, _Meta))


class _Unset:
    pass


_UNSET = _Unset()

_WARNED: set[tuple[str, int]] = set()
"""The unregistered ``(event_type, event_version)`` pairs warned about."""


def _warn_unregistered(registry: EventRegistry, event_type: str, revision: int) -> None:
    key = (event_type, revision)
    if key in _WARNED:
        return
    _WARNED.add(key)
    others = registry.revisions(event_type)
    hint = (
        f"{event_type!r} is registered with revision(s) {others} only: register a class for revision {revision}"
        if others
        else "import the module that defines its @event class"
    )
    warnings.warn(
        f"event type {event_type!r} revision {revision} is not registered, so RecordedEvent.payload is the raw "
        f"value, not an @event instance ({hint}, or read it with event.payload_as(cls); event.decoded tells)",
        UnregisteredEventWarning,
        # The user's line reading `.payload` (payload -> _decode -> here).
        stacklevel=4,
    )


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

    def __iter__(self) -> Iterator[RecordedEvent]:
        return iter(self.events)


@dataclass(frozen=True)
class AllPage:
    """One page of a tenant's global log (:meth:`~eventstore.EventStoreClient.read_all`)."""

    events: list[RecordedEvent]
    """The tenant's events, of every aggregate, in global order (descending
    when read backward). Positions have gaps where other tenants wrote."""
    is_end: bool
    """True on the page that holds the last event in the read direction
    (exact: never one empty page later)."""
    next_from_global_nonce: int
    """Pass as ``from_global_nonce`` to read the next page. An empty forward
    page keeps the cursor, so polling with it sees each new event once."""

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[RecordedEvent]:
        return iter(self.events)


@dataclass(frozen=True)
class ServerInfo:
    """What a server says it is (:meth:`~eventstore.EventStoreClient.server_info`)."""

    server_version: str
    """The reference API level the server implements, as SemVer, with the
    server's own identity in build metadata (the stores of this project:
    ``0.17.0+eventstore-sdk.0.1.0``); ``""`` for a legacy server. Compare it
    with :meth:`version_at_least`, never as a string."""
    api_version: str
    """``"eventstore.v1"``; ``""`` for a legacy server."""
    backend: str
    """The storage, as the reference store names it: ``"memory"``,
    ``"postgres"`` or ``"unknown"``; ``""`` for a legacy server. The
    in-memory server and :class:`~eventstore.testing.MockEventStore` answer
    ``"memory"`` (a mock made with ``backend="postgres"`` answers as a
    Postgres-backed reference would), the durable server ``"unknown"`` (its
    storage's name is in :attr:`server_version`'s build metadata)."""
    capabilities: frozenset[str]
    """The guarantees it advertises (see ``CAPABILITY_*``); empty for a legacy server."""
    is_legacy: bool = False
    """True when the server predates ``GetServerInfo`` (it answered
    ``UNIMPLEMENTED``): unknown version, no capabilities."""

    @classmethod
    def legacy(cls) -> ServerInfo:
        """What a server that predates ``GetServerInfo`` reads as."""
        return cls(server_version="", api_version="", backend="", capabilities=frozenset(), is_legacy=True)

    def supports(self, capability: str) -> bool:
        """Whether the server advertises ``capability``."""
        return capability in self.capabilities

    def version_at_least(self, minimum: str) -> bool:
        """Whether :attr:`server_version` is ``minimum`` or later under SemVer
        2.0 precedence, as the reference store's clients gate on it:
        ``0.17.0+eventstore-sdk.0.1.0`` is at least ``0.17.0`` (build
        metadata is ignored), ``0.17.0-rc.1`` is not (a pre-release is below
        its release).

        A server whose version is not SemVer (a legacy server's ``""``) is
        never at least anything: ``False``. A ``minimum`` that is not a SemVer
        version (``"0.17"``, ``"v0.17.0"``, ``"01.0.0"``) raises
        :class:`~eventstore.ValidationError` naming it."""
        wanted = check_semver("minimum", minimum)
        actual = precedence(self.server_version)
        return actual is not None and actual >= wanted


Credentials = Mapping[str, str] | tuple[str, str]
"""``{"username": ..., "password": ...}`` or a ``(username, password)`` pair
(HTTP Basic), or ``{"token": ...}`` (a bearer token). A
:class:`~eventstore.testing.MockEventStore` also takes all three keys: it
then accepts either."""

_CREDENTIAL_KEYS = ("username", "password", "token")


def credential_parts(credentials: Credentials | None) -> tuple[str | None, str | None, str | None]:
    """The ``(username, password, token)`` of ``credentials``, ``None`` for
    each part not given. Raises :class:`ValidationError` naming the key
    that is wrong, never a password's or token's value."""
    if credentials is None:
        return None, None, None
    if is_pair(credentials):
        return (*_basic(*credentials), None)
    if not isinstance(credentials, Mapping):
        raise ValidationError(
            "credentials must be {'username': ..., 'password': ...}, {'token': ...} or a (username, password) "
            f"pair, got {type(credentials).__name__}"
        )
    # What the caller gave: any keys and values, whatever the annotations say.
    fields = cast("Mapping[object, object]", credentials)
    unknown = sorted(repr(key) for key in fields if key not in _CREDENTIAL_KEYS)
    if unknown:
        raise ValidationError(
            f"credentials: unknown key(s) {', '.join(unknown)} (known: {', '.join(map(repr, _CREDENTIAL_KEYS))})"
        )
    token = check_token("credentials['token']", fields["token"]) if "token" in fields else None
    if token is not None and "username" not in fields and "password" not in fields:
        return None, None, token
    for key, other in (("username", "password"), ("password", "username")):
        if key not in fields:
            raise ValidationError(
                f"credentials needs a {key!r} key (with {other!r})"
                if other in fields
                else "credentials needs 'username' and 'password' keys, or a 'token'"
            )
    return (*_basic(fields["username"], fields["password"]), token)


def _basic(username: object, password: object) -> tuple[str, str]:
    """A username and password, checked: both str (the message names which
    is not, never its value)."""
    if isinstance(username, str) and isinstance(password, str):
        return username, password
    key, value = ("password", password) if isinstance(username, str) else ("username", username)
    raise ValidationError(f"credentials: username and password must be str, got {type(value).__name__} for {key!r}")
