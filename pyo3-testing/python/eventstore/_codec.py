"""The JSON codec for event dataclasses.

Encoding is driven by the dataclass's type hints, so every supported value
round-trips exactly: nested dataclasses, ``Optional``/unions, ``list``,
``tuple``, ``set``, ``dict``, ``datetime``/``date``/``time`` (ISO 8601,
time zone kept), ``Decimal`` (as a string: no float rounding), ``UUID``,
``Enum`` (by value), ``bytes`` (base64) and the JSON scalars.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
import weakref
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeGuard, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["check_type", "decode_value", "encode_value", "field_types"]

_SCALARS: tuple[type, ...] = (str, int, float, bool)
_NONE = type(None)


# Resolved field types by class. `@event` resolves them once, with the
# namespace of the code that defined the class, so classes defined in a
# function (with postponed annotations) decode later without that namespace.
_FIELD_TYPES: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()


def field_types(cls: type, localns: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved type hints of a dataclass's fields (cached per class)."""
    cached = _FIELD_TYPES.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, localns=localns)
    resolved = {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}
    _FIELD_TYPES[cls] = resolved
    return resolved


def _is_enum_class(tp: object) -> TypeGuard[type[enum.Enum]]:
    """Whether ``tp`` is an :class:`~enum.Enum` class."""
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _dataclass_class(tp: object) -> type[DataclassInstance] | None:
    """``tp`` when it is a dataclass (the class, not an instance), else ``None``."""
    return tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None


def _is_any(tp: Any) -> bool:
    # `dict[str, any]` (the builtin function) reads as Any: people write it.
    return tp is Any or tp is any or tp is object


def check_type(tp: Any, where: str, seen: set[type] | None = None, localns: dict[str, Any] | None = None) -> None:
    """Raises :class:`TypeError` naming ``where`` when values of ``tp`` cannot be encoded.

    ``localns`` resolves the postponed annotations of nested dataclasses
    defined in a function."""
    seen = set() if seen is None else seen
    if _is_any(tp) or tp is _NONE or tp in _SCALARS:
        return
    if tp in (bytes, Decimal, uuid.UUID, dt.datetime, dt.date, dt.time):
        return
    if _is_enum_class(tp):
        return
    if isinstance(tp, typing.TypeVar):
        return
    cls = _dataclass_class(tp)
    if cls is not None:
        if cls in seen:
            return
        seen.add(cls)
        try:
            nested = field_types(cls, localns)
        except NameError as e:
            raise TypeError(f"{where}: cannot resolve a field type of {cls.__name__}: {e}") from None
        for name, sub in nested.items():
            check_type(sub, f"{where}.{name}", seen, localns)
        return
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            check_type(arg, where, seen, localns)
        return
    if origin in (list, set, frozenset, tuple):
        for arg in args:
            if arg is not Ellipsis:
                check_type(arg, f"{where}[]", seen, localns)
        return
    if origin is dict:
        if args and not (_is_any(args[0]) or args[0] is str):
            raise TypeError(f"{where}: dict keys must be str to be JSON, got {args[0]!r}")
        if len(args) == 2:
            check_type(args[1], f"{where}[]", seen, localns)
        return
    if tp in (list, dict, set, tuple, frozenset):
        return
    raise TypeError(
        f"{where}: type {getattr(tp, '__name__', tp)!r} cannot be encoded as JSON "
        "(use a dataclass, a JSON scalar, datetime, Decimal, UUID, Enum or bytes; "
        "or give @event serializer= and deserializer=)"
    )


def encode_value(value: Any) -> Any:
    """A JSON-ready form of ``value``."""
    if value is None or (isinstance(value, (str, bool, int, float)) and not isinstance(value, enum.Enum)):
        return value
    if isinstance(value, enum.Enum):
        return encode_value(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(cast("bytes | bytearray | memoryview[int]", value))).decode("ascii")
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in cast("dict[object, object]", value).items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items: Iterable[object]
        if isinstance(value, (set, frozenset)):
            items = sorted(cast("set[object] | frozenset[object]", value), key=repr)
        else:
            items = cast("list[object] | tuple[object, ...]", value)
        return [encode_value(v) for v in items]
    raise TypeError(f"cannot encode {type(value).__name__} value {value!r} as JSON")


def _reason(error: Exception, tp: type) -> str:
    """Why a value could not be read, in words: ``decimal`` says only
    ``[<class 'decimal.ConversionSyntax'>]``."""
    if isinstance(error, ArithmeticError) and tp is Decimal:
        return "not a decimal number"
    return str(error) or type(error).__name__


def decode_value(data: Any, tp: Any, where: str) -> Any:
    """Rebuilds a value of type ``tp`` from its JSON form; errors name ``where``."""
    if _is_any(tp) or isinstance(tp, typing.TypeVar):
        return data
    if tp is _NONE:
        if data is not None:
            raise ValueError(f"{where}: expected null, got {data!r}")
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None and _NONE in args:
            return None
        errors: list[str] = []
        for arg in args:
            if arg is _NONE:
                continue
            try:
                return decode_value(data, arg, where)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise ValueError(f"{where}: {data!r} matches no member of {tp}: {'; '.join(errors)}")
    if origin is typing.Literal:
        if data not in args:
            raise ValueError(f"{where}: expected one of {args!r}, got {data!r}")
        return data
    if tp is bool:
        if not isinstance(data, bool):
            raise ValueError(f"{where}: expected a boolean, got {data!r}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ValueError(f"{where}: expected an integer, got {data!r}")
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ValueError(f"{where}: expected a number, got {data!r}")
        return float(data)
    if tp is str:
        if not isinstance(data, str):
            raise ValueError(f"{where}: expected a string, got {data!r}")
        return data
    try:
        if tp is bytes:
            return base64.b64decode(data, validate=True)
        if tp is Decimal:
            return Decimal(str(data))
        if tp is uuid.UUID:
            return uuid.UUID(data)
        if tp is dt.datetime:
            # Python 3.10 does not read the "Z" suffix other languages write.
            if isinstance(data, str) and data[-1:] in ("Z", "z"):
                data = data[:-1] + "+00:00"
            return dt.datetime.fromisoformat(data)
        if tp is dt.date:
            return dt.date.fromisoformat(data)
        if tp is dt.time:
            return dt.time.fromisoformat(data)
        if _is_enum_class(tp):
            return tp(data)
    except (TypeError, ValueError, ArithmeticError) as e:
        raise ValueError(f"{where}: cannot read {data!r} as {tp.__name__}: {_reason(e, tp)}") from None
    cls = _dataclass_class(tp)
    if cls is not None:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object for {cls.__name__}, got {data!r}")
        obj = cast("dict[object, object]", data)
        kwargs: dict[str, Any] = {}
        for name, sub in field_types(cls).items():
            if name in obj:
                kwargs[name] = decode_value(obj[name], sub, f"{where}.{name}")
        try:
            return cls(**kwargs)
        except TypeError as e:
            raise ValueError(f"{where}: cannot build {cls.__name__}: {e}") from None
    if origin in (list, set, frozenset) or tp in (list, set, frozenset):
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {data!r}")
        item = args[0] if args else Any
        items = [decode_value(v, item, f"{where}[{i}]") for i, v in enumerate(cast("list[object]", data))]
        # `origin` for `set[int]`, `tp` for a bare `set` (whose origin is None).
        if origin is set or tp is set:
            return set(items)
        if origin is frozenset or tp is frozenset:
            return frozenset(items)
        return items
    if origin is tuple or tp is tuple:
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {data!r}")
        array = cast("list[object]", data)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(array))
        if args and len(args) != len(array):
            raise ValueError(f"{where}: expected {len(args)} items, got {len(array)}")
        return tuple(decode_value(v, args[i] if args else Any, f"{where}[{i}]") for i, v in enumerate(array))
    if origin is dict or tp is dict:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {data!r}")
        value_type = args[1] if len(args) == 2 else Any
        obj = cast("dict[object, object]", data)
        return {k: decode_value(v, value_type, f"{where}[{k!r}]") for k, v in obj.items()}
    return data
