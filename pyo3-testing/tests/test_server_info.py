"""``server_info()`` and ``require_capabilities()``: the typed answer of
every store, a legacy server (``UNIMPLEMENTED``) read as legacy, other
failures raised, and the mock's ``expect_server_info`` / legacy mode.
"""

from __future__ import annotations

import dataclasses

import eventstore
import pytest
from conftest import Target
from eventstore import (
    CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE,
    CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX,
    CAPABILITY_SUBSCRIPTION_ERRORS_SURFACED,
    CAPABILITY_UNDECODABLE_EVENTS_SURFACED,
    KNOWN_CAPABILITIES,
    CompatibilityError,
    EventStoreClient,
    ServerInfo,
)
from eventstore.testing import MockEventStore


def test_capability_names_are_the_contracts() -> None:
    from eventstore import _native

    assert CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE == "commit_ordered_global_nonce"
    assert CAPABILITY_SUBSCRIPTION_ERRORS_SURFACED == "subscription_errors_surfaced"
    assert CAPABILITY_UNDECODABLE_EVENTS_SURFACED == "undecodable_events_surfaced"
    assert CAPABILITY_LITERAL_SUBSCRIPTION_PREFIX == "literal_subscription_prefix"
    assert len(KNOWN_CAPABILITIES) == 4, "the reference's four (v0.17)"
    assert frozenset(_native.CAPABILITIES) == KNOWN_CAPABILITIES, "the proto crate's list"
    assert issubclass(CompatibilityError, eventstore.EventStoreError)


async def test_every_store_answers_with_its_backend_and_all_capabilities(target: Target) -> None:
    client = target.client()
    info = await client.server_info()
    assert isinstance(info, ServerInfo)
    assert info.api_version == "eventstore.v1"
    assert info.backend == "memory", "the in-memory server and the mock alike"
    assert info.server_version.startswith("0.17.0+eventstore-sdk."), "the reference API level, SemVer"
    assert info.version_at_least("0.17.0") and not info.version_at_least("0.17.1")
    assert info.capabilities >= KNOWN_CAPABILITIES
    assert isinstance(info.capabilities, frozenset)
    assert not info.is_legacy and info.supports(CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.backend = "x"  # type: ignore[misc]

    assert await client.require_capabilities(sorted(KNOWN_CAPABILITIES)) == info
    assert await client.require_capabilities(sorted(KNOWN_CAPABILITIES), min_version="0.17.0") == info
    assert await client.require_capabilities([]) == info
    with pytest.raises(CompatibilityError) as caught:
        await client.require_capabilities([CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE, "time_travel"])
    assert caught.value.missing == frozenset({"time_travel"})
    assert "time_travel" in str(caught.value) and "commit_ordered" not in str(caught.value).split("advertises")[0]
    assert not caught.value.is_legacy


async def test_a_legacy_server_reads_as_legacy() -> None:
    with MockEventStore(legacy=True) as mock:
        async with EventStoreClient(endpoint=mock.endpoint) as client:
            info = await client.server_info()
            assert info == ServerInfo.legacy()
            assert (info.is_legacy, info.server_version, info.capabilities) == (True, "", frozenset())
            with pytest.raises(CompatibilityError) as caught:
                await client.require_capabilities([CAPABILITY_UNDECODABLE_EVENTS_SURFACED])
            assert caught.value.is_legacy and caught.value.missing == {CAPABILITY_UNDECODABLE_EVENTS_SURFACED}
            assert "legacy server" in str(caught.value)
            assert "undecodable_events_surfaced" in str(caught.value)

            mock.legacy = False
            assert not (await client.server_info()).is_legacy
            mock.legacy = True
            assert (await client.server_info()).is_legacy
        assert [c.status for c in mock.server_info_calls] == ["UNIMPLEMENTED", "UNIMPLEMENTED", "OK", "UNIMPLEMENTED"]


async def test_expect_server_info_stubs_legacy_and_failures(mock: MockEventStore) -> None:
    mock.expect_server_info(returns={"backend": "postgres", "capabilities": []}, nth=1)
    mock.expect_server_info(legacy=True, nth=2)
    mock.expect_server_info(fail_with=("PERMISSION_DENIED", "not for you"), nth=3)
    mock.expect_server_info(returns=ServerInfo("9.9.9", "eventstore.v1", "unknown", frozenset({"x"})), nth=4)
    async with EventStoreClient(endpoint="mock", store=mock) as client:
        first = await client.server_info()
        assert (first.backend, first.capabilities, first.api_version) == ("postgres", frozenset(), "eventstore.v1")
        assert (await client.server_info()).is_legacy
        with pytest.raises(eventstore.AuthorizationError, match="not for you"):
            await client.server_info()
        assert await client.server_info() == ServerInfo("9.9.9", "eventstore.v1", "unknown", frozenset({"x"}))
    mock.verify()
    assert [c.rpc for c in mock.calls] == ["get_server_info"] * 4
    assert mock.server_info_calls[0].response == {
        "server_version": mock.server_info_calls[0].response["server_version"],  # type: ignore[index]
        "api_version": "eventstore.v1",
        "backend": "postgres",
        "capabilities": [],
    }


def test_expect_server_info_bad_inputs_name_the_field(mock: MockEventStore) -> None:
    with pytest.raises(eventstore.ValidationError, match=r"unknown field\(s\) \['colour'\]"):
        mock.expect_server_info(returns={"colour": "blue"})
    with pytest.raises(eventstore.ValidationError, match="capabilities must be a collection of str"):
        mock.expect_server_info(returns={"capabilities": "commit_ordered_global_nonce"})
    with pytest.raises(eventstore.ValidationError, match="legacy=True"):
        mock.expect_server_info(returns=ServerInfo.legacy())


async def test_require_capabilities_rejects_a_bare_string(mock: MockEventStore) -> None:
    async with EventStoreClient(endpoint="mock", store=mock) as client:
        with pytest.raises(eventstore.ValidationError, match="list of capability names"):
            await client.require_capabilities(CAPABILITY_COMMIT_ORDERED_GLOBAL_NONCE)
        with pytest.raises(eventstore.ValidationError, match=r"capabilities\[1\]"):
            await client.require_capabilities(["a", 3])  # type: ignore[list-item]
    assert mock.calls == []
