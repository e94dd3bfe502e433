"""``read_all`` (the tenant's global log in pages) and the paging rules it
shares with ``read_stream``: exact ``is_end``, backward from the head when no
start is given, backward from 0 an empty final page, an empty forward page
keeping its cursor. Against every ``target`` (conftest), plus the mock's
``expect_read_all`` and its journal.
"""

from __future__ import annotations

from dataclasses import dataclass

import eventstore
import pytest
from conftest import Target, expect_unregistered, unique
from eventstore import HEAD, AllPage, EventStoreClient, NewEvent, event
from eventstore.testing import MockEventStore


@event(type="tests.read_all.Step", revision=1)
@dataclass
class Step:
    n: int


def steps(n: int, start: int = 0) -> list[Step]:
    return [Step(i) for i in range(start, start + n)]


async def two_streams(client: EventStoreClient, each: int = 3) -> list[int]:
    """Appends ``each`` events to two streams, interleaved; the global nonces in order."""
    a, b = unique("a"), unique("b")
    nonces: list[int] = []
    for i in range(each):
        for aggregate in (a, b):
            result = await client.append_events(
                aggregate_id=aggregate, aggregate_type="Pair", expected_aggregate_nonce=i, events=[Step(i)]
            )
            nonces.append(result.last_global_nonce)
    return nonces


async def test_read_all_pages_forward_and_backward_with_exact_is_end(target: Target) -> None:
    client = target.client()
    nonces = await two_streams(client)  # 6 events over two aggregates

    page = await client.read_all(max_count=4)
    assert isinstance(page, AllPage)
    assert [e.global_nonce for e in page.events] == nonces[:4]
    assert (page.is_end, page.next_from_global_nonce) == (False, nonces[3] + 1)
    page = await client.read_all(from_global_nonce=page.next_from_global_nonce, max_count=2)
    assert [e.global_nonce for e in page] == nonces[4:]
    assert page.is_end, "is_end is exact: true on the page holding the last event"
    assert page.next_from_global_nonce == nonces[-1] + 1

    back = await client.read_all(forward=False, max_count=4)
    assert [e.global_nonce for e in back.events] == nonces[::-1][:4], "no start position: backward from the head"
    assert (back.is_end, back.next_from_global_nonce) == (False, nonces[2] - 1)
    back = await client.read_all(forward=False, from_global_nonce=back.next_from_global_nonce, max_count=4)
    assert [e.global_nonce for e in back.events] == [nonces[1], nonces[0]] and back.is_end

    assert [e.global_nonce for e in (await client.read_all(forward=False, from_global_nonce=HEAD)).events] == (
        nonces[::-1]
    )
    empty = await client.read_all(forward=False, from_global_nonce=0)
    assert (empty.events, empty.is_end, empty.next_from_global_nonce) == ([], True, 0), "backward from 0: empty"


async def test_read_all_iterators_visit_every_event_once(target: Target) -> None:
    client = target.client()
    nonces = await two_streams(client, each=5)

    pages = [p async for p in client.read_all_pages(page_size=3)]
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [e.global_nonce for p in pages for e in p.events] == nonces
    assert pages[-1].is_end and not any(p.is_end for p in pages[:-1])
    events = [e async for e in client.read_all_events(page_size=4)]
    assert [e.payload for e in events] == [Step(i) for i in range(5) for _ in range(2)]
    backward = [e.global_nonce async for e in client.read_all_events(forward=False, page_size=4)]
    assert backward == nonces[::-1]
    tail = [e.global_nonce async for e in client.read_all_events(from_global_nonce=nonces[7], page_size=2)]
    assert tail == nonces[7:]


async def test_read_all_sees_only_its_tenant(target: Target) -> None:
    mine = target.client()
    other = target.client(tenant_id=unique("other-tenant"))
    await other.append_events(aggregate_id="x", aggregate_type="X", events=steps(2))
    result = await mine.append_events(aggregate_id="x", aggregate_type="X", events=steps(1))
    await other.append_events(aggregate_id="y", aggregate_type="X", events=steps(2))

    page = await mine.read_all()
    assert [e.global_nonce for e in page.events] == [result.last_global_nonce]
    assert {e.tenant_id for e in page.events} == {target.tenant}
    assert len((await other.read_all()).events) == 4


async def test_read_all_tail_polling_sees_each_new_event_once(target: Target) -> None:
    client = target.client()
    first = await client.append_events(aggregate_id=unique("poll"), aggregate_type="P", events=steps(1))
    page = await client.read_all()
    cursor = page.next_from_global_nonce
    assert cursor == first.last_global_nonce + 1
    idle = await client.read_all(from_global_nonce=cursor)
    assert (idle.events, idle.is_end, idle.next_from_global_nonce) == ([], True, cursor), "an empty page keeps it"
    second = await client.append_events(aggregate_id=unique("poll"), aggregate_type="P", events=steps(1))
    page = await client.read_all(from_global_nonce=cursor)
    assert [e.global_nonce for e in page.events] == [second.last_global_nonce]
    assert (await client.read_all(from_global_nonce=page.next_from_global_nonce)).events == []


async def test_read_all_default_page_is_100_and_large_counts_are_capped(target: Target) -> None:
    client = target.client()
    # A 1,001-event batch of small events is within the default limits.
    await client.append_events(aggregate_id=unique("big"), aggregate_type="B", events=steps(1001))
    assert len((await client.read_all()).events) == 100, "max_count 0: the store's default page (100)"
    capped = await client.read_all(max_count=5000)
    assert len(capped.events) == 1000 and not capped.is_end, "larger than 1,000: capped to 1,000"
    assert len((await client.read_all(max_count=2**40)).events) == 1000, "beyond uint32: no smaller limit"


async def test_read_stream_backward_without_a_start_reads_from_the_head(target: Target) -> None:
    client = target.client()
    aggregate = unique("order")
    await client.append_events(aggregate_id=aggregate, aggregate_type="Order", events=steps(5))
    page = await client.read_stream(aggregate, forward=False, max_count=2)
    assert [e.aggregate_nonce for e in page.events] == [5, 4]
    assert (page.is_end, page.next_from_aggregate_nonce) == (False, 3)
    page = await client.read_stream(aggregate, forward=False)
    assert [e.aggregate_nonce for e in page.events] == [5, 4, 3, 2, 1], "max_count 0: no count limit"
    page = await client.read_stream(aggregate, forward=False, from_aggregate_nonce=0)
    assert (page.events, page.is_end, page.next_from_aggregate_nonce) == ([], True, 0)
    events = [e.aggregate_nonce async for e in client.read_stream_events(aggregate, forward=False, page_size=2)]
    assert events == [5, 4, 3, 2, 1]


async def test_read_stream_max_count_zero_and_large_are_not_capped(target: Target) -> None:
    client = target.client()
    aggregate = unique("long")
    await client.append_events(aggregate_id=aggregate, aggregate_type="L", events=steps(1001))
    page = await client.read_stream(aggregate)
    assert len(page.events) == 1001 and page.is_end, "max_count 0 reads to the end"
    page = await client.read_stream(aggregate, max_count=1001)
    assert len(page.events) == 1001 and page.is_end


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"from_global_nonce": -1}, r"from_global_nonce must be an integer .*got -1"),
        ({"from_global_nonce": "1"}, r"from_global_nonce .*got '1'"),
        ({"max_count": -5}, r"max_count must be an integer .*got -5"),
        ({"max_count": True}, r"max_count .*got True"),
    ],
)
async def test_read_all_bad_arguments_name_the_field(
    mock: MockEventStore, options: dict[str, object], message: str
) -> None:
    async with EventStoreClient(endpoint="mock", store=mock) as client:
        with pytest.raises(eventstore.ValidationError, match=message):
            await client.read_all(**options)  # type: ignore[arg-type]
    assert mock.calls == []


# -- the mock ----------------------------------------------------------------


async def test_expect_read_all_matches_stubs_and_journals(mock: MockEventStore) -> None:
    stubbed = mock.expect_read_all(from_global_nonce=7, returns=[Step(1), NewEvent("tests.read_all.Raw", {"x": 1})])
    passed = mock.expect_read_all(from_global_nonce=0, max_count=10, forward=True)
    async with EventStoreClient(endpoint="mock", store=mock) as client:
        await client.append_events(aggregate_id="s", aggregate_type="S", events=steps(2))
        page = await client.read_all(from_global_nonce=7)
        with expect_unregistered("tests.read_all.Raw"):
            assert [e.payload for e in page.events] == [Step(1), {"x": 1}]
        assert (page.is_end, page.next_from_global_nonce) == (True, 3)
        real = await client.read_all(max_count=10)
        assert [e.payload for e in real.events] == [Step(0), Step(1)]
    mock.verify()
    assert stubbed.call_count == 1 and passed.call_count == 1
    assert [c.request["from_global_nonce"] for c in mock.read_alls] == [7, 0]
    assert mock.read_alls[1].response is not None and mock.read_alls[1].response["is_end"] is True
    assert [c.rpc for c in mock.calls] == ["append", "read_all", "read_all"]


async def test_expect_read_all_faults_and_verify_report(mock: MockEventStore) -> None:
    mock.expect_read_all(fail_with=eventstore.UndecodableEventError)
    missing = mock.expect_read_all(from_global_nonce=99, name="never read")
    async with EventStoreClient(endpoint="mock", store=mock) as client:
        with pytest.raises(eventstore.UndecodableEventError) as caught:
            await client.read_all()
    assert caught.value.code == "DATA_LOSS"
    assert caught.value.global_nonce is None, "no trailer from a plain status"
    with pytest.raises(AssertionError, match="never read"):
        mock.verify()
    assert missing.call_count == 0
    with pytest.raises(
        eventstore.ValidationError, match=r"expect_read_all: unknown request field\(s\) \['aggregate_id'\]"
    ):
        mock.expect_read_all({"aggregate_id": "a"})


@pytest.mark.parametrize("transport", ["in-process", "network"])
async def test_data_loss_on_reads_raises_undecodable_with_its_position(mock: MockEventStore, transport: str) -> None:
    client = (
        EventStoreClient(endpoint="mock", store=mock) if transport == "in-process" else EventStoreClient(mock.endpoint)
    )
    async with client:
        result = await client.append_events(aggregate_id="s", aggregate_type="S", events=steps(5))
        damaged = result.last_global_nonce - 2  # the third event
        mock.expect_read_all(data_loss_at=damaged, at_least=0)
        mock.expect_read_stream(data_loss_at=damaged, at_least=0)
        before = await client.read_all(max_count=2)
        assert len(before.events) == 2, "a page before the damaged event reads"
        with pytest.raises(eventstore.UndecodableEventError) as caught:
            await client.read_all()
        assert (caught.value.global_nonce, caught.value.code) == (damaged, "DATA_LOSS")
        with pytest.raises(eventstore.UndecodableEventError) as caught:
            await client.read_stream("s", from_aggregate_nonce=3)
        assert caught.value.global_nonce == damaged
        with pytest.raises(eventstore.UndecodableEventError):
            _ = [e async for e in client.read_all_events(page_size=1)]
    assert [c.status for c in mock.read_alls] == ["OK", "DATA_LOSS", "OK", "OK", "DATA_LOSS"]
