"""SemVer 2.0 versions (https://semver.org): parsing and precedence.

The reference store's clients gate on ``server_version >= 0.17.0`` under
SemVer 2.0 precedence, so :meth:`ServerInfo.version_at_least
<eventstore.ServerInfo.version_at_least>` compares the same way: MAJOR,
MINOR and PATCH numerically; a pre-release (``1.0.0-rc.1``) below its
release; pre-release identifiers dot by dot (numeric ones numerically and
below alphanumeric ones, alphanumeric ones ASCII-lexically, a shorter list
of equal prefix lower); build metadata (``+...``) ignored.
"""

from __future__ import annotations

import re

__all__ = ["Precedence", "precedence"]

_NUMBER = r"0|[1-9][0-9]*"
"""A numeric part or identifier: no leading zero."""
_PRE_IDENTIFIER = rf"(?:{_NUMBER}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
"""A pre-release identifier: numeric (no leading zero) or alphanumeric."""
_BUILD_IDENTIFIER = r"[0-9A-Za-z-]+"
"""A build metadata identifier (leading zeros allowed: it is never compared)."""
_SEMVER = re.compile(
    rf"(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>{_PRE_IDENTIFIER}(?:\.{_PRE_IDENTIFIER})*))?"
    rf"(?:\+{_BUILD_IDENTIFIER}(?:\.{_BUILD_IDENTIFIER})*)?",
    re.ASCII,
)

Number = tuple[int, str]
"""A numeric part's sort key: ``(digits, text)``. Without leading zeros the
longer number is the larger, so this compares numerically (and never
converts: ``int()`` refuses numbers of more than 4,300 digits)."""
Identifier = tuple[int, int, str]
"""A pre-release identifier's sort key: ``(0, digits, text)`` for a number,
``(1, 0, text)`` for alphanumeric ``text`` (numbers sort first)."""
Precedence = tuple[Number, Number, Number, int, tuple[Identifier, ...]]
"""A version's sort key: ``(major, minor, patch, release, identifiers)``,
``release`` 1 for a release (above every pre-release of it, which has 0 and
its identifiers' keys). Two versions compare as their keys do."""


def _number(text: str) -> Number:
    return (len(text), text)


def _identifier(text: str) -> Identifier:
    return (0, len(text), text) if text.isdigit() else (1, 0, text)


def precedence(version: str) -> Precedence | None:
    """The sort key of the SemVer 2.0 ``version``; ``None`` when it is not one
    (leading zeros, empty identifiers, missing parts, other characters)."""
    match = _SEMVER.fullmatch(version)
    if match is None:
        return None
    major, minor, patch = _number(match["major"]), _number(match["minor"]), _number(match["patch"])
    pre = match["pre"]
    if pre is None:
        return (major, minor, patch, 1, ())
    return (major, minor, patch, 0, tuple(_identifier(part) for part in pre.split(".")))
