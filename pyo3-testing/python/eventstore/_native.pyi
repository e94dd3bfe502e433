"""Type stubs of the Rust extension ``eventstore._native`` (internal)."""

import os
from collections.abc import Awaitable, Generator
from typing import Literal, final, overload

from eventstore._wire import WireEvent

__all__ = [
    "API_VERSION",
    "CAPABILITIES",
    "NativeClient",
    "NativeConformanceOutcome",
    "NativeConformanceSession",
    "NativeConnectOptions",
    "NativeContainer",
    "NativeDiffReport",
    "NativeMock",
    "NativeSubscription",
    "RawEvent",
    "Ready",
    "__version__",
    "conformance_cases",
    "conformance_diff",
    "conformance_main",
    "conformance_report",
    "mock_main",
    "new_event_id",
    "payload_view",
    "record_main",
    "shutdown",
]

__version__: str
CAPABILITIES: tuple[str, ...]
"""Every capability the stores of this project advertise (the proto crate's list)."""
API_VERSION: str

@final
class Ready:
    """An awaitable whose result is already there (a call to an in-process
    mock that finished at once): awaiting it returns without a trip through
    the event loop."""

    def __await__(self) -> Generator[object, None, object]: ...
    def __iter__(self) -> Ready: ...
    def __next__(self) -> object: ...

@final
class RawEvent:
    @property
    def event_id(self) -> str: ...
    @property
    def aggregate_id(self) -> str: ...
    @property
    def aggregate_type(self) -> str: ...
    @property
    def aggregate_nonce(self) -> int: ...
    @property
    def event_type(self) -> str: ...
    @property
    def event_version(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def content_schema(self) -> str: ...
    @property
    def correlation_id(self) -> str: ...
    @property
    def causation_id(self) -> str: ...
    @property
    def actor_id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def timestamp_unix_ms(self) -> int: ...
    @property
    def recorded_time_unix_ms(self) -> int: ...
    @property
    def payload_sha256(self) -> bytes: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def global_nonce(self) -> int: ...
    @property
    def payload(self) -> bytes: ...

@final
class NativeSubscription:
    def next_batch(self, max: int) -> Awaitable[list[RawEvent | bool]]:
        """Events, and ``True`` / ``False`` where the subscription became caught up / reconnected."""
    def ack(self, global_nonce: int) -> None: ...
    @property
    def acknowledged(self) -> int: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def keepalives_received(self) -> int: ...
    def close(self) -> None: ...

@final
class NativeMock:
    def __new__(
        cls,
        *,
        strict: bool = False,
        listen: str | None = None,
        max_events_per_batch: int | None = None,
        max_page_size: int | None = None,
        default_page_size: int | None = None,
        legacy_server: bool = False,
        backend: str = "memory",
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        journal_credentials: bool = False,
    ) -> NativeMock:
        """``backend``: ``"memory"``, ``"postgres"`` or ``"unknown"`` (else
        ``ValueError``). With ``username``/``password`` and/or ``token``,
        every call needs Basic credentials or the bearer token (either, when
        both are configured)."""
    @property
    def endpoint(self) -> str: ...
    def mount(self, spec: str) -> int: ...
    def journal(self) -> list[tuple[str, list[RawEvent], list[RawEvent]]]:
        """Each call as ``(CallJson text, the append's events, the events delivered)``."""
    def call_count(self) -> int: ...
    def verify(self) -> str | None: ...
    def reset(self, *, journal: bool = True, expectations: bool = True, data: bool = True) -> None: ...
    def set_strict(self, strict: bool) -> None: ...
    def set_legacy_server(self, legacy: bool) -> None: ...
    def set_backend(self, backend: str) -> None:
        """``ValueError`` unless ``"memory"``, ``"postgres"`` or ``"unknown"``."""
    def seed(
        self, tenant_id: str, aggregate_id: str, aggregate_type: str, events: list[WireEvent]
    ) -> tuple[int, int]: ...
    def read_all(self, tenant_id: str, aggregate_id: str) -> list[RawEvent]: ...
    def load_fixture(self, path: str | os.PathLike[str]) -> int: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...

@final
class NativeConnectOptions:
    """The connection options of every Python user of a store, mapped one to
    one onto the connector's (``--tls-ca`` is ``ca_certificate``, ...).
    PEMs are ``bytes`` (the PEM itself) or a path (a file to read)."""

    def __new__(
        cls,
        endpoint: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        tls: bool = False,
        ca_certificate: bytes | str | os.PathLike[str] | None = None,
        client_certificate: bytes | str | os.PathLike[str] | None = None,
        client_key: bytes | str | os.PathLike[str] | None = None,
        server_name: str | None = None,
        connection_timeout: float | None = ...,
        request_timeout: float | None = ...,
    ) -> NativeConnectOptions:
        """Timeouts default to the tools' (the connector's); ``ValueError``
        for one that is not a positive number of seconds."""
    @property
    def endpoint(self) -> str: ...

@final
class NativeClient:
    def __new__(
        cls,
        options: NativeConnectOptions,
        *,
        max_connections: int = 1,
        mock: NativeMock | None = None,
    ) -> NativeClient:
        """A client of the store ``options`` name; with ``mock``, of that mock
        in process (only the credentials of ``options`` are used).
        ``ValueError`` for options the connector refuses."""
    def append(
        self,
        tenant_id: str,
        aggregate_id: str,
        aggregate_type: str,
        expected_aggregate_nonce: int,
        idempotency_key: str,
        events: list[WireEvent],
    ) -> Awaitable[tuple[int, int]]: ...
    def read_stream(
        self, tenant_id: str, aggregate_id: str, from_aggregate_nonce: int, max_count: int, forward: bool
    ) -> Awaitable[tuple[list[RawEvent], bool, int]]: ...
    def read_all(
        self, tenant_id: str, from_global_nonce: int, max_count: int, forward: bool
    ) -> Awaitable[tuple[list[RawEvent], bool, int]]: ...
    def server_info(self) -> Awaitable[tuple[str, str, str, list[str]] | None]:
        """``None``: the server answered ``UNIMPLEMENTED`` (legacy)."""
    def subscribe(
        self,
        tenant_id: str,
        aggregate_id_prefix: str,
        from_global_nonce: int,
        max_reconnect_attempts: int = 10,
        buffer: int = 4096,
    ) -> NativeSubscription: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...

@final
class NativeContainer:
    @overload
    @staticmethod
    def start(
        *,
        image: tuple[str, str] | None = None,
        env: dict[str, str] = ...,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        tls_cert: bytes | None = None,
        tls_key: bytes | None = None,
        tls_client_ca: bytes | None = None,
        mode: str | None = None,
        reuse: bool = False,
        startup_timeout: float = 60.0,
        blocking: Literal[False] = False,
    ) -> Awaitable[NativeContainer]:
        """Resolves to the container once the store is ready."""
    @overload
    @staticmethod
    def start(
        *,
        image: tuple[str, str] | None = None,
        env: dict[str, str] = ...,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        tls_cert: bytes | None = None,
        tls_key: bytes | None = None,
        tls_client_ca: bytes | None = None,
        mode: str | None = None,
        reuse: bool = False,
        startup_timeout: float = 60.0,
        blocking: Literal[True],
    ) -> NativeContainer:
        """``blocking=True``: the container, once the store is ready (the call blocks)."""
    @property
    def endpoint(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def id(self) -> str | None: ...
    @property
    def fallback_cause(self) -> str | None: ...
    @staticmethod
    def sweep_leftovers() -> list[str]: ...
    def restart(self) -> Awaitable[None]: ...
    def logs(self) -> Awaitable[str]: ...
    def stop(self) -> Awaitable[None]: ...
    def stop_blocking(self) -> None: ...
    @property
    def stopped(self) -> bool: ...

def shutdown(timeout_secs: float = 2.0) -> None: ...
def payload_view(payload: bytes) -> str: ...
def record_main(argv: list[str]) -> int:
    """``eventstore-mock record``: ``argv[0]`` names the program; returns the exit status."""

def mock_main(argv: list[str]) -> int:
    """``eventstore-mock``: serves until SIGTERM or SIGINT; ``argv[0]`` names the program; returns the exit status."""

def new_event_id() -> str: ...
def conformance_cases(only: str | None = None) -> list[tuple[str, str, str | None]]:
    """``(id, rule, known deviation)`` of every conformance case ``only`` selects."""

@final
class NativeConformanceOutcome:
    @property
    def case(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def message(self) -> str | None: ...
    @property
    def known_deviation(self) -> str | None: ...
    @property
    def seconds(self) -> float: ...
    @property
    def line(self) -> str: ...

@final
class NativeConformanceSession:
    def __new__(cls, options: NativeConnectOptions, *, tenant_prefix: str = ...) -> NativeConformanceSession: ...
    @property
    def tenant_prefix(self) -> str: ...
    def run(self, case: str) -> NativeConformanceOutcome: ...

def conformance_report(endpoint: str, outcomes: list[NativeConformanceOutcome]) -> tuple[str, bool, str]:
    """``(summary line, success, JSON report)``."""

@final
class NativeDiffReport:
    @property
    def operations(self) -> int: ...
    @property
    def differences(self) -> list[str]: ...
    @property
    def summary(self) -> str: ...
    @property
    def success(self) -> bool: ...
    @property
    def json(self) -> str: ...

def conformance_diff(a: str, b: str, *, ops: int, seed: int, tenant_prefix: str) -> NativeDiffReport: ...
def conformance_main(argv: list[str]) -> int:
    """``eventstore-conformance`` (the Rust command line): ``argv[0]`` names
    the program; returns the exit status. Ctrl-C raises ``KeyboardInterrupt``."""
