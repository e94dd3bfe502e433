"""Argument checks shared by the client, the checkpoint stores and the
testing helpers: one rule and one message per kind of value."""

from __future__ import annotations

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
