"""Many calls in flight on one connection all succeed.

Regression: with HTTP/2 adaptive flow control the client started with a
64 KiB connection window, and h2 sent GOAWAY ENHANCE_YOUR_CALM once ~130
small responses were waiting to be read, failing every call in flight
(``RESOURCE_EXHAUSTED: h2 protocol error``) from about 150 concurrent calls.
"""

from __future__ import annotations

import asyncio

import pytest
from eventstore import EventStoreClient, NewEvent
from eventstore.testing import MockEventStore


@pytest.mark.parametrize("transport", ["network", "in-process"])
async def test_two_thousand_appends_in_flight_on_one_connection(transport: str) -> None:
    mock = MockEventStore()
    try:
        if transport == "network":
            client = EventStoreClient(mock.endpoint, max_connections=1)
        else:
            client = EventStoreClient("mock", store=mock)
        async with client:
            results = await asyncio.gather(
                *(
                    client.append_events(aggregate_id=f"burst-{i}", aggregate_type="Burst", events=[NewEvent("E")])
                    for i in range(2000)
                )
            )
        assert sorted(r.last_global_nonce for r in results) == list(range(1, 2001))
    finally:
        mock.close()
