"""Hypothesis strategies for property tests of code that reads events:
instances of your ``@event`` classes, and histories of them over a few
aggregates in the shape :func:`~eventstore.testing.check_redelivery` takes.

Needs Hypothesis (``pip install "eventstore-sdk-py[hypothesis]"``)::

    from hypothesis import given
    from eventstore.testing import check_redelivery
    from eventstore.testing.strategies import histories

    @given(history=histories(OrderPlaced, OrderPaid))
    async def test_the_projection_survives_redelivery(history):
        await check_redelivery(OrderTotals, history)

- :func:`events`: instances of one ``@event`` class, each field drawn from
  its type hint. Every instance is one the SDK writes and reads back equal
  (``==``): no NaN, no infinities, no lone surrogates, datetimes that
  compare; so a property never fails on the generator's account.
- :func:`histories`: ``(aggregate_id, event)`` pairs in append order,
  shrinking towards fewer events, fewer aggregates and simpler values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeGuard, TypeVar, cast

try:
    from hypothesis import strategies as st
    from hypothesis.strategies import SearchStrategy
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'eventstore.testing.strategies needs Hypothesis: pip install "eventstore-sdk-py[hypothesis]" '
        "(or pip install hypothesis)"
    ) from _missing

from eventstore._checks import check_int_at_least, check_name, unchecked
from eventstore._codec import decode_value, encode_value, field_types
from eventstore._errors import ValidationError
from eventstore._events import definition_of

__all__ = ["StrategyError", "events", "histories"]

E = TypeVar("E")
T = TypeVar("T")

_NONE = type(None)


class StrategyError(ValidationError, TypeError):
    """A strategy cannot be built: a field type that cannot be derived, an
    override for a field the class does not have, a bad size. Also a
    :class:`~eventstore.ValidationError` and a builtin :class:`TypeError`."""


# -- values of one type ------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"))
"""Strings the payload's UTF-8 JSON can carry (no lone surrogates)."""

_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
"""JSON numbers: NaN and the infinities are not JSON (the SDK refuses them)."""

_OFFSETS = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)),
)
"""Fixed UTC offsets: what an ISO 8601 timestamp keeps of a time zone, so an
aware value reads back equal (``==`` compares the instants)."""

_ZONES = cast("SearchStrategy[dt.tzinfo]", st.one_of(st.none(), _OFFSETS))
"""No time zone (a naive value) or a fixed offset (``datetimes`` and
``times`` take ``None`` from it for a naive value)."""

_DATETIMES = st.datetimes(
    # Not the calendar's first and last days: comparing two aware values
    # with different offsets moves them to UTC, which overflows there.
    min_value=dt.datetime(2, 1, 1),
    max_value=dt.datetime(9998, 12, 31, 23, 59, 59, 999_999),
    timezones=_ZONES,
)
"""Naive and aware datetimes."""

_JSON: SearchStrategy[object] = st.recursive(
    st.none() | st.booleans() | st.integers() | _FLOATS | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=8,
)
"""Any JSON value: a field typed ``Any`` (or a bare ``list``/``dict``) holds
the payload's JSON as it is."""

_SIMPLE: dict[object, SearchStrategy[Any]] = {
    bool: st.booleans(),
    int: st.integers(),
    float: _FLOATS,
    str: _TEXT,
    bytes: st.binary(),
    # NaN is not equal to itself; infinities are rarely what an amount is
    # (override the field with st.decimals(...) to draw them).
    Decimal: st.decimals(allow_nan=False, allow_infinity=False),
    dt.datetime: _DATETIMES,
    dt.date: st.dates(),
    dt.time: st.times(timezones=_ZONES),
    uuid.UUID: st.uuids(),
    _NONE: st.none(),
}


def is_strategy(value: object) -> TypeGuard[SearchStrategy[Any]]:
    """Whether ``value`` is a Hypothesis strategy."""
    return isinstance(value, SearchStrategy)


def _is_any(tp: object) -> bool:
    return tp is Any or tp is object


def _round_trips(tp: object) -> Callable[[object], bool]:
    """Whether a value of a union reads back as itself: the decoder tries
    the members in order, so ``str | UUID`` reads a UUID's text as ``str``."""

    def check(value: object) -> bool:
        try:
            return bool(decode_value(encode_value(value), tp, "value") == value)
        except (TypeError, ValueError):
            return False

    return check


class _Deriver:
    """Derives the strategy of one ``@event`` class's fields, naming the
    class and the field in every refusal."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.building: dict[type, SearchStrategy[Any]] = {}

    def refuse(self, where: str, tp: object, why: str = "") -> StrategyError:
        name = getattr(tp, "__name__", None) or repr(tp)
        return StrategyError(
            f"events({self.owner}): cannot derive field {where} of type {name}{why}; "
            f"pass a strategy for it: events({self.owner}, {where.split('.')[0].split('[')[0]}=st....)"
        )

    def of_class(
        self, cls: type, where: str, overrides: Mapping[str, SearchStrategy[Any]] | None = None
    ) -> SearchStrategy[Any]:
        """``cls``'s instances; ``overrides`` (the event class's own fields)
        replace the derived strategy of the fields they name."""
        done = self.building.get(cls)
        if done is not None:
            return done
        # A nested class that refers to itself (through Optional or a list)
        # is drawn lazily; Hypothesis bounds the depth. A field of the event
        # class's own type needs an override.
        self.building[cls] = (
            st.deferred(lambda: self.of_class(cls, where)) if overrides is None else st.nothing()  # pyright: ignore[reportUnknownMemberType]
        )
        try:
            hints = field_types(cls)
        except NameError as e:
            raise StrategyError(f"events({self.owner}): cannot resolve a field type of {cls.__name__}: {e}") from None
        chosen = overrides or {}
        fields = {
            f.name: chosen[f.name]
            if f.name in chosen
            else self.of(hints[f.name], f"{where}.{f.name}" if where else f.name)
            for f in dataclasses.fields(cls)
            if f.init
        }
        strategy = st.builds(cls, **fields)
        self.building[cls] = strategy
        return strategy

    def of(self, tp: object, where: str) -> SearchStrategy[Any]:
        hint: object = tp  # as given (``tp`` is narrowed below)
        if _is_any(tp):
            return _JSON
        if tp is list:
            return st.lists(_JSON)
        if tp is dict:
            return st.dictionaries(_TEXT, _JSON)
        simple = _SIMPLE.get(tp)
        if simple is not None:
            return simple
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            values = list(tp)
            if not values:
                raise self.refuse(where, tp, " (an Enum without members)")
            return st.sampled_from(values)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.of_class(tp, where)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Literal:
            return st.sampled_from(args)
        if origin in (typing.Union, types.UnionType):
            members = [self.of(arg, where) for arg in args]
            values = [arg for arg in args if arg is not _NONE]
            union = st.one_of(members)
            return union.filter(_round_trips(hint)) if len(values) > 1 else union
        item = args[0] if args else Any
        if origin is list:
            return st.lists(self.of(item, f"{where}[]"))
        if origin is set:
            return st.sets(self.of(item, f"{where}[]"))
        if origin is frozenset:
            return st.frozensets(self.of(item, f"{where}[]"))
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return st.lists(self.of(args[0], f"{where}[]")).map(tuple)
            if args == ((),):  # tuple[()] on Python 3.10
                return st.just(())
            return st.tuples(*(self.of(arg, f"{where}[{i}]") for i, arg in enumerate(args)))
        if origin is dict:
            if args and not (_is_any(args[0]) or args[0] is str):
                raise self.refuse(where, hint, " (JSON object keys are strings)")
            return st.dictionaries(_TEXT, self.of(args[1] if len(args) == 2 else Any, f"{where}[]"))
        raise self.refuse(where, hint)


def events(event_class: type[E], /, **overrides: SearchStrategy[Any]) -> SearchStrategy[E]:
    """Instances of the ``@event`` dataclass ``event_class``, each field
    drawn from its type hint: ``str``, ``int``, ``float``, ``bool``,
    ``Decimal``, ``datetime`` (naive and aware), ``date``, ``time``,
    ``UUID``, ``Enum``, ``bytes``, ``Literal``, ``Optional``/unions,
    ``list``, ``set``, ``tuple``, ``dict[str, T]`` and nested dataclasses
    (postponed annotations included).

    Every instance is one the SDK writes and reads back equal. A keyword
    replaces a field's strategy (``events(OrderPlaced,
    amount=st.decimals(min_value=0, places=2))``); it is also how a field
    of a type that cannot be derived gets one. Such a field without an
    override is refused here, naming the class and the field
    (:class:`StrategyError`), not when an example is drawn.
    """
    if not isinstance(unchecked(event_class), type) or definition_of(event_class) is None:
        raise StrategyError(f"events() takes an @event class, got {event_class!r}")
    name = event_class.__name__
    init = [f.name for f in dataclasses.fields(event_class) if f.init]  # type: ignore[arg-type]
    for field, strategy in overrides.items():
        if field not in init:
            raise StrategyError(
                f"events({name}): {name} has no field {field!r} (its fields: {', '.join(sorted(init))})"
            )
        if not is_strategy(unchecked(strategy)):
            raise StrategyError(
                f"events({name}, {field}=...) must be a Hypothesis strategy, got {type(strategy).__name__}"
            )
    return cast("SearchStrategy[E]", _Deriver(name).of_class(event_class, "", overrides))


# -- histories ------------------------------------------------------------------


def event_strategies(caller: str, items: Sequence[object], where: Callable[[int], str]) -> SearchStrategy[Any]:
    """One strategy of the events ``items`` name: ``@event`` classes (drawn
    with :func:`events`) or strategies. A refusal names ``caller`` and
    ``where(i)``, the argument as the caller's user wrote it."""
    if not items:
        raise StrategyError(f"{caller}: give at least one @event class or strategy of events")
    kinds: list[SearchStrategy[Any]] = []
    for i, item in enumerate(items):
        if is_strategy(item):
            kinds.append(item)
        elif isinstance(item, type):
            kinds.append(events(cast("type[Any]", item)))
        else:
            raise StrategyError(f"{caller}: {where(i)} must be an @event class or a Hypothesis strategy, got {item!r}")
    return st.one_of(kinds)


def checked(caller: str, check: Callable[[], T]) -> T:
    """``check()`` (one of ``eventstore._checks``' rules), its refusal as a
    :class:`StrategyError` naming ``caller``."""
    try:
        return check()
    except ValidationError as e:
        raise StrategyError(f"{caller}: {e}") from None


def histories(
    *event_types: type[Any] | SearchStrategy[Any],
    aggregates: int = 3,
    min_size: int = 0,
    max_size: int = 20,
    prefix: str = "aggregate",
) -> SearchStrategy[list[tuple[str, object]]]:
    """Lists of ``(aggregate_id, event)`` pairs in append order: the
    history :func:`~eventstore.testing.check_redelivery` replays.

    ``event_types`` are ``@event`` classes (drawn with :func:`events`) or
    strategies of events. Aggregate ids come from at most ``aggregates``
    distinct ids, named ``f"{prefix}-1"``, ``f"{prefix}-2"``... in the
    order they first appear. A failing history shrinks towards fewer
    events, fewer aggregates and simpler values.
    """
    caller = "histories()"
    kinds = event_strategies(caller, event_types, lambda i: f"event_types[{i}]")
    count = checked(caller, lambda: check_int_at_least("aggregates", aggregates, 1))
    low = checked(caller, lambda: check_int_at_least("min_size", min_size, 0))
    high = checked(caller, lambda: check_int_at_least("max_size", max_size, 0))
    if high < low:
        raise StrategyError(f"{caller}: max_size ({high}) is below min_size ({low})")
    checked(caller, lambda: check_name("prefix", prefix))

    def name(drawn: list[tuple[int, object]]) -> list[tuple[str, object]]:
        # Ids by first appearance: the shrinker's smaller index is a
        # smaller history, and a failure reads aggregate-1, aggregate-2.
        ids: dict[int, str] = {}
        return [(ids.setdefault(i, f"{prefix}-{len(ids) + 1}"), e) for i, e in drawn]

    pairs = st.tuples(st.integers(0, count - 1), kinds)
    return st.lists(pairs, min_size=low, max_size=high).map(name)
