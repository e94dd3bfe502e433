"""``eventstore/testing/_spec.py`` against the Rust mock, shape by shape, so
the two cannot drift (as pydantic-core checks every schema type its Python
side declares).

Every ``TypedDict`` of ``_spec.py`` is one of:

- an expectation shape, reachable from ``ExpectationSpec`` (the JSON
  ``NativeMock.mount`` parses, ``eventstore_mock::spec``, every struct with
  ``#[serde(deny_unknown_fields)]``). For each, at each place it sits:
  a sample with every key (required and optional) is mounted; the keys the
  Rust parser knows there (it lists them when refusing an unknown one) are
  exactly the keys Python declares, both ways; and a sample with only the
  required keys is mounted too (a key Python may leave out, Rust must not
  require);
- ``EventPattern``: a request's expected event, matched against the view
  form of an event (``eventstore_mock::wire::event``), so it has that
  form's keys;
- a pattern operator (``RegexPattern``, ``AnyPattern``, ``EqPattern``): one
  each of the operators the Rust matcher knows (``eventstore_mock::pattern``),
  all of them, and mounted as a request value it is accepted;
- a journal shape (``CallJson``, ``StreamEndJson``): what
  ``NativeMock.journal`` hands back, compared with real journal entries,
  key for key and value by value.

Failures name the shape, the key and where it sits.
"""

from __future__ import annotations

import asyncio
import json
import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest
from conftest import STEP_TIMEOUT, within
from eventstore import EventStoreClient, EventStoreError, Subscription
from eventstore.testing import MockEventStore, _spec

Shape = type
Path = tuple[str | int, ...]

ROOT = _spec.ExpectationSpec
PATTERN_SHAPES = {_spec.EventPattern}
OPERATOR_SHAPES = {_spec.RegexPattern, _spec.AnyPattern, _spec.EqPattern}
JOURNAL_SHAPES = {_spec.CallJson, _spec.StreamEndJson}

# Values with a meaning on the Rust side (a generic string would be refused
# for what it says, not for its key): status codes.
VALUES: dict[tuple[str, str], object] = {
    ("StatusSpec", "code"): "UNAVAILABLE",
    ("FailAfterSpec", "code"): "UNAVAILABLE",
    ("StatusSpec", "details_base64"): "AAEC",
}

# Rust's refusals of keys that exclude each other, whatever their values:
# a sample with every key splits into samples that each keep one side.
SEVERAL_REPLIES = re.compile(r"invalid expectation: (?P<at>[\w.]+): give at most one of (?P<keys>[\w, ]+)$")
TIMES_WITH_RANGE = "invalid expectation: times cannot be combined with at_least or at_most"

PROBE = "__not_a_key__"


def declared_shapes() -> set[Shape]:
    """Every TypedDict ``_spec.py`` exports (private bases are in their
    subclasses' keys)."""
    return {obj for name in _spec.__all__ if typing.is_typeddict(obj := getattr(_spec, name))}


def hints(shape: Shape) -> dict[str, Any]:
    return get_type_hints(shape)


def nested(hint: Any) -> Iterator[tuple[Shape, Path]]:
    """The TypedDicts inside a key's type, each with its place below the key."""
    if typing.is_typeddict(hint):
        yield hint, ()
    elif get_origin(hint) is list:
        for shape, below in nested(get_args(hint)[0]):
            yield shape, (0, *below)
    elif get_origin(hint) in (Union, types.UnionType):
        for arg in get_args(hint):
            yield from nested(arg)


def places(shape: Shape = ROOT, at: Path = ()) -> Iterator[tuple[Shape, Path]]:
    """Every expectation shape with the place it sits, from the root."""
    yield shape, at
    for key, hint in hints(shape).items():
        for inner, below in nested(hint):
            yield from places(inner, (*at, key, *below))


def sample(hint: Any, shape: str = "", key: str = "", *, full: bool = True) -> object:
    """A valid value of ``hint``: a TypedDict with every key (``full``) or
    only its required ones."""
    if (shape, key) in VALUES:
        return VALUES[shape, key]
    if typing.is_typeddict(hint):
        keys = hint.__required_keys__ | (hint.__optional_keys__ if full else frozenset())
        return {k: sample(h, hint.__name__, k, full=full) for k, h in hints(hint).items() if k in keys}
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return args[0]
    if origin in (Union, types.UnionType):
        return sample(next(a for a in args if a is not type(None)), shape, key, full=full)
    if origin is list:
        return [sample(args[0], shape, key, full=full)]
    if origin is dict or hint is object:
        return {} if origin is dict else None
    values: dict[Any, object] = {str: "sample", bool: True, int: 1, float: 1.0}
    assert hint in values, f"{shape}.{key}: no sample for {hint!r}; add one to this test"
    return values[hint]


def put(value: object, at: Path) -> dict[str, Any]:
    """An expectation holding ``value`` at ``at`` (the root itself when ``at`` is empty)."""
    for step in reversed(at):
        value = [value] if isinstance(step, int) else {step: value}
    document = typing.cast("dict[str, Any]", value)
    document.setdefault("rpc", "append")
    return document


def where(at: Path) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in at).lstrip(".") or "the root"


def mount(mock: MockEventStore, document: dict[str, Any]) -> str | None:
    """The Rust parser's refusal of ``document``, or ``None`` when it mounts."""
    try:
        mock._native.mount(json.dumps(document))
    except ValueError as e:
        return str(e)
    return None


def mounted(mock: MockEventStore, document: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Mounts ``document``; when Rust refuses keys that exclude each other,
    mounts instead the documents that keep one side each (together they
    still hold every key). Yields each document mounted with Rust's
    refusal of it (``None``: mounted)."""
    error = mount(mock, document)
    replies = SEVERAL_REPLIES.match(error or "")
    if replies is not None:
        steps = replies["at"].split(".")
        holder = document
        for step in steps:
            holder = holder[step]
        exclusive = [k for k in replies["keys"].split(", ") if k in holder]
        for kept in exclusive:
            variant = json.loads(json.dumps(document))
            inner = variant
            for step in steps:
                inner = inner[step]
            for other in exclusive:
                if other != kept:
                    del inner[other]
            yield from mounted(mock, variant)
    elif error == TIMES_WITH_RANGE:
        for dropped in (("times",), ("at_least", "at_most")):
            yield from mounted(mock, {k: v for k, v in document.items() if k not in dropped})
    else:
        yield document, error


def key_paths(value: object, at: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key of a JSON document, as the path to it."""
    found: set[tuple[str, ...]] = set()
    items = typing.cast("dict[str, object]", value).items() if isinstance(value, dict) else ()
    for k, v in items:
        found |= {(*at, k)} | key_paths(v, (*at, k))
    for v in typing.cast("list[object]", value) if isinstance(value, list) else ():
        found |= key_paths(v, at)
    return found


def rust_keys(mock: MockEventStore, at: Path, inside: dict[str, Any]) -> set[str]:
    """The keys the Rust parser takes at ``at``: it lists them when it
    refuses an unknown one (serde's ``expected one of `a`, `b` ``)."""
    error = mount(mock, put({**inside, PROBE: 1}, at) if at else {**inside, PROBE: 1})
    assert error is not None, (
        f"the Rust parser accepts an unknown key at {where(at)}: its struct lacks #[serde(deny_unknown_fields)]"
    )
    assert f"unknown field `{PROBE}`" in error, f"probing {where(at)}: {error}"
    return set(re.findall(r"`(\w+)`", error.split(", expected", 1)[1]))


def minimal_inside(shape: Shape) -> dict[str, Any]:
    """What a probe at a shape's place holds beside the unknown key: its
    required keys (the root's ``rpc``); serde reports the unknown key first."""
    return {"rpc": "append"} if shape is ROOT else {}


EXPECTATION_PLACES = list(places())


@pytest.mark.parametrize(
    ("shape", "at"), EXPECTATION_PLACES, ids=[f"{s.__name__}@{where(a)}" for s, a in EXPECTATION_PLACES]
)
def test_expectation_shape_is_the_rust_parsers(mock: MockEventStore, shape: Shape, at: Path) -> None:
    name = shape.__name__
    python = set(hints(shape))
    rust = rust_keys(mock, at, minimal_inside(shape))
    problems = [
        f"{name}.{key} (at {where(at)}): declared in _spec.py, unknown to the Rust parser (it takes {sorted(rust)})"
        for key in sorted(python - rust)
    ] + [
        f"{name} (at {where(at)}): the Rust parser takes {key!r}, which _spec.py does not declare"
        for key in sorted(rust - python)
    ]
    for full in (True, False):
        document = put(sample(shape, full=full), at)
        results = list(mounted(mock, document))
        kind = "every key" if full else "only its required keys"
        problems += [
            f"{name} (at {where(at)}) with {kind}: the Rust parser refuses it: {error}"
            for _, error in results
            if error is not None
        ]
        held = set().union(*(key_paths(variant) for variant, _ in results))
        problems += [
            f"{name} (at {where(at)}): no sample mounted holds {'.'.join(k)}" for k in key_paths(document) - held
        ]
    assert not problems, "\n".join(problems)


def test_event_pattern_has_the_event_view_keys(mock: MockEventStore) -> None:
    """An expected event is matched against the view form of the request's
    events: ``EventPattern`` has exactly that form's keys (those the Rust
    parser takes for a stubbed event, ``StubEvent``'s place)."""
    view = rust_keys(mock, ("respond", "events", 0), {})
    for shape in PATTERN_SHAPES | {_spec.StubEvent}:
        python = set(hints(shape))
        assert python == view, (
            f"{shape.__name__}: keys {sorted(python)}, the event view form has {sorted(view)} "
            f"(unknown to Rust: {sorted(python - view)}; missing here: {sorted(view - python)})"
        )
    pattern = sample(_spec.EventPattern)
    error = mount(mock, {"rpc": "append", "request": {"events": [pattern]}})
    assert error is None, f"EventPattern: the Rust parser refuses {pattern}: {error}"


def test_pattern_operators_are_the_rusts(mock: MockEventStore) -> None:
    """Each operator shape is one operator (its only key) that the Rust
    matcher accepts as a value, and together they are the operators it
    lists when it refuses an unknown one."""
    for shape in OPERATOR_SHAPES:
        value = sample(shape)
        assert isinstance(value, dict) and len(value) == 1, f"{shape.__name__}: {value}"
        error = mount(mock, {"rpc": "append", "request": {"aggregate_id": value}})
        assert error is None, f"{shape.__name__}: the Rust parser refuses {value}: {error}"
    error = mount(mock, {"rpc": "append", "request": {"aggregate_id": {"$" + PROBE: 1}}})
    assert error is not None and "(known:" in error, error
    rust = set(re.findall(r"\$\w+", error.partition("(known:")[2]))
    python = {key for shape in OPERATOR_SHAPES for key in hints(shape)}
    assert python == rust, f"operators: Python declares {sorted(python)}, the Rust matcher knows {sorted(rust)}"


def conforms(value: object, hint: Any) -> bool:
    """Whether a JSON value has the type ``hint`` declares (TypedDicts
    checked key by key elsewhere)."""
    origin, args = get_origin(hint), get_args(hint)
    if typing.is_typeddict(hint) or origin is dict:
        return isinstance(value, dict)
    if origin is Literal:
        return value in args
    if origin in (Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(conforms(v, args[0]) for v in typing.cast("list[object]", value))
    if hint is type(None):
        return value is None
    if hint is object:
        return True
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def journal_problems(shape: Shape, entry: dict[str, Any]) -> list[str]:
    python, rust = set(hints(shape)), set(entry)
    problems = [
        f"{shape.__name__}.{key}: declared in _spec.py, absent from the mock's journal JSON" for key in python - rust
    ] + [
        f"{shape.__name__}: the mock's journal JSON has {key!r}, which _spec.py does not declare"
        for key in rust - python
    ]
    problems += [
        f"{shape.__name__}.{key}: {entry[key]!r} is not the declared {hint}"
        for key, hint in hints(shape).items()
        if key in entry and not conforms(entry[key], hint)
    ]
    return problems


async def test_journal_shapes_are_the_mocks(mock: MockEventStore) -> None:
    """``CallJson`` and ``StreamEndJson`` are what the journal holds: every
    key of each side on the other, values of the declared types, for calls
    done (a subscription ended by a status) and in flight (one still open)."""
    mock.expect_subscribe(fail_after=1, fail_with=("FAILED_PRECONDITION", "ended by the test"), up_to=1)
    async with EventStoreClient(endpoint="mock", store=mock, request_timeout=STEP_TIMEOUT) as client:
        await client.append_events(aggregate_id="a", aggregate_type="A", events=[{"event_type": "t"}])
        await client.read_stream("a")
        async with await client.subscribe(max_reconnect_attempts=0) as ended:
            with pytest.raises(EventStoreError, match="ended by the test"):
                await within(consume(ended))
        async with await client.subscribe() as open_subscription:
            await within(open_subscription.__anext__())  # it has reached the mock
            entries = await within(journal_once(mock, lambda e: e["stream_end"] is not None))
    assert any(e["latency_micros"] is None for e in entries), "no call of the journal is in flight"
    problems = [p for e in entries for p in journal_problems(_spec.CallJson, e)]
    problems += [p for e in entries if e["stream_end"] for p in journal_problems(_spec.StreamEndJson, e["stream_end"])]
    assert not problems, "\n".join(sorted(set(problems)))


async def journal_once(mock: MockEventStore, condition: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The journal's JSON entries, once one meets ``condition`` (the end of
    a stream is journaled as the mock ends it, maybe after the client saw it)."""
    while True:
        entries = [json.loads(text) for text, _, _ in mock._native.journal()]
        if any(condition(e) for e in entries):
            return entries
        await asyncio.sleep(0.01)


async def consume(subscription: Subscription) -> None:
    async for _ in subscription:
        pass


def test_every_shape_is_checked() -> None:
    """A shape added to ``_spec.py`` is checked by one of the tests above."""
    checked = {s for s, _ in EXPECTATION_PLACES} | PATTERN_SHAPES | OPERATOR_SHAPES | JOURNAL_SHAPES
    unchecked = declared_shapes() - checked
    assert not unchecked, f"shapes of _spec.py no test places: {sorted(s.__name__ for s in unchecked)}"
