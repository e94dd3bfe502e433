"""``@event``: dataclasses as event types, and the registry that maps a
stored ``(event_type, event_version)`` back to its class."""

from __future__ import annotations

import builtins
import dataclasses
import json
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from eventstore._checks import U32_MAX, check_uint, unchecked
from eventstore._codec import check_type, decode_value, encode_value, field_types

__all__ = ["EventDefinition", "EventRegistry", "default_registry", "definition_of", "event", "is_json"]

T = TypeVar("T")

JSON = "application/json"


def is_json(content_type: str) -> bool:
    """Whether a content type is JSON (``application/json`` or ``...+json``)."""
    base = content_type.split(";", 1)[0].strip().lower()
    return base == JSON or base.endswith("+json")


_PLAIN_TYPES = (str, int, float, bool)
"""Field types whose values are their own JSON form."""

_PAYLOAD_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""How a payload is written; allow_nan=False: NaN and infinities are not
JSON, and other readers reject them."""


@dataclass(frozen=True)
class EventDefinition:
    """How one event class is stored."""

    cls: type
    type: str
    revision: int
    content_type: str
    serializer: Callable[[Any], bytes] | None = None
    deserializer: Callable[[bytes], Any] | None = None
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    plain: tuple[tuple[str, builtins.type], ...] | None = dataclasses.field(
        default=None, init=False, compare=False, repr=False
    )
    """For a class whose fields are all ``str``, ``int``, ``float`` or
    ``bool`` (most events): its fields in order with their types, so an
    instance whose values have exactly those types is encoded without the
    general codec's walk (same bytes: see :meth:`encode`)."""

    def __post_init__(self) -> None:
        if self.serializer is not None or not dataclasses.is_dataclass(self.cls):
            return
        order = [f.name for f in dataclasses.fields(self.cls)]
        if all(self.fields.get(name) in _PLAIN_TYPES for name in order):
            # Frozen: set as dataclasses' own __init__ does.
            object.__setattr__(self, "plain", tuple((name, self.fields[name]) for name in order))

    def encode(self, instance: Any) -> bytes:
        """The payload bytes of ``instance``."""
        if self.plain is not None:
            # The fast path: values of exactly the declared types are their
            # own JSON form and pass the decoder's check (encode_value and
            # decode_value return them unchanged); anything else (a bool in
            # an int field, an int in a float field, a str subclass) takes
            # the general path below, with its conversions and messages.
            plain: dict[str, object] = {}
            for name, tp in self.plain:
                value = getattr(instance, name)
                if type(value) is not tp:
                    break
                plain[name] = value
            else:
                return _PAYLOAD_JSON.encode(plain).encode()
        if self.serializer is not None:
            # The serializer is user code: it may return anything.
            payload = unchecked(self.serializer(instance))
            if not isinstance(payload, (bytes, bytearray)):
                raise TypeError(
                    f"the serializer of {self.cls.__name__} returned {type(payload).__name__}, expected bytes"
                )
            return bytes(payload)
        return self.encode_general(instance)

    def encode_general(self, instance: Any) -> bytes:
        """The JSON payload of ``instance`` through the codec's walk: what
        :meth:`encode` writes for a JSON class (its fast path gives the
        same bytes)."""
        data = encode_value(instance)
        # What is written must read back: the JSON is checked against the
        # field types by the decoder itself (one set of rules for both
        # directions), so `Tick(n="abc")` for `n: int` fails here, before
        # anything is sent, instead of on every later read.
        decode_value(data, self.cls, self.cls.__name__)
        return _PAYLOAD_JSON.encode(data).encode()

    def decode(self, payload: bytes) -> Any:
        """An instance of the class from payload bytes."""
        if self.deserializer is not None:
            return self.deserializer(payload)
        data: object = json.loads(payload) if payload else {}
        return decode_value(data, self.cls, self.cls.__name__)


class EventRegistry:
    """Event classes by ``(type, revision)``. Thread-safe."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int], EventDefinition] = {}
        self._lock = threading.Lock()

    def register(self, definition: EventDefinition) -> None:
        """Adds a definition; the same ``(type, revision)`` on another class is an error."""
        key = (definition.type, definition.revision)
        with self._lock:
            existing = self._by_key.get(key)
            if existing is not None and _name(existing.cls) != _name(definition.cls):
                raise ValueError(
                    f"event type {definition.type!r} revision {definition.revision} is already "
                    f"registered by {_name(existing.cls)}; cannot register {_name(definition.cls)} "
                    "(give the new class another revision)"
                )
            # The same class defined again (a module reloaded) replaces the old one.
            self._by_key[key] = definition

    def resolve(self, event_type: str, revision: int) -> EventDefinition | None:
        """The definition of a stored event, if its type and revision are registered."""
        return self._by_key.get((event_type, revision))

    def revisions(self, event_type: str) -> list[int]:
        """The registered revisions of ``event_type``, ascending."""
        return sorted(r for t, r in list(self._by_key) if t == event_type)

    def unregister(self, cls: type) -> None:
        """Forgets a class (for tests that define throwaway event types)."""
        with self._lock:
            for key, d in list(self._by_key.items()):
                if d.cls is cls:
                    del self._by_key[key]

    def __len__(self) -> int:
        return len(self._by_key)


default_registry: EventRegistry = EventRegistry()
"""The registry `@event` uses unless given `registry=`, and clients read with."""


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def definition_of(value: Any) -> EventDefinition | None:
    """The definition of an event class or instance, if it is decorated."""
    cls = value if isinstance(value, type) else type(value)
    definition = cls.__dict__.get("__eventstore_event__")
    return definition if isinstance(definition, EventDefinition) else None


def event(
    *,
    type: str,
    revision: int = 1,
    content_type: str = JSON,
    serializer: Callable[[Any], bytes] | None = None,
    deserializer: Callable[[bytes], Any] | None = None,
    registry: EventRegistry | None = None,
) -> Callable[[builtins.type[T]], builtins.type[T]]:
    """Declares a dataclass as an event type.

    ``type`` is the stored ``event_type`` (e.g. ``"com.myco.order.OrderCreated"``)
    and ``revision`` its ``event_version``. Payloads are JSON by default; for
    another ``content_type`` give ``serializer`` (instance -> bytes) and
    ``deserializer`` (bytes -> instance).

    Put ``@event(...)`` above ``@dataclass``. Mistakes fail here, at
    decoration time: a class that is not a dataclass, a field whose type
    cannot be encoded, a ``(type, revision)`` already taken by another class.
    """
    if not isinstance(unchecked(type), str) or not type.strip():
        raise ValueError(f"@event: type must be a non-empty string, got {type!r}")
    check_uint("@event: revision", revision, U32_MAX)
    if not isinstance(unchecked(content_type), str) or not content_type.strip():
        raise ValueError(f"@event: content_type must be a non-empty string, got {content_type!r}")
    if (serializer is None) != (deserializer is None):
        raise ValueError("@event: give both serializer= and deserializer=, or neither")
    target = default_registry if registry is None else registry
    # The names of the decorating code, for its postponed annotations: the
    # caller's frame, by the private-named but documented sys._getframe (as
    # typing and enum do; inspect.currentframe only wraps it).
    caller_locals = sys._getframe(1).f_locals  # pyright: ignore[reportPrivateUsage]

    def decorate(cls: builtins.type[T]) -> builtins.type[T]:
        given = unchecked(cls)
        if not isinstance(given, builtins.type) or not dataclasses.is_dataclass(cls):
            what = given.__name__ if isinstance(given, builtins.type) else repr(given)
            raise TypeError(
                f"@event(type={type!r}) must decorate a dataclass, and {what} is not one (put @event above @dataclass)"
            )
        # The caller's names, and the class's own (a recursive class defined in a function).
        localns = {**caller_locals, cls.__name__: cls}
        try:
            fields = field_types(cls, localns=localns)
        except NameError as e:
            raise TypeError(f"@event on {cls.__name__}: cannot resolve a field's type: {e}") from None
        if serializer is None:
            if not is_json(content_type):
                warnings.warn(
                    f"@event on {cls.__name__}: content_type {content_type!r} without serializer= "
                    "and deserializer=; the payload is encoded with the JSON codec",
                    stacklevel=2,
                )
            for name, tp in fields.items():
                try:
                    check_type(tp, f"{cls.__name__}.{name}", localns=localns)
                except TypeError as e:
                    raise TypeError(f"@event(type={type!r}): {e}") from None
        definition = EventDefinition(
            cls=cls,
            type=type,
            revision=revision,
            content_type=content_type,
            serializer=serializer,
            deserializer=deserializer,
            fields=fields,
        )
        target.register(definition)
        # A new attribute of the class (definition_of reads it back): set by
        # name, as type checkers know no such attribute on `type[T]`.
        setattr(cls, "__eventstore_event__", definition)  # noqa: B010
        return cls

    return decorate
