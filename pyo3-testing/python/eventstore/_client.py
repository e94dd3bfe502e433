"""``EventStoreClient``: the async client (its subscriptions are
``_subscription.py``'s, its connection options ``_connect.py``'s)."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

from eventstore import _native
from eventstore._checkpoints import CheckpointStore, CheckpointWriter, check_store, load_checkpoint
from eventstore._checks import (
    U32_MAX,
    check_int_at_least,
    check_name,
    check_optional_str,
    check_seconds,
    check_semver,
    check_str,
    check_uint,
    unchecked,
)
from eventstore._connect import Tls, connect_options
from eventstore._encoding import context_ids, encode_event, new_event_id, now_ms
from eventstore._errors import CompatibilityError, ConnectionError, ValidationError
from eventstore._events import EventRegistry, default_registry
from eventstore._loop import require_asyncio
from eventstore._models import (
    DEFAULT_CONNECTION_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TENANT,
    HEAD,
    AllPage,
    AppendRequest,
    AppendResult,
    Credentials,
    EventInput,
    RecordedEvent,
    ServerInfo,
    StreamPage,
)
from eventstore._semver import precedence
from eventstore._subscription import Subscription
from eventstore._wire import WireEvent


class InProcessStore(Protocol):
    """What ``store=`` takes: a :class:`~eventstore.testing.MockEventStore`
    (a protocol, so this module never imports the testing package)."""

    @property
    def endpoint(self) -> str: ...
    @property
    def _native(self) -> _native.NativeMock: ...


__all__ = ["EventStoreClient", "InProcessStore", "close_now"]


_APPEND_KEYS = frozenset(
    {"tenant_id", "aggregate_id", "aggregate_type", "expected_aggregate_nonce", "events", "idempotency_key"}
)


def _append_fields(request: object) -> dict[str, Any]:
    """The fields of an append request given as an :class:`AppendRequest`
    or a dict (whose keys are checked)."""
    if isinstance(request, AppendRequest):
        return {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}
    if isinstance(request, Mapping):
        # A request dict's keys are field names (any other is refused here).
        fields = cast("Mapping[str, Any]", request)
        unknown = set(fields) - _APPEND_KEYS
        if unknown:
            raise ValidationError(f"append request: unknown key(s) {sorted(unknown)}")
        return dict(fields)
    raise ValidationError(f"append_events takes an AppendRequest, a dict or keywords, got {type(request).__name__}")


def _start(position: int | None, forward: bool, name: str) -> int:
    """A read's start position: ``None`` is the first event forward and the
    head backward (:data:`HEAD`); a given position is sent as is."""
    if position is None:
        return 0 if forward else HEAD
    check_uint(name, position)
    return position


_IDEMPOTENT_MEMORY = 4096
"""How many idempotency keys a client remembers the generated ids of."""


def _version_problem(info: ServerInfo, min_version: str) -> str:
    """Why ``info``'s version is not ``min_version`` or later, after the
    server's name in :class:`CompatibilityError`'s message."""
    if info.is_legacy or not info.server_version:
        return f"has no version, so not the required version {min_version} or later"
    if precedence(info.server_version) is not None:
        return f"is older than the required version {min_version}"
    return f"has a version that is not SemVer, so not the required version {min_version} or later"


class EventStoreClient:
    """An async client of the event store.

    It can be built outside an event loop; connections open on first use.
    Use it as ``async with EventStoreClient(...) as client`` or call
    :meth:`close` when done.

    ``endpoint`` is ``host:port`` (``http://`` / ``https://`` also accepted),
    or ``"mock"`` with ``store=`` a :class:`~eventstore.testing.MockEventStore`
    to talk to it in process. ``credentials`` is ``{"username", "password"}``
    or a ``(username, password)`` pair (sent as HTTP Basic), or
    ``{"token"}``; ``token`` is a bearer token (sent as ``authorization:
    Bearer <token>``, like ``credentials={"token": ...}``; give credentials
    or a token, not both). ``tls`` is ``True`` (the web's roots) or
    ``{"ca_certificate", "client_certificate", "client_key"}`` as PEM (bytes
    or str, or an ``os.PathLike`` naming a file; a CA given is the only root
    trusted), plus ``"server_name"`` to override the name checked; an
    ``http://`` endpoint with TLS options is refused. These keywords are
    the conformance kit's too, and map one to one onto the command lines'
    flags (``--tls-ca``, ...). Timeouts are in seconds:
    ``connection_timeout`` bounds each connection attempt and
    ``request_timeout`` each call; each is a positive number (at most
    99,999,999 hours, gRPC's longest deadline), or ``None`` for no limit.
    A timeout of 0 is refused (:class:`~eventstore.ValidationError`): it
    would fail every call, and "no limit" is ``None``. ``max_connections``
    HTTP/2 connections are used round-robin; ``tenant_id`` is the tenant of
    calls that name none (default ``"default"``).
    """

    def __init__(
        self,
        endpoint: str = "localhost:50051",
        *,
        credentials: Credentials | None = None,
        token: str | None = None,
        tls: Tls | None = None,
        connection_timeout: float | None = DEFAULT_CONNECTION_TIMEOUT,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        tenant_id: str = DEFAULT_TENANT,
        store: InProcessStore | None = None,
        registry: EventRegistry | None = None,
    ) -> None:
        if not isinstance(unchecked(endpoint), str):
            raise ValidationError(f"endpoint must be a str like 'localhost:50051', got {endpoint!r}")
        check_name("tenant_id", tenant_id)
        check_int_at_least("max_connections", max_connections, 1)
        options = connect_options(
            endpoint,
            credentials=credentials,
            token=token,
            tls=tls,
            connection_timeout=connection_timeout,
            request_timeout=request_timeout,
        )
        native_mock = None
        if store is not None:
            if endpoint not in ("mock", store.endpoint):
                raise ValidationError(
                    f"store= is given, so endpoint must be 'mock' (in process), got {endpoint!r}; "
                    "to use the network instead, pass endpoint=store.endpoint and no store"
                )
            # The mock's native core, which the client talks to in process: a
            # private member of MockEventStore that this module (not a user) reads.
            native_mock = store._native  # pyright: ignore[reportPrivateUsage]
        elif endpoint == "mock":
            raise ValidationError("endpoint 'mock' needs store=MockEventStore()")
        try:
            self._native = _native.NativeClient(options, max_connections=max_connections, mock=native_mock)
        except ValueError as e:
            raise ValidationError(str(e)) from None
        self.endpoint: str = endpoint
        """The endpoint given (``"mock"`` for an in-process mock)."""
        self.tenant_id: str = tenant_id
        """The tenant of calls that name none."""
        self.registry: EventRegistry = default_registry if registry is None else registry
        """The ``@event`` classes recorded events are decoded with."""
        # (tenant, aggregate, idempotency key) -> the generated (event_id, timestamp) of each event
        self._idempotent: OrderedDict[tuple[str, str, str], list[tuple[str | None, int | None]]] = OrderedDict()

    def _stable_ids(self, tenant: str, aggregate_id: str, key: str, encoded: list[WireEvent], now: int) -> None:
        """Gives a retried append (same idempotency key, from this client) the
        event ids and timestamps generated the first time, so the store sees
        the same batch and answers with the original result instead of
        ``ALREADY_EXISTS``. Ids and timestamps given explicitly are kept."""
        slot = (tenant, aggregate_id, key)
        generated = self._idempotent.get(slot)
        if generated is None or len(generated) != len(encoded):
            generated = [
                (None if e.get("event_id") else new_event_id(), now if e.get("timestamp_unix_ms") == now else None)
                for e in encoded
            ]
        for e, (event_id, timestamp) in zip(encoded, generated, strict=True):
            if event_id is not None and not e.get("event_id"):
                e["event_id"] = event_id
            if timestamp is not None and e.get("timestamp_unix_ms") == now:
                e["timestamp_unix_ms"] = timestamp
        self._idempotent[slot] = generated
        self._idempotent.move_to_end(slot)
        while len(self._idempotent) > _IDEMPOTENT_MEMORY:
            self._idempotent.popitem(last=False)

    def __repr__(self) -> str:
        state = "closed" if self._native.closed else "open"
        return f"EventStoreClient(endpoint={self.endpoint!r}, tenant_id={self.tenant_id!r}, {state})"

    async def __aenter__(self) -> EventStoreClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the client: calls in flight fail, and so does the
        iteration of its open subscriptions (:class:`~eventstore.ConnectionError`)."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    def _check_open(self) -> None:
        if self._native.closed:
            raise ConnectionError("the client is closed")

    def _tenant(self, tenant_id: Any) -> str:
        # Only None means "the client's tenant": an explicit "" is sent as is
        # (the store answers UNAUTHENTICATED), never silently replaced.
        return self.tenant_id if tenant_id is None else check_str("tenant_id", tenant_id)

    async def append_events(
        self,
        request: AppendRequest | Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | None = None,
        aggregate_id: str | None = None,
        aggregate_type: str | None = None,
        expected_aggregate_nonce: int | None = None,
        events: Sequence[EventInput] | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        actor_id: str | None = None,
    ) -> AppendResult:
        """Appends ``events`` to one stream, atomically.

        Takes keywords, or a request (an :class:`AppendRequest` or a dict
        with the same keys; keywords given too override it). Event ``i`` gets
        aggregate nonce ``expected_aggregate_nonce + i + 1``, a UUIDv7 event
        id, the client's clock as timestamp, the SHA-256 of its payload, and
        the correlation, causation and actor ids given here, else those of
        :class:`MessageContext`. ``tenant_id`` ``None`` (not given) is the
        client's tenant; an empty string is sent as is and rejected by the
        store (:class:`~eventstore.AuthenticationError`).
        ``expected_aggregate_nonce`` 0 (the default) means "the stream must
        not exist yet".
        """
        require_asyncio("append_events")
        if request is not None:
            # Keywords given too override the request's values.
            fields = _append_fields(request)
            tenant_id = fields.get("tenant_id") if tenant_id is None else tenant_id
            aggregate_id = fields.get("aggregate_id") if aggregate_id is None else aggregate_id
            aggregate_type = fields.get("aggregate_type") if aggregate_type is None else aggregate_type
            if expected_aggregate_nonce is None:
                expected_aggregate_nonce = fields.get("expected_aggregate_nonce")
            events = fields.get("events") if events is None else events
            idempotency_key = fields.get("idempotency_key") if idempotency_key is None else idempotency_key
        tenant = self._tenant(tenant_id)
        expected = expected_aggregate_nonce or 0
        if events is None:
            raise ValidationError("events is required: the events to append")
        given = unchecked(events)
        if type(given) is not list and (isinstance(given, (str, bytes)) or not isinstance(given, Sequence)):
            raise ValidationError(f"events must be a list of events, got {type(given).__name__}")
        check_uint("expected_aggregate_nonce", expected)
        for name, value in (
            ("aggregate_id", aggregate_id),
            ("aggregate_type", aggregate_type),
            ("idempotency_key", idempotency_key),
            ("correlation_id", correlation_id),
            ("causation_id", causation_id),
            ("actor_id", actor_id),
        ):
            check_optional_str(name, value)
        self._check_open()
        ids = context_ids(correlation_id, causation_id, actor_id)
        now = now_ms()
        encoded = [encode_event(e, i, expected + i + 1, ids, now) for i, e in enumerate(events)]
        if idempotency_key:
            self._stable_ids(tenant, aggregate_id or "", idempotency_key, encoded, now)
        last_global, last_nonce = await self._native.append(
            tenant,
            aggregate_id or "",
            aggregate_type or "",
            expected,
            idempotency_key or "",
            encoded,
        )
        return AppendResult(last_global_nonce=last_global, last_aggregate_nonce=last_nonce)

    async def read_stream(
        self,
        aggregate_id: str,
        *,
        tenant_id: str | None = None,
        from_aggregate_nonce: int | None = None,
        forward: bool = True,
        max_count: int = 0,
    ) -> StreamPage:
        """Reads one page of a stream.

        Forward: events with ``aggregate_nonce >= from_aggregate_nonce``,
        ascending (0 or 1: from the first event). Backward: events with
        ``aggregate_nonce <= from_aggregate_nonce``, descending; without
        ``from_aggregate_nonce`` a backward read starts at the head (it sends
        :data:`~eventstore.HEAD`, ``2**63 - 1``), while an explicit ``0`` is
        before every event: an empty final page. ``max_count`` 0 (the
        default) means no count limit: the page runs to the end of the
        stream unless the store's message size limit stops it earlier
        (then ``is_end`` is false). Read the next page from
        ``page.next_from_aggregate_nonce``; ``is_end`` is exact. A stream that
        does not exist reads as empty.
        """
        require_asyncio("read_stream")
        start = _start(from_aggregate_nonce, forward, "from_aggregate_nonce")
        check_uint("max_count", max_count)
        check_str("aggregate_id", aggregate_id)
        tenant = self._tenant(tenant_id)
        self._check_open()
        # max_count is a uint32 on the wire: larger values mean the same (no smaller limit).
        raw, is_end, next_from = await self._native.read_stream(
            tenant, aggregate_id, start, min(max_count, U32_MAX), bool(forward)
        )
        registry = self.registry
        return StreamPage([RecordedEvent(r, registry) for r in raw], is_end, next_from)

    async def read_stream_pages(
        self,
        aggregate_id: str,
        *,
        tenant_id: str | None = None,
        from_aggregate_nonce: int | None = None,
        forward: bool = True,
        page_size: int = 0,
    ) -> AsyncIterator[StreamPage]:
        """Every page of a stream, in order, until its end (``page_size`` 0:
        no count limit, see :meth:`read_stream`)."""
        next_from = _start(from_aggregate_nonce, forward, "from_aggregate_nonce")
        while True:
            page = await self.read_stream(
                aggregate_id, tenant_id=tenant_id, from_aggregate_nonce=next_from, forward=forward, max_count=page_size
            )
            if page.events:
                yield page
            if page.is_end or not page.events:
                return
            next_from = page.next_from_aggregate_nonce

    async def read_stream_events(
        self,
        aggregate_id: str,
        *,
        tenant_id: str | None = None,
        from_aggregate_nonce: int | None = None,
        forward: bool = True,
        page_size: int = 0,
    ) -> AsyncIterator[RecordedEvent]:
        """Every event of a stream, one by one, read page by page."""
        async for page in self.read_stream_pages(
            aggregate_id,
            tenant_id=tenant_id,
            from_aggregate_nonce=from_aggregate_nonce,
            forward=forward,
            page_size=page_size,
        ):
            for e in page.events:
                yield e

    async def read_all(
        self,
        *,
        tenant_id: str | None = None,
        from_global_nonce: int | None = None,
        max_count: int = 0,
        forward: bool = True,
    ) -> AllPage:
        """Reads one page of the tenant's global log: its events of every
        aggregate, in global order.

        The cursor rules are :meth:`read_stream`'s, over global nonces:
        forward from ``from_global_nonce`` (0 or 1: the first event);
        backward from it, or from the head when it is not given (0 is an
        empty final page). ``max_count`` 0 is the store's default page
        (100 on the stores of this project); larger values are capped by
        the store (1,000). Read the next page from
        ``page.next_from_global_nonce``; an empty forward page keeps it, so
        polling the tail with it sees each new event once.
        """
        require_asyncio("read_all")
        start = _start(from_global_nonce, forward, "from_global_nonce")
        check_uint("max_count", max_count)
        tenant = self._tenant(tenant_id)
        self._check_open()
        raw, is_end, next_from = await self._native.read_all(tenant, start, min(max_count, U32_MAX), bool(forward))
        registry = self.registry
        return AllPage([RecordedEvent(r, registry) for r in raw], is_end, next_from)

    async def read_all_pages(
        self,
        *,
        tenant_id: str | None = None,
        from_global_nonce: int | None = None,
        forward: bool = True,
        page_size: int = 0,
    ) -> AsyncIterator[AllPage]:
        """Every page of the tenant's global log, in order, until its end
        (as it is while reading; use :meth:`subscribe` to follow it live)."""
        next_from = _start(from_global_nonce, forward, "from_global_nonce")
        while True:
            page = await self.read_all(
                tenant_id=tenant_id, from_global_nonce=next_from, forward=forward, max_count=page_size
            )
            if page.events:
                yield page
            if page.is_end or not page.events:
                return
            next_from = page.next_from_global_nonce

    async def read_all_events(
        self,
        *,
        tenant_id: str | None = None,
        from_global_nonce: int | None = None,
        forward: bool = True,
        page_size: int = 0,
    ) -> AsyncIterator[RecordedEvent]:
        """Every event of the tenant's global log, one by one, read page by page."""
        async for page in self.read_all_pages(
            tenant_id=tenant_id, from_global_nonce=from_global_nonce, forward=forward, page_size=page_size
        ):
            for e in page.events:
                yield e

    async def server_info(self) -> ServerInfo:
        """Asks the server what it is: version, API version, backend and
        capabilities. A server that predates ``GetServerInfo`` (it answers
        ``UNIMPLEMENTED``) reads as legacy: :attr:`ServerInfo.is_legacy`,
        unknown version, no capabilities. Any other failure raises."""
        require_asyncio("server_info")
        self._check_open()
        answer = await self._native.server_info()
        if answer is None:
            return ServerInfo.legacy()
        server_version, api_version, backend, capabilities = answer
        return ServerInfo(server_version, api_version, backend, frozenset(capabilities))

    async def require_capabilities(
        self, capabilities: Iterable[str] = (), *, min_version: str | None = None
    ) -> ServerInfo:
        """Checks that the server advertises every capability named (see
        ``eventstore.CAPABILITY_*``) and, with ``min_version``, that its
        version is at least that (:meth:`ServerInfo.version_at_least`:
        SemVer precedence, build metadata ignored), e.g. at startup; returns
        its :class:`ServerInfo`. Raises :class:`~eventstore.CompatibilityError`
        naming the missing capabilities (all of them for a legacy server)
        and the version that falls short; a ``min_version`` that is not a
        SemVer version (``"0.17.0"``) raises :class:`~eventstore.ValidationError`
        before anything is sent."""
        if isinstance(capabilities, str):
            raise ValidationError(f"capabilities must be a list of capability names, got the str {capabilities!r}")
        wanted = list(capabilities)
        for i, name in enumerate(wanted):
            check_name(f"capabilities[{i}]", name)
        if min_version is not None:
            check_semver("min_version", min_version)
        info = await self.server_info()
        missing = frozenset(wanted) - info.capabilities
        too_old = min_version if min_version is not None and not info.version_at_least(min_version) else None
        if missing or too_old is not None:
            server = (
                "a legacy server (it predates GetServerInfo)"
                if info.is_legacy
                else f"server {info.server_version or '?'} ({info.backend or '?'} backend)"
            )
            problems: list[str] = []
            if too_old is not None:
                problems.append(_version_problem(info, too_old))
            if missing:
                problems.append(
                    f"lacks the required capabilit{'y' if len(missing) == 1 else 'ies'} "
                    f"{', '.join(sorted(missing))} (it advertises: {', '.join(sorted(info.capabilities)) or 'none'})"
                )
            raise CompatibilityError(
                f"{server} {' and '.join(problems)}",
                missing=missing,
                server_version=info.server_version,
                is_legacy=info.is_legacy,
                min_version=too_old,
            )
        return info

    async def subscribe(
        self,
        *,
        tenant_id: str | None = None,
        aggregate_id_prefix: str = "",
        from_global_nonce: int = 0,
        batch_size: int = 512,
        max_reconnect_attempts: int = 10,
        consumer: str | None = None,
        checkpoint: CheckpointStore | None = None,
        checkpoint_interval: float = 0.25,
    ) -> Subscription:
        """Subscribes to a tenant's events in global order: history from
        ``from_global_nonce`` (0: the beginning), then live.

        Iterate it with ``async for``. After a transient failure it
        reconnects with backoff and resumes after the last event passed to
        :meth:`Subscription.ack` (at-least-once: events not acknowledged
        may come again); after ``max_reconnect_attempts`` failures in a row
        the iteration raises :class:`~eventstore.ConnectionError`. A store
        ending the stream with ``UNAVAILABLE`` (``resume from global_nonce
        N``) is such a transient failure. An event the store cannot decode
        raises :class:`~eventstore.UndecodableEventError` (no reconnect),
        after every event before it. :attr:`Subscription.caught_up` tells
        when the history has been handed out.

        Every option is a keyword (``subscribe(aggregate_id_prefix="order-")``):
        a positional string would otherwise silently name the tenant.
        Iterating it after :meth:`close` of this client raises
        :class:`~eventstore.ConnectionError`.

        Checkpointed: with ``consumer=`` (a name) and ``checkpoint=`` (a
        :class:`~eventstore.CheckpointStore`), it starts after the position
        stored for this tenant and consumer (at ``from_global_nonce`` when
        none is stored), saves what :meth:`Subscription.ack` acknowledges
        (at most one write per ``checkpoint_interval`` seconds, the rest
        flushed by :meth:`Subscription.close`), and so resumes after a
        reconnect or a restart. At-least-once: handle an event, then ack it;
        an event handled but not acknowledged comes again.
        """
        require_asyncio("subscribe")
        check_uint("from_global_nonce", from_global_nonce)
        if not isinstance(unchecked(aggregate_id_prefix), str):
            raise ValidationError(f"aggregate_id_prefix must be a str, got {aggregate_id_prefix!r}")
        check_int_at_least("batch_size", batch_size, 1)
        check_int_at_least("max_reconnect_attempts", max_reconnect_attempts, 0)
        tenant = self._tenant(tenant_id)
        writer: CheckpointWriter | None = None
        if checkpoint is not None or consumer is not None:
            if checkpoint is None:
                raise ValidationError(
                    f"consumer={consumer!r} needs checkpoint= (a CheckpointStore such as MemoryCheckpointStore())"
                )
            if consumer is None:
                raise ValidationError("checkpoint= needs consumer= (the name its position is stored under)")
            check_name("consumer", consumer)
            store = check_store(checkpoint)
            check_seconds("checkpoint_interval", checkpoint_interval)
            self._check_open()
            stored = await load_checkpoint(store, tenant, consumer)
            if stored is not None:
                from_global_nonce = stored + 1
            writer = CheckpointWriter(store, tenant, consumer, float(checkpoint_interval), stored)
        self._check_open()
        native = self._native.subscribe(
            tenant,
            aggregate_id_prefix,
            from_global_nonce,
            max_reconnect_attempts=max_reconnect_attempts,
            buffer=max(batch_size * 4, 1024),
        )
        return Subscription(
            native,
            self.registry,
            batch_size,
            writer,
            client_closed=lambda: self._native.closed,
            tenant_id=tenant,
            aggregate_id_prefix=aggregate_id_prefix,
        )


def close_now(client: EventStoreClient) -> None:
    """What ``await client.close()`` does, without an event loop: for the
    sync pytest fixtures of :mod:`eventstore.testing`."""
    # The one reader of the client's native core outside its class.
    client._native.close()  # pyright: ignore[reportPrivateUsage]
