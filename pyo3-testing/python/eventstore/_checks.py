"""Argument checks: one rule and one message per kind of value, for every
check of a user's argument that more than one place needs (the client, the
subscription, the checkpoint stores, the event encoder, the testing
helpers). A check used by one place only stays beside it.

Time, in seconds (NaN and bools refused everywhere; 0 s is always zero
time, never "no limit", which is ``None``):

- :func:`check_timeout`: a deadline on I/O (``connection_timeout``,
  ``request_timeout``): a positive number up to gRPC's longest deadline
  (:data:`MAX_TIMEOUT`), or ``None`` for no limit. 0 is refused, since a
  deadline of 0 would fail every call; the Rust core's check (``seconds()``
  in ``src/connect.rs``) has the same rule and messages.
- :func:`check_seconds`: a wait or an interval (``timeout=`` of the
  waiting helpers, ``checkpoint_interval``): a number >= 0, where 0 means
  "do not wait" (check once, write at every ack).
"""

from __future__ import annotations

import re
from typing import TypeGuard, cast

from eventstore._errors import ValidationError
from eventstore._semver import Precedence, precedence

U64_MAX = 2**64 - 1
"""The largest uint64 (nonces, positions)."""
U32_MAX = 2**32 - 1
"""The largest uint32 (event versions, page sizes)."""


def check_name(name: str, value: object) -> str:
    """A tenant or consumer name: a non-empty str."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} must be a non-empty str, got {value!r}")
    return value


def check_str(name: str, value: object) -> str:
    """A str (maybe empty)."""
    if not isinstance(value, str):
        raise ValidationError(_not_str(name, value))
    return value


def check_optional_str(name: str, value: object) -> None:
    """``None`` or a str (the message is :func:`check_str`'s)."""
    if value is not None and not isinstance(value, str):
        raise ValidationError(_not_str(name, value))


def _not_str(name: str, value: object) -> str:
    return f"{name} must be a str, got {type(value).__name__} {value!r}"


def check_uint(name: str, value: object, maximum: int = U64_MAX) -> None:
    """An int in ``[0, maximum]`` (bools refused): a nonce, a position, a count.

    The event encoder runs this rule inline for every event and calls this
    function only to raise: a call per field would slow the write path."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValidationError(f"{name} must be an integer from 0 to {maximum}, got {value!r}")


def check_int_at_least(name: str, value: object, minimum: int, why: str = "") -> int:
    """An int ``>= minimum`` (bools refused); ``why`` follows the rule in the message."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an integer >= {minimum}{why}, got {value!r}")
    return value


def check_seconds(name: str, value: object) -> float:
    """A wait or an interval: a number of seconds >= 0, where 0 means "do
    not wait" (NaN and bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValidationError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


MAX_TIMEOUT = 99_999_999 * 3600
"""The longest deadline gRPC can send, in seconds: ``grpc-timeout`` holds
at most 8 digits, 99,999,999 hours."""


def check_timeout(name: str, value: object) -> float | None:
    """A deadline on I/O: a positive number of seconds up to
    :data:`MAX_TIMEOUT`, or ``None`` for no limit. 0 is refused (a deadline
    of 0 would fail every call), as are negative numbers, NaN, infinities
    and bools. The Rust core's ``seconds()`` (``src/connect.rs``) has the
    same rule and messages."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{name} must be a number of seconds or None, got {value!r}")
    if value > MAX_TIMEOUT:
        raise ValidationError(
            f"{name} must be at most {MAX_TIMEOUT} seconds (99,999,999 hours, gRPC's longest deadline), "
            f"got {value!r} (None means no limit)"
        )
    if not value > 0:  # NaN too
        raise ValidationError(
            f"{name} must be a positive number of seconds, got {value!r} "
            "(None means no limit; 0 is refused, it would fail every call)"
        )
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
