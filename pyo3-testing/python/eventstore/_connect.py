"""The connection options of every Python user of a store, one keyword set:
:class:`~eventstore.EventStoreClient` and the testing tools
(:mod:`eventstore.testing.conformance`). They map one to one onto the Rust
connector's options (``eventstore_client::ConnectOptions``), which the
command lines spell as flags:

====================================================  ==========================================
Python                                                command line
====================================================  ==========================================
``credentials={"username": U, "password": P}``        ``--username U --password P`` (or
or ``(U, P)``                                         ``EVENTSTORE_PASSWORD``)
``credentials={"token": T}`` or ``token=T``           ``--token T`` (or ``EVENTSTORE_TOKEN``)
``tls=True``                                          an ``https://`` endpoint
``tls={"ca_certificate": PEM}``                       ``--tls-ca FILE``
``tls={"client_certificate": PEM, "client_key": K}``  ``--tls-cert FILE --tls-key FILE``
``tls={"server_name": NAME}``                         ``--tls-domain NAME``
====================================================  ==========================================

A PEM is ``bytes`` or ``str`` (the PEM itself) or an ``os.PathLike`` (a
file to read). Python checks the types here; everything else (the
endpoint's form, half-given pairs, TLS options with an ``http://`` URL,
unreadable files, tokens) is checked by the connector, with the same
messages the command lines give, naming the Python keywords.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from eventstore import _native
from eventstore._checks import check_timeout, check_token, unchecked
from eventstore._errors import ValidationError
from eventstore._models import Credentials, credential_parts

__all__ = ["TLS_KEYS", "Tls", "connect_options", "read_pem"]

TLS_KEYS = ("ca_certificate", "client_certificate", "client_key", "server_name")
"""The keys of ``tls={...}``."""

Tls = Mapping[str, Any] | bool
"""``True`` (TLS, the web's roots) or a mapping of :data:`TLS_KEYS`."""

_TIMEOUTS = ("connection_timeout", "request_timeout")


def _authentication(credentials: Credentials | None, token: str | None) -> tuple[str | None, str | None, str | None]:
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


def _pem(value: Any, name: str) -> bytes | str | None:
    """The PEM itself as bytes, or the path of a file holding it as str."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, os.PathLike):
        return os.fspath(cast("os.PathLike[str]", value))
    raise ValidationError(
        f"tls.{name} must be PEM bytes or str, got {type(value).__name__} (or an os.PathLike naming a PEM file)"
    )


def _tls_options(tls: Tls | None) -> dict[str, Any]:
    if isinstance(tls, Mapping):
        unknown = set(tls) - set(TLS_KEYS)
        if unknown:
            raise ValidationError(f"tls: unknown key(s) {sorted(unknown)}")
        server_name = tls.get("server_name")
        if server_name is not None and not isinstance(unchecked(server_name), str):
            raise ValidationError(f"tls.server_name must be a str, got {type(server_name).__name__}")
        return {
            "tls": True,
            "ca_certificate": _pem(tls.get("ca_certificate"), "ca_certificate"),
            "client_certificate": _pem(tls.get("client_certificate"), "client_certificate"),
            "client_key": _pem(tls.get("client_key"), "client_key"),
            "server_name": server_name,
        }
    return {"tls": bool(tls)}


def connect_options(
    endpoint: str,
    *,
    credentials: Credentials | None = None,
    token: str | None = None,
    tls: Tls | None = None,
    **timeouts: float | None,
) -> _native.NativeConnectOptions:
    """The native options of a connection to ``endpoint``. ``timeouts`` are
    ``connection_timeout`` and ``request_timeout`` in seconds (``None``:
    none); those not given are the tools' defaults. Raises
    :class:`ValidationError` for a value of the wrong type or a timeout
    that is not a positive number of seconds (``_checks.check_timeout``)."""
    username, password, token = _authentication(credentials, token)
    for name, value in timeouts.items():
        if name not in _TIMEOUTS:
            raise TypeError(f"connect_options() got an unexpected keyword argument {name!r}")
        timeouts[name] = check_timeout(name, value)
    options: dict[str, Any] = {
        "username": username,
        "password": password,
        "token": token,
        **_tls_options(tls),
        **timeouts,
    }
    try:
        return _native.NativeConnectOptions(endpoint, **options)
    except ValueError as e:
        raise ValidationError(str(e)) from None


def read_pem(name: str, value: object) -> bytes | None:
    """The PEM content of ``tls.<name>`` a container serves (its
    certificate, key, client CA): bytes or a str holding ``-----BEGIN`` are
    the PEM itself, another str or an ``os.PathLike`` names a file read
    here (the container hands the bytes to its store)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and "-----BEGIN" in value:
        return value.encode()
    if isinstance(value, (str, os.PathLike)):
        try:
            return Path(cast("str | os.PathLike[str]", value)).read_bytes()
        except OSError as e:
            raise ValidationError(f"tls.{name}: cannot read {value!s}: {e}") from None
    raise ValidationError(f"tls.{name} must be PEM bytes, a PEM string or a path, got {type(value).__name__}")
