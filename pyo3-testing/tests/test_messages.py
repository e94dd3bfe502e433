"""What the errors say, through the public API: one cause, said once, with
the endpoint concerned and what to do (a closed port, a host without a
port, TLS against plaintext and plaintext against TLS, a closed mock), a
readable decode error, and injected conflicts whose reported head differs
from the expected one."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import eventstore
import pytest
from conftest import free_port, unique, within
from eventstore import ConcurrencyError, EventStoreClient, NewEvent, event
from eventstore.testing import EventStoreContainer, MockEventStore


@event(type="tests.messages.Priced", revision=1)
@dataclass
class Priced:
    amount: Decimal


def said_once(text: str, phrase: str) -> None:
    assert text.lower().count(phrase.lower()) == 1, f"{phrase!r} is not said exactly once in: {text}"


def no_repeated_causes(text: str) -> None:
    """No ``a: b: a`` chains: each colon-separated part appears once."""
    parts = [p.strip().lower() for p in re.split(r"[:;]\s", text) if p.strip()]
    assert len(parts) == len(set(parts)), f"a cause is repeated in: {text}"
    assert "transport error" not in text.lower(), text


async def test_connection_refused_names_the_endpoint_once_and_what_to_do() -> None:
    port = free_port()
    async with EventStoreClient(endpoint=f"127.0.0.1:{port}", connection_timeout=5.0) as client:
        for call in (
            lambda: client.read_stream("order-1"),
            lambda: client.append_events(
                aggregate_id="order-1", aggregate_type="Order", events=[NewEvent("tests.X", {"n": 1})]
            ),
        ):
            with pytest.raises(eventstore.ConnectionError) as caught:
                await within(call())
            text = str(caught.value)
            said_once(text, f"127.0.0.1:{port}")
            said_once(text, "connection refused")
            assert "start the event store" in text and "host and port" in text, text
            no_repeated_causes(text)
            assert caught.value.code == "UNAVAILABLE"


def test_an_endpoint_without_a_port_says_so() -> None:
    for endpoint in ("localhost", "event-store.internal", "localhost:"):
        with pytest.raises(eventstore.ValidationError) as caught:
            EventStoreClient(endpoint=endpoint)
        text = str(caught.value)
        assert "has no port" in text and "50051" in text, text
        said_once(text, repr(endpoint).replace("'", '"'))
    # With a port, or a full URL, it is fine (nothing connects until a call).
    EventStoreClient(endpoint="localhost:50051")
    EventStoreClient(endpoint="https://event-store.internal")


async def test_tls_against_a_plaintext_store_says_so_once(real_server: str) -> None:
    async with EventStoreClient(endpoint=real_server, tls=True, connection_timeout=5.0) as client:
        with pytest.raises(eventstore.ConnectionError) as caught:
            await within(client.read_stream(unique("order")))
    text = str(caught.value)
    said_once(text, f"https://{real_server}")
    said_once(text, "plaintext")
    assert "connect without TLS" in text, text
    assert text.count("InvalidContentType") <= 1, text
    no_repeated_causes(text)


@dataclass
class ServerCert:
    cert: bytes
    key: bytes


@pytest.fixture(scope="module")
def server_cert(tmp_path_factory: pytest.TempPathFactory) -> ServerCert:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is missing")
    d: Path = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-days", "2", "-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "cert.pem"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"),
            *("-addext", "extendedKeyUsage=serverAuth"),
        ],
        cwd=d,
        check=True,
        capture_output=True,
        timeout=30,
    )
    return ServerCert((d / "cert.pem").read_bytes(), (d / "key.pem").read_bytes())


@pytest.fixture
def tls_store(server_cert: ServerCert) -> Iterator[EventStoreContainer]:
    store = EventStoreContainer(mode="in-process", tls={"certificate": server_cert.cert, "key": server_cert.key})
    with store:
        yield store


async def test_plaintext_against_a_tls_store_says_to_use_tls(tls_store: EventStoreContainer) -> None:
    endpoint = tls_store.get_endpoint()
    async with EventStoreClient(endpoint=endpoint, connection_timeout=5.0, request_timeout=10.0) as client:
        with pytest.raises(eventstore.ConnectionError) as caught:
            await within(client.read_stream(unique("order")))
    text = str(caught.value)
    said_once(text, f"http://{endpoint}")
    assert "connect with TLS" in text, text
    no_repeated_causes(text)
    # The control: with TLS the same store answers.
    async with tls_store.client(request_timeout=10.0) as client:
        assert (await within(client.read_stream(unique("order")))).events == []


async def test_a_closed_mock_says_so_once() -> None:
    # Repeated: the stopping mock ends the next call in one of several ways
    # (a draining server's UNAVAILABLE, a closed pipe, a refused reconnect),
    # and each must read the same. Once in a few runs, the first two leaked
    # through before the client learnt of the close from the mock itself.
    for _ in range(25):
        mock = MockEventStore()
        client = EventStoreClient(endpoint="mock", store=mock, request_timeout=10.0)
        await within(client.read_stream("order-1"))
        mock.close()
        with pytest.raises(eventstore.ConnectionError) as caught:
            await within(client.read_stream("order-1"))
        text = str(caught.value)
        said_once(text, "the mock has stopped")
        said_once(text, "MockEventStore")
        no_repeated_causes(text)


async def test_a_subscription_to_a_closed_mock_says_so_once_without_retrying() -> None:
    # A closed mock does not come back: the subscription ends at once with
    # the one cause, instead of reconnecting (with backoff) until it gives up.
    mock = MockEventStore()
    client = EventStoreClient(endpoint="mock", store=mock)
    await client.append_events(aggregate_id="order-1", aggregate_type="Order", events=[NewEvent("Placed", {})])
    async with await client.subscribe() as sub:
        first = await within(sub.__anext__())
        assert first.aggregate_id == "order-1"
        mock.close()
        with pytest.raises(eventstore.ConnectionError) as caught:
            await within(sub.__anext__(), 3.0)
    text = str(caught.value)
    said_once(text, "the mock has stopped")
    said_once(text, "MockEventStore")
    assert sub.reconnects == 0, text


async def test_a_decode_error_gives_a_readable_cause(mock: MockEventStore) -> None:
    mock.seed("order-1", [NewEvent("tests.messages.Priced", {"amount": "twelve"})])
    client = EventStoreClient(endpoint="mock", store=mock)
    with pytest.raises(eventstore.ValidationError) as caught:
        page = await within(client.read_stream("order-1"))
        [e.payload for e in page.events]
    text = str(caught.value)
    assert "amount" in text and "'twelve'" in text and "not a decimal number" in text, text
    assert "<class" not in text and "ConversionSyntax" not in text, text


@pytest.mark.parametrize(
    ("seeded", "expected", "actual"),
    [
        # The stream's real head, always (issue 25: a head "one past" the
        # expected one does not exist, so a client retrying with it never
        # converged); a retry with the reported head then goes through.
        (0, 0, 0),
        (3, 1, 3),
        (3, 3, 3),
    ],
)
async def test_an_injected_conflict_reports_the_real_head(
    mock: MockEventStore, seeded: int, expected: int, actual: int
) -> None:
    if seeded:
        mock.seed("order-1", [NewEvent("tests.X", {"n": i}) for i in range(seeded)])
    mock.expect_append(aggregate_id="order-1", fail_with=ConcurrencyError)
    client = EventStoreClient(endpoint="mock", store=mock)
    with pytest.raises(ConcurrencyError) as caught:
        await within(
            client.append_events(
                aggregate_id="order-1",
                aggregate_type="Order",
                expected_aggregate_nonce=expected,
                events=[NewEvent("tests.X", {"n": 9})],
            )
        )
    e = caught.value
    assert (e.expected, e.actual) == (expected, actual)
    assert e.actual_last_global_nonce >= actual
    assert f"aggregate nonce {actual}" in str(e), str(e)
    # An explicit head is kept as given.
    mock.reset()
    mock.expect_append(
        fail_with=ConcurrencyError("x", actual_last_aggregate_nonce=expected + 5, actual_last_global_nonce=50)
    )
    with pytest.raises(ConcurrencyError) as explicit:
        await within(
            client.append_events(
                aggregate_id="order-1",
                aggregate_type="Order",
                expected_aggregate_nonce=expected,
                events=[NewEvent("tests.X", {"n": 9})],
            )
        )
    assert (explicit.value.actual, explicit.value.actual_last_global_nonce) == (expected + 5, 50)


async def test_fail_twice_then_work_converges_in_three_calls_retrying_with_the_reported_head(
    mock: MockEventStore,
) -> None:
    """Issue 25 item 1: the injected conflicts report the real head, so a
    client that retries with it converges in three calls."""
    mock.seed("order-1", [NewEvent("tests.X", {"n": i}) for i in range(2)])
    mock.expect_append(aggregate_id="order-1", fail_with=ConcurrencyError, up_to=2)
    client = EventStoreClient(endpoint="mock", store=mock)
    expected, calls = 0, 0
    while True:
        calls += 1
        try:
            await within(
                client.append_events(
                    aggregate_id="order-1",
                    aggregate_type="Order",
                    expected_aggregate_nonce=expected,
                    events=[NewEvent("tests.X", {"n": 9})],
                )
            )
            break
        except ConcurrencyError as e:
            assert (e.actual, e.actual_last_global_nonce) == (2, 2)
            expected = e.actual
        assert calls < 3, "did not converge in three calls"
    assert calls == 3
    assert [e.aggregate_nonce for e in mock.read("order-1")] == [1, 2, 3]
