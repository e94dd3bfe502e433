"""Argument checks shared by the client, the checkpoint stores and the
testing helpers: one rule and one message per kind of value."""

from __future__ import annotations

from typing import TypeGuard, cast

from eventstore._errors import ValidationError


def check_name(name: str, value: object) -> str:
    """A tenant or consumer name: a non-empty str."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} must be a non-empty str, got {value!r}")
    return value


def check_seconds(name: str, value: object) -> float:
    """A duration: a number of seconds >= 0 (NaN and bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValidationError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def is_pair(value: object) -> TypeGuard[tuple[object, object]]:
    """Whether ``value`` is a tuple of two items."""
    return isinstance(value, tuple) and len(cast("tuple[object, ...]", value)) == 2


def unchecked(value: object) -> object:
    """``value`` as what it may be at run time: anything.

    Users call the SDK from untyped code (or past its annotations), so a
    parameter annotated ``str`` may hold anything. The checks of such
    values read ``isinstance(unchecked(value), str)``: over ``object``, a
    type checker sees a real check (over the annotated type it would call
    ``isinstance(value, str)`` unnecessary, always true)."""
    return value
