"""Fidelity with the reference store v0.17 (``spec/semantics.md``,
GetServerInfo and Authentication): SemVer versions and
``ServerInfo.version_at_least``, ``require_capabilities(min_version=)``, the
reference's four capabilities, its ``backend`` values (and
``MockEventStore(backend=)``), and bearer tokens (``token=``,
``credentials={"token": ...}``).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from eventstore import (
    CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE,
    CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX,
    KNOWN_CAPABILITIES,
    AuthenticationError,
    CompatibilityError,
    ConcurrencyError,
    EventStoreClient,
    NewEvent,
    ServerInfo,
    ValidationError,
)
from eventstore.testing import MockEventStore

OUR_VERSION_PREFIX = "0.17.0+eventstore-sdk."
TOKEN = "t0k.en-1"


def server(version: str) -> ServerInfo:
    """A server answering ``version``."""
    return ServerInfo(version, "eventstore.v1", "memory", frozenset())


# -- SemVer precedence (semver.org, section 11) --------------------------------------

SPEC_EXAMPLE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
]
"""The spec's example, ascending."""

ASCENDING_PAIRS = [
    *itertools.pairwise(SPEC_EXAMPLE),
    # MAJOR.MINOR.PATCH, numerically (the spec's 1.0.0 < 2.0.0 < 2.1.0 < 2.1.1, then more).
    ("1.0.0", "2.0.0"),
    ("2.0.0", "2.1.0"),
    ("2.1.0", "2.1.1"),
    ("1.9.0", "1.10.0"),
    ("0.9.99", "0.10.0"),
    ("0.16.9", "0.17.0"),
    ("99999999999999999999.0.0", "100000000000000000000.0.0"),
    # A pre-release sorts below its release, above the previous release.
    ("0.17.0-rc.1", "0.17.0"),
    ("0.16.0", "0.17.0-rc.1"),
    ("1.0.0-rc.1", "1.0.0+build"),
    # Numeric identifiers numerically, below alphanumeric ones.
    ("1.0.0-2", "1.0.0-10"),
    ("1.0.0-rc.9", "1.0.0-rc.10"),
    ("1.0.0-999", "1.0.0-a"),
    ("1.0.0-0", "1.0.0-0a"),
    ("1.0.0-99999999999999999999", "1.0.0-100000000000000000000"),
    # Alphanumeric identifiers ASCII-lexically: upper case before lower case.
    ("1.0.0-Beta", "1.0.0-alpha"),
    ("1.0.0-alpha", "1.0.0-alpha-1"),
    ("1.0.0-alpha.1", "1.0.0-alpha-1"),
    # A shorter list of equal prefix is lower.
    ("1.0.0-a", "1.0.0-a.0"),
    ("1.0.0-a.b", "1.0.0-a.b.c"),
]


@pytest.mark.parametrize(("lower", "higher"), ASCENDING_PAIRS)
def test_semver_precedence(lower: str, higher: str) -> None:
    assert server(higher).version_at_least(lower)
    assert not server(lower).version_at_least(higher)
    assert server(lower).version_at_least(lower)
    assert server(higher).version_at_least(higher)


def test_the_spec_example_is_a_total_order() -> None:
    for i, j in itertools.combinations(range(len(SPEC_EXAMPLE)), 2):
        lower, higher = SPEC_EXAMPLE[i], SPEC_EXAMPLE[j]
        assert server(higher).version_at_least(lower), (higher, lower)
        assert not server(lower).version_at_least(higher), (lower, higher)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0.0+build.1", "1.0.0"),
        ("1.0.0+a", "1.0.0+b"),
        ("1.0.0-rc.1+x.7", "1.0.0-rc.1"),
        ("1.0.0+001", "1.0.0+1"),
        ("0.17.0+eventstore-sdk.0.1.0", "0.17.0+eventstore-sdk.0.1.0.durable"),
    ],
)
def test_build_metadata_is_ignored(a: str, b: str) -> None:
    assert server(a).version_at_least(b)
    assert server(b).version_at_least(a)


@pytest.mark.parametrize("version", ["0.17.0+eventstore-sdk.0.1.0", "0.17.0+eventstore-sdk.0.1.0.durable"])
def test_our_versions_pass_the_reference_clients_gate(version: str) -> None:
    info = server(version)
    for minimum in ("0.17.0", "0.16.0", "0.17.0-rc.1", "0.0.0", "0.17.0+anything"):
        assert info.version_at_least(minimum), minimum
    for minimum in ("0.17.1", "0.18.0", "1.0.0"):
        assert not info.version_at_least(minimum), minimum


def test_a_pre_release_is_not_at_least_its_release() -> None:
    assert not server("0.17.0-rc.1").version_at_least("0.17.0")
    assert server("0.17.0-rc.1").version_at_least("0.17.0-rc.0")
    assert server("0.17.0-rc.1").version_at_least("0.16.99")


BAD_VERSIONS: list[object] = [
    "0.17",
    "0",
    "0.17.0.0",
    "v0.17.0",
    "01.0.0",
    "0.017.0",
    "0.17.00",
    "1.0.0-01",
    "1.0.0-",
    "1.0.0+",
    "1.0.0-a..b",
    "1.0.0+a..b",
    "1.0.0-alpha_1",
    "1.0.0-é",
    "\uff11.0.0",  # a fullwidth digit one
    " 0.17.0",
    "0.17.0 ",
    "0.17.0\n",
    "",
    None,
    17,
    0.17,
    b"0.17.0",
    ("0", "17", "0"),
]


@pytest.mark.parametrize("minimum", BAD_VERSIONS, ids=repr)
def test_a_bad_minimum_is_refused_naming_the_value(minimum: Any) -> None:
    message = f"minimum must be a SemVer version like '0.17.0', got {minimum!r}"
    with pytest.raises(ValidationError, match=f"^{re.escape(message)}$"):
        server("0.17.0").version_at_least(minimum)
    with pytest.raises(ValidationError, match="minimum must be a SemVer version"):
        ServerInfo.legacy().version_at_least(minimum)


@pytest.mark.parametrize("version", ["", "garbage", "0.17", "v0.17.0", "0.17.0 ", "01.17.0", "0.17.0+"])
def test_a_server_without_a_semver_version_is_never_at_least_anything(version: str) -> None:
    for minimum in ("0.0.0", "0.0.0-0", "0.17.0"):
        assert not server(version).version_at_least(minimum)


def test_a_legacy_server_is_never_at_least_anything() -> None:
    assert not ServerInfo.legacy().version_at_least("0.0.0-0")
    assert not ServerInfo.legacy().version_at_least("0.17.0")


# -- require_capabilities(min_version=) ------------------------------------------------


async def test_require_capabilities_checks_the_minimum_version(client: EventStoreClient) -> None:
    info = await client.require_capabilities(min_version="0.17.0")
    assert info.server_version.startswith(OUR_VERSION_PREFIX)
    assert await client.require_capabilities(sorted(KNOWN_CAPABILITIES), min_version="0.16.0") == info
    assert await client.require_capabilities() == info

    with pytest.raises(CompatibilityError) as caught:
        await client.require_capabilities(min_version="0.18.0")
    assert (
        str(caught.value) == f"server {info.server_version} (memory backend) is older than the required version 0.18.0"
    )
    assert caught.value.min_version == "0.18.0"
    assert caught.value.missing == frozenset()
    assert caught.value.server_version == info.server_version
    assert not caught.value.is_legacy


async def test_a_version_and_capabilities_that_both_fail_are_one_message(client: EventStoreClient) -> None:
    with pytest.raises(CompatibilityError) as caught:
        await client.require_capabilities([CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE, "time_travel"], min_version="1.0.0")
    message = str(caught.value)
    assert re.fullmatch(
        r"server 0\.17\.0\+eventstore-sdk\.\S+ \(memory backend\) is older than the required version 1\.0\.0 "
        r"and lacks the required capability time_travel \(it advertises: .*\)",
        message,
    ), message
    assert (caught.value.missing, caught.value.min_version) == (frozenset({"time_travel"}), "1.0.0")


async def test_a_pre_release_or_non_semver_server_fails_the_minimum(mock: MockEventStore) -> None:
    mock.expect_server_info(returns={"server_version": "0.17.0-rc.1"}, nth=1)
    mock.expect_server_info(returns={"server_version": "garbage"}, nth=2)
    mock.expect_server_info(legacy=True, nth=3)
    async with EventStoreClient(endpoint="mock", store=mock) as client:
        with pytest.raises(CompatibilityError, match=r"^server 0\.17\.0-rc\.1 \(memory backend\) is older than"):
            await client.require_capabilities(min_version="0.17.0")
        with pytest.raises(CompatibilityError, match=r"^server garbage \(memory backend\) has a version that is not"):
            await client.require_capabilities(min_version="0.17.0")
        with pytest.raises(CompatibilityError, match=r"^a legacy server .* has no version") as caught:
            await client.require_capabilities(min_version="0.17.0")
        assert caught.value.is_legacy and caught.value.min_version == "0.17.0"
    mock.verify()


@pytest.mark.parametrize("min_version", ["0.17", "v0.17.0", "", 17, "1.0.0-01"], ids=repr)
async def test_a_bad_min_version_is_refused_before_any_call(
    mock: MockEventStore, client: EventStoreClient, min_version: Any
) -> None:
    message = f"min_version must be a SemVer version like '0.17.0', got {min_version!r}"
    with pytest.raises(ValidationError, match=f"^{re.escape(message)}$"):
        await client.require_capabilities(min_version=min_version)
    with pytest.raises(ValidationError, match="min_version"):
        await client.require_capabilities([CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE], min_version=min_version)
    assert mock.calls == [], "nothing was sent"


# -- capabilities, versions and backends ------------------------------------------------


def test_the_fourth_capability() -> None:
    from eventstore import _native

    assert CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX == "literal_subscription_prefix"
    assert len(KNOWN_CAPABILITIES) == 4 and CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX in KNOWN_CAPABILITIES
    assert frozenset(_native.CAPABILITIES) == KNOWN_CAPABILITIES, "the proto crate's list"


async def test_the_mock_answers_as_the_reference_v0_17(client: EventStoreClient, mock: MockEventStore) -> None:
    info = await client.server_info()
    assert info.capabilities == KNOWN_CAPABILITIES
    assert info.supports(CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX)
    assert info.backend == "memory" and mock.backend == "memory"
    assert info.api_version == "eventstore.v1"
    assert info.server_version.startswith(OUR_VERSION_PREFIX), info.server_version
    assert info.version_at_least("0.17.0") and not info.version_at_least("0.17.1")


@pytest.fixture
def postgres_mock() -> Iterator[MockEventStore]:
    store = MockEventStore(backend="postgres")
    try:
        yield store
    finally:
        store.close()


async def test_a_mock_answers_with_the_backend_it_is_given(postgres_mock: MockEventStore) -> None:
    assert postgres_mock.backend == "postgres"
    assert "backend='postgres'" in repr(postgres_mock)
    async with EventStoreClient(endpoint="mock", store=postgres_mock) as client:
        assert (await client.server_info()).backend == "postgres"
        postgres_mock.backend = "unknown"
        assert postgres_mock.backend == "unknown"
        assert (await client.server_info()).backend == "unknown"
        postgres_mock.backend = "memory"
        assert (await client.server_info()).backend == "memory"
        # An expectation's reply still wins.
        postgres_mock.expect_server_info(returns={"backend": "postgres"}, up_to=1)
        assert (await client.server_info()).backend == "postgres"
    async with EventStoreClient(endpoint=postgres_mock.endpoint) as remote:
        assert (await remote.server_info()).backend == "memory"
    postgres_mock.verify()


@pytest.mark.parametrize("backend", ["mock", "durable", "Memory", "", None, 1], ids=repr)
def test_a_bad_backend_is_refused_listing_the_values(mock: MockEventStore, backend: Any) -> None:
    message = f"backend must be one of 'memory', 'postgres', 'unknown', got {backend!r}"
    with pytest.raises(ValidationError, match=f"^{re.escape(message)}$"):
        MockEventStore(backend=backend)
    with pytest.raises(ValidationError, match=f"^{re.escape(message)}$"):
        mock.backend = backend
    assert mock.backend == "memory"


@pytest.mark.event_store(backend="postgres")
async def test_the_event_store_marker_takes_the_backend(
    event_store_mock: MockEventStore, event_store_client: EventStoreClient
) -> None:
    assert event_store_mock.backend == "postgres"
    assert (await event_store_client.server_info()).backend == "postgres"


# -- bearer tokens -----------------------------------------------------------------------


@pytest.fixture
def token_mock() -> Iterator[MockEventStore]:
    """A mock that requires the bearer token ``TOKEN``."""
    store = MockEventStore(credentials={"token": TOKEN})
    try:
        yield store
    finally:
        store.close()


@pytest.mark.parametrize("transport", ["in-process", "network"])
async def test_a_token_mock_refuses_clients_without_the_token(token_mock: MockEventStore, transport: str) -> None:
    def client(**options: Any) -> EventStoreClient:
        if transport == "in-process":
            return EventStoreClient(endpoint="mock", store=token_mock, **options)
        return EventStoreClient(endpoint=token_mock.endpoint, **options)

    for options in ({}, {"token": "t0k.en-2"}, {"credentials": {"token": "T0K.EN-1"}}, {"credentials": ("u", "p")}):
        async with client(**options) as refused:
            with pytest.raises(AuthenticationError):
                await refused.server_info()
            with pytest.raises(AuthenticationError):
                await refused.read_stream("order-1")
    for options in ({"token": TOKEN}, {"credentials": {"token": TOKEN}}):
        async with client(**options) as accepted:
            assert (await accepted.server_info()).backend == "memory"
            assert (await accepted.read_stream("order-1")).events == []
    # The journal never shows the token.
    assert token_mock.calls
    assert all(TOKEN not in value for call in token_mock.calls for value in call.metadata.values())


async def test_a_token_is_sent_as_a_bearer_header() -> None:
    with MockEventStore(journal_credentials=True) as mock:
        for options in ({"token": TOKEN}, {"credentials": {"token": TOKEN}}):
            async with EventStoreClient(endpoint="mock", store=mock, **options) as client:
                await client.server_info()
        assert [c.metadata.get("authorization") for c in mock.calls] == [f"Bearer {TOKEN}"] * 2


async def test_a_mock_with_a_password_and_a_token_accepts_either() -> None:
    with MockEventStore(credentials={"username": "admin", "password": "s3cret", "token": TOKEN}) as mock:
        for options in (
            {"token": TOKEN},
            {"credentials": {"token": TOKEN}},
            {"credentials": ("admin", "s3cret")},
            {"credentials": {"username": "admin", "password": "s3cret"}},
        ):
            async with EventStoreClient(endpoint="mock", store=mock, **options) as accepted:
                await accepted.server_info()
        for options in ({}, {"token": "wrong"}, {"credentials": ("admin", "nope")}):
            async with EventStoreClient(endpoint="mock", store=mock, **options) as refused:
                with pytest.raises(AuthenticationError):
                    await refused.server_info()


SECRET = "pa55word"

BAD_TOKENS: list[tuple[object, str]] = [
    ("", r"must not be empty"),
    (5, r"must be a str, got int"),
    ("s3cr3t tok", r"is not a bearer token: it has whitespace at position 6"),
    ("s3cr3t\n", r"it has whitespace at position 6"),
    ("Bearer s3cr3t", r"without the 'Bearer ' prefix"),
    ("s3=cr3t", r"it has '=' before its end .* at position 2"),
    ("====", r"it is only '=' padding"),
    ("s3cr3tö", r"it has a non-ASCII character at position 6"),
    ("s3cr\x003t", r"it has a control character at position 4"),
    ("s3cr@3t", r"it has a character outside that set at position 4"),
]


@pytest.mark.parametrize(("token", "problem"), BAD_TOKENS, ids=repr)
def test_a_bad_token_is_refused_without_echoing_it(token: Any, problem: str) -> None:
    for make, name in (
        (lambda: EventStoreClient(token=token), "token"),
        (lambda: EventStoreClient(credentials={"token": token}), r"credentials\['token'\]"),
        (lambda: MockEventStore(credentials={"token": token}), r"credentials\['token'\]"),
    ):
        with pytest.raises(ValidationError, match=f"^{name} .*{problem}") as caught:
            make()
        assert "s3cr" not in str(caught.value), "the token is a secret"


@pytest.mark.parametrize(
    ("token",), [("abc",), ("a-b.c_d~e+f/g==",), ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_",), ("Zm9v=",)]
)
def test_good_tokens_are_taken(token: str) -> None:
    for client in (EventStoreClient(token=token), EventStoreClient(credentials={"token": token})):
        client._native.close()
    MockEventStore(credentials={"token": token}).close()


@pytest.mark.parametrize(
    "options",
    [
        {"credentials": {"username": "admin", "password": SECRET, "token": TOKEN}},
        {"credentials": ("admin", SECRET), "token": TOKEN},
        {"credentials": {"username": "admin", "password": SECRET}, "token": TOKEN},
        {"credentials": {"token": "0ther"}, "token": TOKEN},
    ],
    ids=["all-three-keys", "pair-and-token", "dict-and-token", "token-twice"],
)
def test_a_client_takes_credentials_or_a_token_not_both(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="not both") as caught:
        EventStoreClient(**options)
    for secret in (SECRET, TOKEN, "0ther"):
        assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ({"username": "admin", "password": SECRET, "tokn": TOKEN}, r"credentials: unknown key\(s\) 'tokn' \(known: "),
        ({"Token": TOKEN}, r"credentials: unknown key\(s\) 'Token'"),
        ({}, r"credentials needs 'username' and 'password' keys, or a 'token'"),
        ({"username": "admin"}, r"credentials needs a 'password' key \(with 'username'\)"),
        ({"password": SECRET}, r"credentials needs a 'username' key \(with 'password'\)"),
        ({"username": "admin", "token": TOKEN}, r"credentials needs a 'password' key"),
        ({"username": "admin", "password": None}, r"got NoneType for 'password'"),
        ({"token": None}, r"credentials\['token'\] must be a str, got NoneType"),
        ({"username": 7, "password": SECRET}, r"got int for 'username'"),
        (("admin", b"pa55word"), r"got bytes for 'password'"),
        ("admin:pa55word", r"credentials must be .*\{'token': \.\.\.\}"),
    ],
    ids=repr,
)
def test_bad_credentials_name_the_key_never_the_secret(credentials: Any, message: str) -> None:
    for make in (lambda: EventStoreClient(credentials=credentials), lambda: MockEventStore(credentials=credentials)):
        with pytest.raises(ValidationError, match=message) as caught:
            make()
        assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)


# -- the conflict detail: the reference's bare Any, and the standard envelope ----------


def _field(number: int, wire_type: int, body: bytes) -> bytes:
    """One protobuf field (numbers and lengths here fit in one varint byte)."""
    assert number < 16 and len(body) < 128
    key = bytes([number << 3 | wire_type])
    return key + (body if wire_type == 0 else bytes([len(body)]) + body)


def _conflict_detail_any(head: int, last_global: int) -> bytes:
    """A ``google.protobuf.Any`` of ``ConcurrencyErrorDetail``, encoded by hand
    (as another server would send it), not by our code."""
    detail = (
        _field(1, 2, b"default")
        + _field(2, 2, b"order-1")
        + _field(3, 0, bytes([head]))
        + _field(4, 0, bytes([last_global]))
    )
    return _field(1, 2, b"type.googleapis.com/eventstore.v1.ConcurrencyErrorDetail") + _field(2, 2, detail)


@pytest.mark.parametrize("form", ["bare Any (the reference's)", "google.rpc.Status envelope"])
async def test_the_conflict_detail_is_read_in_both_forms(form: str) -> None:
    bare = _conflict_detail_any(7, 42)
    details = (
        bare if form.startswith("bare") else _field(1, 0, bytes([10])) + _field(2, 2, b"conflict") + _field(3, 2, bare)
    )
    mock = MockEventStore()
    # A raw status reply with these details, through the JSON expectation
    # form (the Python keywords build conflicts in our own bytes).
    mock._native.mount(  # pyright: ignore[reportPrivateUsage]
        json.dumps(
            {
                "rpc": "append",
                "respond": {
                    "status": {
                        "code": "ABORTED",
                        "message": "conflict",
                        "details_base64": base64.b64encode(details).decode(),
                    }
                },
            }
        )
    )
    client = EventStoreClient(endpoint="mock", store=mock)
    with pytest.raises(ConcurrencyError) as caught:
        await client.append_events(aggregate_id="order-1", aggregate_type="Order", events=[NewEvent("T", {})])
    assert (caught.value.actual_last_aggregate_nonce, caught.value.actual_last_global_nonce) == (7, 42)
    await client.close()
    mock.close()
