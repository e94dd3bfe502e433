"""``MockEventStore``: the Rust mock, in this process, with a Pythonic
expectation API (the facade; the expectation JSON is built by
``_expectations.py``, the journal's views are ``_journal.py``'s).

By default it is a working event store (appends succeed, reads return what
was appended, subscriptions stream), exactly like the real one.
Expectations are layered on top: they count matching calls, can answer
them with a fault or a stub, and :meth:`MockEventStore.verify` checks them.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from eventstore import _native
from eventstore._encoding import NO_IDS, encode_event, now_ms
from eventstore._errors import ValidationError
from eventstore._events import default_registry
from eventstore._models import (
    DEFAULT_TENANT,
    AppendResult,
    Credentials,
    EventInput,
    RecordedEvent,
    ServerInfo,
    credential_parts,
)
from eventstore.testing._expectations import (
    ExpectOptions,
    Matcher,
    append_reply,
    append_request,
    expectation_json,
    pattern_values,
    read_reply,
    request_fields,
    server_info_reply,
    subscribe_reply,
)
from eventstore.testing._journal import RecordedCall, StreamEnd, recorded_call
from eventstore.testing._spec import RespondSpec, Rpc

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Backend", "Expectation", "MockEventStore", "RecordedCall", "StreamEnd"]

Backend: TypeAlias = Literal["memory", "postgres", "unknown"]
"""What ``GetServerInfo`` may answer as ``backend``: the reference store's values."""

_BACKENDS: tuple[Backend, ...] = ("memory", "postgres", "unknown")


def _check_backend(value: object) -> Backend:
    """``backend=``: one of the reference's values (a ValidationError listing them)."""
    for backend in _BACKENDS:
        if isinstance(value, str) and value == backend:
            return backend
    raise ValidationError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}, got {value!r}")


class Expectation:
    """A mounted expectation: its matching calls, for assertions."""

    def __init__(self, mock: MockEventStore, expectation_id: int, description: str) -> None:
        self._mock = mock
        self.id = expectation_id
        self.description = description

    @property
    def calls(self) -> list[RecordedCall]:
        """The calls it matched, in order."""
        return [c for c in self._mock.calls if self.id in c.matched]

    @property
    def call_count(self) -> int:
        """How many calls it matched."""
        return len(self.calls)

    def __repr__(self) -> str:
        return f"Expectation(id={self.id}, {self.description}, call_count={self.call_count})"


class MockEventStore:
    """An in-memory event store for tests, with expectations and a journal.

    ``MockEventStore()`` starts it in tens of microseconds: it binds its
    port, and its servers start only when a connection first needs them; it
    needs no event loop. Clients reach it in process with
    ``EventStoreClient(endpoint="mock", store=mock)`` (calls go straight to
    the mock's service, without HTTP/2 or a thread hop, and finish before
    the ``await`` returns unless the answer needs time, e.g. a ``delay``;
    subscriptions use an in-process channel), or over the network at
    :attr:`endpoint` (``listen="127.0.0.1:50051"`` picks the address; the
    default is a free port). Both paths answer, fail and journal alike.
    ``strict=True`` makes calls that no expectation matches fail
    (``FAILED_PRECONDITION``) and :meth:`verify` report them too; a call
    that matches an expectation which already had its calls is not refused
    (counts are :meth:`verify`'s; ``up_to=n`` retires an expectation after
    n calls).
    ``legacy=True`` plays a server from before ``GetServerInfo``: it answers
    that call ``UNIMPLEMENTED`` (``client.server_info()`` reads it as legacy).
    Otherwise ``GetServerInfo`` answers as the stores of this project do:
    version ``0.17.0+eventstore-sdk.X.Y.Z`` (the reference API level, see
    :meth:`~eventstore.ServerInfo.version_at_least`), API
    ``eventstore.v1``, every capability of
    :data:`~eventstore.KNOWN_CAPABILITIES`, and backend ``"memory"``;
    ``backend="postgres"`` (or ``"unknown"``) answers as the user's
    production store would (settable later: :attr:`backend`).
    ``credentials={"username": ..., "password": ...}`` makes it require them
    on every service (the store, the control API, reflection; not health),
    as the real server's ``--username/--password`` do: a client without them
    gets :class:`~eventstore.AuthenticationError`. ``credentials={"token":
    ...}`` requires that bearer token instead (clients pass ``token=`` or
    the same ``credentials``), and all three keys accept either a client
    with the username and password or one with the token. The journal shows
    credential headers as ``[redacted]`` unless ``journal_credentials=True``.
    """

    def __init__(
        self,
        *,
        strict: bool = False,
        listen: str | None = None,
        max_events_per_batch: int | None = None,
        max_page_size: int | None = None,
        default_page_size: int | None = None,
        legacy: bool = False,
        credentials: Credentials | None = None,
        journal_credentials: bool = False,
        backend: Backend = "memory",
    ) -> None:
        username, password, token = credential_parts(credentials)
        answered_backend = _check_backend(backend)
        try:
            self._native = _native.NativeMock(
                strict=strict,
                listen=listen,
                max_events_per_batch=max_events_per_batch,
                max_page_size=max_page_size,
                default_page_size=default_page_size,
                legacy_server=bool(legacy),
                backend=answered_backend,
                username=username,
                password=password,
                token=token,
                journal_credentials=bool(journal_credentials),
            )
        except ValueError as e:
            raise ValidationError(str(e)) from None
        self._strict = strict
        self._legacy = bool(legacy)
        self._backend: Backend = answered_backend
        self._expectations = 0

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:<port>``, for clients that connect over the network."""
        return self._native.endpoint

    # -- expectations -----------------------------------------------------

    def _expect(self, rpc: Rpc, request: dict[str, object], reply: RespondSpec, options: ExpectOptions) -> Expectation:
        """The one implementation behind every ``expect_*``: builds the
        expectation JSON (``_expectations.expectation_json``) and mounts it."""
        text = expectation_json(rpc, request, reply, options)
        try:
            expectation_id = self._native.mount(text)
        except ValueError as e:
            raise ValidationError(str(e)) from None
        self._expectations += 1
        description = options.get("name") or f"{rpc} {json.dumps(pattern_values(request, rpc), default=str)}"
        return Expectation(self, expectation_id, description)

    def expect_append(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | Matcher | None = None,
        aggregate_id: str | Matcher | None = None,
        aggregate_type: str | Matcher | None = None,
        expected_aggregate_nonce: int | None = None,
        events: Sequence[EventInput] | None = None,
        idempotency_key: str | Matcher | None = None,
        returns: AppendResult | Mapping[str, int] | None = None,
        drop_connection: bool = False,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects appends matching the fields given (others are ignored).

        ``events`` lists ``@event`` instances (matched by type, revision and
        payload), :class:`~eventstore.NewEvent` objects or dict patterns;
        the batch must have exactly that many events. Counts: exactly once
        by default, or ``times=``, ``at_least=``/``at_most=``, ``never=True``.
        ``fail_with`` an error class or instance (``ConcurrencyError``,
        ``ConnectionError``...) or a ``(code, message)`` pair answers with
        that failure, only on the ``nth`` matching call if given (which
        makes the default count "at least n"); ``up_to=n`` matches only the
        first ``n`` matching calls (later ones go past it, to the working
        store, and are not counted; the default count becomes exactly
        ``n``), so ``fail_with=ConcurrencyError, up_to=2`` fails twice and
        then lets the append through; ``returns``
        answers with a stubbed result without writing; ``delay`` (seconds)
        waits first; ``drop_connection`` cuts the client's connection;
        ``metadata`` matches gRPC metadata; ``name`` names it in reports.
        A text field (and a metadata value) may be a pattern instead
        (:data:`~eventstore.testing.Matcher`): ``re.compile("^order-")``,
        or ``{"$regex": "^order-"}``, ``{"$any": True}``, ``{"$eq": ...}``;
        so may any value of a dict pattern (``events=[{"payload": {"id":
        re.compile("^o-")}}]``).
        """
        fields = request_fields(
            request,
            tenant_id=tenant_id,
            aggregate_id=aggregate_id,
            aggregate_type=aggregate_type,
            expected_aggregate_nonce=expected_aggregate_nonce,
            events=events,
            idempotency_key=idempotency_key,
        )
        return self._expect("append", append_request(fields), append_reply(returns, drop_connection), options)

    def expect_read_stream(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | Matcher | None = None,
        aggregate_id: str | Matcher | None = None,
        from_aggregate_nonce: int | None = None,
        max_count: int | None = None,
        forward: bool | None = None,
        returns: Sequence[EventInput] | None = None,
        drop_connection: bool = False,
        data_loss_at: int | None = None,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects reads matching the fields given. ``returns`` answers with
        a page holding these events (``@event`` instances or NewEvents,
        numbered 1..n) instead of the store's; ``data_loss_at=N`` fails a
        page that reaches global nonce ``N`` with ``DATA_LOSS`` and the
        trailer (the client raises :class:`~eventstore.UndecodableEventError`),
        as the real store does for a damaged record; other options as
        :meth:`expect_append`."""
        fields = request_fields(
            request,
            tenant_id=tenant_id,
            aggregate_id=aggregate_id,
            from_aggregate_nonce=from_aggregate_nonce,
            max_count=max_count,
            forward=forward,
        )
        reply = read_reply("read_stream", fields, returns, drop_connection, data_loss_at)
        return self._expect("read_stream", fields, reply, options)

    def expect_subscribe(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | Matcher | None = None,
        aggregate_id_prefix: str | Matcher | None = None,
        from_global_nonce: int | None = None,
        fail_after: int | None = None,
        drop_after: int | None = None,
        delay_each: float | None = None,
        keepalive_every: int | None = None,
        keepalive_interval: float | None = None,
        data_loss_at: int | None = None,
        returns: Sequence[EventInput] | None = None,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects subscriptions matching the fields given.

        Stream faults: ``fail_after=n`` ends the stream after ``n`` events
        with ``fail_with`` (default ``ConnectionError``, i.e. UNAVAILABLE);
        ``drop_after=n`` cuts the connection after ``n`` events;
        ``delay_each`` (seconds) slows every event. As the reference store
        does: ``keepalive_every=n`` sends an event-less response after every
        ``n`` events, ``keepalive_interval`` (seconds) one whenever no event
        came for that long; ``data_loss_at=N`` ends the stream with
        ``DATA_LOSS`` and the trailer ``esp-undecodable-global-nonce: N``
        instead of the event at global nonce ``N`` or later, after every
        event before it (the client raises
        :class:`~eventstore.UndecodableEventError`). Without ``fail_after``,
        ``fail_with`` refuses the subscription. ``returns`` streams these
        events instead of the store's, then ends. Other options as
        :meth:`expect_append`.
        """
        fields = request_fields(
            request, tenant_id=tenant_id, aggregate_id_prefix=aggregate_id_prefix, from_global_nonce=from_global_nonce
        )
        # Positional, in the order of this method's keywords.
        reply = subscribe_reply(
            fields,
            options,
            fail_after,
            drop_after,
            delay_each,
            keepalive_every,
            keepalive_interval,
            data_loss_at,
            returns,
        )
        return self._expect("subscribe", fields, reply, options)

    def expect_read_all(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        tenant_id: str | Matcher | None = None,
        from_global_nonce: int | None = None,
        max_count: int | None = None,
        forward: bool | None = None,
        returns: Sequence[EventInput] | None = None,
        drop_connection: bool = False,
        data_loss_at: int | None = None,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects ``ReadAll`` calls matching the fields given. ``returns``
        answers with a final page holding these events (``@event`` instances
        or NewEvents, at global nonces 1..n) instead of the store's;
        ``data_loss_at`` as :meth:`expect_read_stream`; other options as
        :meth:`expect_append`."""
        fields = request_fields(
            request,
            tenant_id=tenant_id,
            from_global_nonce=from_global_nonce,
            max_count=max_count,
            forward=forward,
        )
        reply = read_reply("read_all", fields, returns, drop_connection, data_loss_at)
        return self._expect("read_all", fields, reply, options)

    def expect_server_info(
        self,
        *,
        returns: ServerInfo | Mapping[str, Any] | None = None,
        legacy: bool = False,
        drop_connection: bool = False,
        **options: Unpack[ExpectOptions],
    ) -> Expectation:
        """Expects ``GetServerInfo`` calls. ``returns`` answers with this
        :class:`~eventstore.ServerInfo` (or a dict of some of its fields; a
        field left out is the mock's own: its version
        (``0.17.0+eventstore-sdk.X.Y.Z``), ``eventstore.v1``, its
        :attr:`backend` (``"memory"`` unless told otherwise), every
        capability); ``legacy=True`` answers
        ``UNIMPLEMENTED`` as a server from before ``GetServerInfo``. Other
        options as :meth:`expect_append`."""
        return self._expect("get_server_info", {}, server_info_reply(returns, legacy, drop_connection), options)

    # -- verification and journal -----------------------------------------

    def verify(self) -> None:
        """Raises :class:`AssertionError` with a report (each unmet
        expectation, the nearest calls, a field-by-field diff) unless every
        expectation is met."""
        __tracebackhide__ = True  # pytest shows the caller's line, not this one
        report = self._unmet_report()
        if report is not None:
            raise AssertionError(report)

    def _unmet_report(self) -> str | None:
        """What :meth:`verify` would raise, or ``None`` when every
        expectation is met (the pytest plugin fails the test with it)."""
        return self._native.verify()

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call received, in order."""
        return [
            recorded_call(json.loads(text), events, delivered) for text, events, delivered in self._native.journal()
        ]

    @property
    def appends(self) -> list[RecordedCall]:
        """The ``Append`` calls received."""
        return [c for c in self.calls if c.rpc == "append"]

    @property
    def reads(self) -> list[RecordedCall]:
        """The ``ReadStream`` calls received."""
        return [c for c in self.calls if c.rpc == "read_stream"]

    @property
    def subscriptions(self) -> list[RecordedCall]:
        """The ``Subscribe`` calls received."""
        return [c for c in self.calls if c.rpc == "subscribe"]

    @property
    def read_alls(self) -> list[RecordedCall]:
        """The ``ReadAll`` calls received."""
        return [c for c in self.calls if c.rpc == "read_all"]

    @property
    def server_info_calls(self) -> list[RecordedCall]:
        """The ``GetServerInfo`` calls received."""
        return [c for c in self.calls if c.rpc == "get_server_info"]

    @property
    def unmatched_calls(self) -> list[RecordedCall]:
        """The calls no expectation matched."""
        return [c for c in self.calls if not c.matched]

    # -- state --------------------------------------------------------------

    def reset(self, *, journal: bool = False, expectations: bool = False, data: bool = False) -> None:
        """Forgets calls, expectations and/or data; with no argument, all three."""
        if not (journal or expectations or data):
            journal = expectations = data = True
        self._native.reset(journal=journal, expectations=expectations, data=data)
        if expectations:
            self._expectations = 0

    @property
    def strict(self) -> bool:
        """Strict mode (see the class docs); settable."""
        return self._strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self._native.set_strict(bool(value))
        self._strict = bool(value)

    @property
    def legacy(self) -> bool:
        """Legacy mode: ``GetServerInfo`` answers ``UNIMPLEMENTED`` (see the
        class docs); settable. An expectation's reply still wins."""
        return self._legacy

    @legacy.setter
    def legacy(self, value: bool) -> None:
        self._native.set_legacy_server(bool(value))
        self._legacy = bool(value)

    @property
    def backend(self) -> Backend:
        """The ``backend`` ``GetServerInfo`` answers: ``"memory"`` (the
        default), ``"postgres"`` or ``"unknown"`` (the reference's values);
        settable, e.g. to answer as the user's production store would. An
        expectation's reply still wins."""
        return self._backend

    @backend.setter
    def backend(self, value: Backend) -> None:
        checked = _check_backend(value)
        self._native.set_backend(checked)
        self._backend = checked

    def seed(
        self,
        aggregate_id: str,
        events: Sequence[EventInput],
        *,
        tenant_id: str = DEFAULT_TENANT,
        aggregate_type: str = "Aggregate",
    ) -> AppendResult:
        """Preloads a stream without going through the journal or the
        expectations: events get the next nonces, fresh event ids and global
        positions, as the store assigns them."""
        now = now_ms()
        encoded = [encode_event(e, i, 0, NO_IDS, now) for i, e in enumerate(events)]
        last_global, last_nonce = self._native.seed(tenant_id, aggregate_id, aggregate_type, encoded)
        return AppendResult(last_global_nonce=last_global, last_aggregate_nonce=last_nonce)

    @classmethod
    def from_fixture(cls, path: str | os.PathLike[str]) -> MockEventStore:
        """A mock (default options) preloaded with the fixture file at ``path``:
        one written by ``eventstore-mock record`` (or ``python -m
        eventstore.testing.record``) from a real store answers every stream
        and ``read_all`` read with the events and nonces the store answered.
        A missing file raises :class:`FileNotFoundError`; a malformed one
        :class:`~eventstore.ValidationError` naming the file, line and field.
        For other options, ``MockEventStore(...)`` then :meth:`load_fixture`."""
        mock = cls()
        try:
            mock.load_fixture(path)
        except BaseException:
            mock.close()
            raise
        return mock

    def load_fixture(self, path: str | os.PathLike[str]) -> None:
        """Preloads the fixture file at ``path`` (see :meth:`from_fixture`),
        bypassing the journal and the expectations. A recorded fixture keeps
        its global nonces, so it loads into an empty mock."""
        file = os.fspath(path)
        if not os.path.isfile(file):
            raise FileNotFoundError(errno.ENOENT, "fixture file not found", file)
        self._native.load_fixture(file)

    def read(self, aggregate_id: str, *, tenant_id: str = DEFAULT_TENANT) -> list[RecordedEvent]:
        """Every event of a stream, read directly (not journaled)."""
        return [RecordedEvent(r, default_registry) for r in self._native.read_all(tenant_id, aggregate_id)]

    def close(self) -> None:
        """Stops the mock; open subscriptions end. Idempotent."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    def __repr__(self) -> str:
        flags = "".join(f", {name}=True" for name, on in (("strict", self._strict), ("legacy", self._legacy)) if on)
        if self._backend != "memory":
            flags += f", backend={self._backend!r}"
        state = "closed" if self._native.closed else f"calls={self._native.call_count()}"
        return f"MockEventStore(endpoint={self.endpoint!r}{flags}, expectations={self._expectations}, {state})"

    def __enter__(self) -> MockEventStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        try:
            if exc_type is None:
                self.verify()
        finally:
            self.close()

    def __iter__(self) -> Iterator[RecordedCall]:
        return iter(self.calls)
