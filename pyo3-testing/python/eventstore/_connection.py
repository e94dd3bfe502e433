"""How a client reaches its store: the connection options of
:class:`~eventstore.EventStoreClient` (authentication, TLS), checked and
turned into the keywords of the Rust core's ``NativeClient``, and PEM
material (also read by :class:`~eventstore.testing.EventStoreContainer`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from eventstore._checks import check_token
from eventstore._errors import ValidationError
from eventstore._models import Credentials, credential_parts

__all__ = ["authentication", "pem", "tls_options"]

_CLIENT_TLS_KEYS = frozenset({"ca_certificate", "client_certificate", "client_key", "server_name"})


def authentication(credentials: Credentials | None, token: str | None) -> tuple[str | None, str | None, str | None]:
    """The ``(username, password, token)`` a client sends: HTTP Basic or a
    bearer token, never both (a request carries one ``authorization``)."""
    username, password, given_token = credential_parts(credentials)
    if username is not None and given_token is not None:
        raise ValidationError(
            "credentials: give a username and password or a token, not both (a client sends one of them; "
            "a MockEventStore may accept both)"
        )
    if token is None:
        return username, password, given_token
    token = check_token("token", token)
    if credentials is not None:
        raise ValidationError(
            "give credentials or a token, not both: credentials= and token= were given "
            "(a bearer token alone is token=... or credentials={'token': ...})"
        )
    return None, None, token


def tls_options(tls: Mapping[str, Any] | bool | None) -> dict[str, Any]:
    """``tls=`` of a client as the core's keywords: ``tls`` (on or off) and,
    for a dict, the PEM material and ``tls_domain`` (its ``server_name``)."""
    if not isinstance(tls, Mapping):
        return {"tls": bool(tls)}
    unknown = set(tls) - _CLIENT_TLS_KEYS
    if unknown:
        raise ValidationError(f"tls: unknown key(s) {sorted(unknown)}")
    return {
        "tls": True,
        "ca_certificate": pem("ca_certificate", tls.get("ca_certificate")),
        "client_certificate": pem("client_certificate", tls.get("client_certificate")),
        "client_key": pem("client_key", tls.get("client_key")),
        "tls_domain": tls.get("server_name"),
    }


def pem(name: str, value: object, *, paths: bool = False) -> bytes | None:
    """PEM content of ``tls.<name>``: bytes or a str; with ``paths``, also
    the path of a PEM file (a str holding ``-----BEGIN`` is the content)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and not (paths and "-----BEGIN" not in value):
        return value.encode()
    if paths and isinstance(value, (str, os.PathLike)):
        try:
            return Path(cast("str | os.PathLike[str]", value)).read_bytes()
        except OSError as e:
            raise ValidationError(f"tls.{name}: cannot read {value!s}: {e}") from None
    kinds = "PEM bytes, a PEM string or a path" if paths else "PEM bytes or str"
    raise ValidationError(f"tls.{name} must be {kinds}, got {type(value).__name__}")
