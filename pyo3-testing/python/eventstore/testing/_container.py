"""``EventStoreContainer``: the real event store for integration tests.

It runs the store's ``FROM scratch`` image in the local Docker engine; the
image is built on first use from the static server binary this package
carries, so nothing is pulled and nothing is to be installed. Without a
Docker engine (``mode="auto"``, the default) it runs the same server in this
process instead, with a :class:`DockerUnavailableWarning`. The store is
durable (its data survives :meth:`EventStoreContainer.restart`) and is
removed by :meth:`stop`, by ``async with`` / ``with``, or at interpreter exit
if it is still running. Every start in Docker first removes the containers
left by killed test runs (:meth:`EventStoreContainer.sweep_leftovers`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eventstore import _native
from eventstore._connect import Tls, read_pem
from eventstore._errors import ContainerError, ValidationError
from eventstore._loop import in_event_loop
from eventstore._models import (
    DEFAULT_CONNECTION_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TENANT,
    Credentials,
    credential_parts,
)
from eventstore.testing._warnings import DockerUnavailableWarning

if TYPE_CHECKING:
    from eventstore._client import EventStoreClient
    from eventstore._events import EventRegistry

__all__ = ["DockerUnavailableWarning", "EventStoreContainer"]

_running: weakref.WeakSet[EventStoreContainer] = weakref.WeakSet()


def _warn_if_fallback(native: _native.NativeContainer, stacklevel: int) -> None:
    """A :class:`DockerUnavailableWarning` when ``mode="auto"`` found no engine."""
    cause = native.fallback_cause
    if cause is not None:
        warnings.warn(
            DockerUnavailableWarning(
                f"Docker is not available ({cause}); EventStoreContainer runs the real eventstore-server "
                "in this process instead (durable storage on a temporary directory, same API). "
                'To require Docker, use EventStoreContainer(mode="docker") or set EVENTSTORE_CONTAINER_MODE=docker; '
                'to run in process without this warning, use mode="in-process".'
            ),
            stacklevel=stacklevel + 1,
        )


class EventStoreContainer:
    """The real event store, started for a test.

    >>> container = EventStoreContainer()
    >>> await container.start()
    >>> client = EventStoreClient(endpoint=container.get_endpoint())
    >>> await container.stop()

    ``image`` (``"name:tag"``) runs another image that speaks the API instead
    of the built-in one; ``env`` sets ``EVENTSTORE_*`` variables of the store;
    ``credentials`` (``{"username", "password"}``, ``{"token"}`` for a bearer
    token, or all three: either then gets in) and ``tls``
    (``{"certificate", "key", "client_ca"}``, PEM bytes, strings or paths)
    configure its security; ``mode`` is ``"auto"`` (Docker, else in
    process), ``"docker"``, ``"process"`` or ``"in-process"``; ``reuse``
    shares one container across a test session.
    """

    def __init__(
        self,
        image: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        credentials: Credentials | None = None,
        tls: Mapping[str, Any] | None = None,
        mode: str | None = None,
        reuse: bool = False,
        startup_timeout: float = 60.0,
    ) -> None:
        self._image: tuple[str, str] | None = None
        if image is not None:
            name, sep, tag = image.rpartition(":")
            if not sep or not name or "/" in tag:
                name, tag = image, "latest"
            self._image = (name, tag)
        self._env = {str(k): str(v) for k, v in (env or {}).items()}
        self._username, self._password, self._token = credential_parts(credentials)
        self._tls: dict[str, bytes | None] = {}
        if tls is not None:
            unknown = set(tls) - {"certificate", "key", "client_ca"}
            if unknown:
                raise ValidationError(f"tls: unknown key(s) {sorted(unknown)} (known: certificate, key, client_ca)")
            self._tls = {k: read_pem(k, tls.get(k)) for k in ("certificate", "key", "client_ca")}
        self._mode = mode
        self._reuse = reuse
        self._startup_timeout = startup_timeout
        self._native: _native.NativeContainer | None = None

    def _start_kwargs(self) -> dict[str, Any]:
        return {
            "image": self._image,
            "env": self._env,
            "username": self._username,
            "password": self._password,
            "token": self._token,
            "tls_cert": self._tls.get("certificate"),
            "tls_key": self._tls.get("key"),
            "tls_client_ca": self._tls.get("client_ca"),
            "mode": self._mode,
            "reuse": self._reuse,
            "startup_timeout": self._startup_timeout,
        }

    async def start(self) -> EventStoreContainer:
        """Starts the store and waits until its health service says SERVING.

        Without a Docker engine (``mode="auto"``) it warns with
        :class:`DockerUnavailableWarning` and runs the store in process."""
        if self._native is not None:
            return self
        try:
            self._native = await _native.NativeContainer.start(**self._start_kwargs(), blocking=False)
        except ValueError as e:
            raise ValidationError(str(e)) from None
        _running.add(self)
        try:
            _warn_if_fallback(self._native, stacklevel=2)
        except BaseException:
            await self.stop()  # the warning is an error here: nothing stays running
            raise
        return self

    def start_blocking(self) -> EventStoreContainer:
        """:meth:`start` for code without an event loop (sync fixtures).

        Called from a running event loop it still works, but blocks the loop
        until the store is ready, so it warns (``RuntimeWarning``): use
        ``await container.start()`` there."""
        return self._start_blocking(stacklevel=2)

    def _start_blocking(self, stacklevel: int) -> EventStoreContainer:
        if self._native is None:
            if in_event_loop():
                warnings.warn(
                    "EventStoreContainer.start_blocking() (or `with EventStoreContainer()`) was called from a "
                    "running event loop: it blocks the loop until the store is ready; use "
                    "`await container.start()` or `async with EventStoreContainer() as container:` instead",
                    RuntimeWarning,
                    stacklevel=stacklevel + 1,
                )
            try:
                native = _native.NativeContainer.start(**self._start_kwargs(), blocking=True)
            except ValueError as e:
                raise ValidationError(str(e)) from None
            self._native = native
            _running.add(self)
            try:
                _warn_if_fallback(native, stacklevel=stacklevel + 1)
            except BaseException:
                self.stop_blocking()  # the warning is an error here: nothing stays running
                raise
        return self

    def _started(self) -> _native.NativeContainer:
        if self._native is None:
            raise ContainerError("the store is not started: await container.start() first")
        return self._native

    def get_endpoint(self) -> str:
        """``127.0.0.1:<port>``, for ``EventStoreClient(endpoint=...)``."""
        return self._started().endpoint

    @property
    def endpoint(self) -> str:
        """Same as :meth:`get_endpoint`."""
        return self.get_endpoint()

    @property
    def mode(self) -> str:
        """Where the store runs: ``"docker"``, ``"process"`` or ``"in-process"``."""
        return self._started().mode

    @property
    def container_id(self) -> str | None:
        """The Docker container's id (``None`` when not in Docker)."""
        return self._started().id

    def client(
        self,
        *,
        credentials: Credentials | None = None,
        token: str | None = None,
        tls: Tls | None = None,
        connection_timeout: float | None = DEFAULT_CONNECTION_TIMEOUT,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        tenant_id: str = DEFAULT_TENANT,
        registry: EventRegistry | None = None,
    ) -> EventStoreClient:
        """A client of this store, with its credentials and TLS set up.

        The keywords are :class:`~eventstore.EventStoreClient`'s, with its
        defaults; ``credentials``/``token`` and ``tls`` default to the
        store's own (``credentials`` or ``token`` given replace both)."""
        from eventstore._client import EventStoreClient

        if credentials is None and token is None:
            # One of them, as a client sends one authorization header: the
            # password where both are configured (either gets in).
            if self._username is not None and self._password is not None:
                credentials = {"username": self._username, "password": self._password}
            elif self._token is not None:
                token = self._token
        if tls is None and self._tls.get("certificate"):
            ca = self._tls.get("client_ca") or self._tls["certificate"]
            own: dict[str, Any] = {"ca_certificate": ca, "server_name": "localhost"}
            if self._tls.get("client_ca"):
                own.update(client_certificate=self._tls["certificate"], client_key=self._tls["key"])
            tls = own
        return EventStoreClient(
            endpoint=self.get_endpoint(),
            credentials=credentials,
            token=token,
            tls=tls,
            connection_timeout=connection_timeout,
            request_timeout=request_timeout,
            max_connections=max_connections,
            tenant_id=tenant_id,
            registry=registry,
        )

    async def restart(self) -> None:
        """Restarts the store; its data is kept."""
        await self._started().restart()

    async def logs(self) -> str:
        """The store's output so far."""
        return await self._started().logs()

    async def stop(self) -> None:
        """Stops and removes the store. Idempotent.

        The removal runs in a worker thread: cancelling the caller (a
        timeout around a fixture's teardown) does not abandon it half-way,
        and the interpreter waits for it at exit.
        """
        if self._native is not None:
            native, self._native = self._native, None
            _running.discard(self)
            await asyncio.to_thread(native.stop_blocking)

    def stop_blocking(self) -> None:
        """:meth:`stop` for code without an event loop."""
        if self._native is not None:
            native, self._native = self._native, None
            _running.discard(self)
            native.stop_blocking()

    @staticmethod
    def sweep_leftovers() -> list[str]:
        """Removes the containers of this package whose process is gone (on
        this host), e.g. those of a test run killed with ``kill -9``; returns
        their ids. Containers of running processes are left alone.

        Every start in Docker already does this for the containers of other
        test sessions; call it to clean up without starting a store (it
        blocks for the few Docker calls it takes). Raises
        :class:`~eventstore.ContainerError` when no Docker engine answers."""
        return _native.NativeContainer.sweep_leftovers()

    def __enter__(self) -> EventStoreContainer:
        """``with EventStoreContainer() as container:``, for code without an
        event loop: :meth:`start_blocking`, then :meth:`stop_blocking`."""
        return self._start_blocking(stacklevel=2)

    def __exit__(self, *exc_info: object) -> None:
        self.stop_blocking()

    async def __aenter__(self) -> EventStoreContainer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = f"{self._native.mode} at {self._native.endpoint}" if self._native else "not started"
        return f"EventStoreContainer({state})"


@atexit.register
def _stop_forgotten() -> None:
    # Registered after eventstore's runtime shutdown, so it runs before it.
    for container in list(_running):
        with contextlib.suppress(Exception):  # best effort at exit
            container.stop_blocking()
