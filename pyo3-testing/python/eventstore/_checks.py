"""Argument checks shared by the client, the checkpoint stores and the
testing helpers: one rule and one message per kind of value."""

from __future__ import annotations

import re
from typing import TypeGuard, cast

from eventstore._errors import ValidationError
from eventstore._semver import Precedence, precedence


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


def check_semver(name: str, value: object) -> Precedence:
    """A minimum version: a SemVer 2.0 version such as ``0.17.0``; its sort key."""
    key = precedence(value) if isinstance(value, str) else None
    if key is None:
        raise ValidationError(f"{name} must be a SemVer version like '0.17.0', got {value!r}")
    return key


_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*", re.ASCII)
"""RFC 6750's ``b64token``: what may follow ``Bearer `` in ``authorization``."""


def check_token(name: str, value: object) -> str:
    """A bearer token (RFC 6750 ``b64token``: letters, digits and ``-._~+/``,
    then optional ``=`` padding). Its messages say which rule failed and
    where, never the token (a secret)."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise ValidationError(f"{name} must not be empty")
    if _B64TOKEN.fullmatch(value) is None:
        raise ValidationError(f"{name} is not a bearer token: {_token_problem(value)}")
    return value


def _token_problem(token: str) -> str:
    """What breaks the b64token rule in ``token``, without its characters."""
    rule = "a bearer token is letters, digits and -._~+/, then optional '=' padding"
    if token.startswith(("Bearer ", "bearer ")):
        return f"give it without the 'Bearer ' prefix (the client adds it); {rule}"
    body = len(token.rstrip("="))
    if body == 0:
        return f"it is only '=' padding ({rule})"
    for position, char in enumerate(token):
        if position >= body or _B64TOKEN.fullmatch(char) is not None:
            continue
        if char == "=":
            kind = "'=' before its end ('=' may only pad the end)"
        elif char.isspace():
            kind = "whitespace"
        elif not char.isascii():
            kind = "a non-ASCII character"
        elif not char.isprintable():
            kind = "a control character"
        else:
            kind = "a character outside that set"
        return f"it has {kind} at position {position} ({rule})"
    return rule


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
