"""The user guide's quick start, plus a read-back: run it against a store.

python examples/quickstart.py            # the store at localhost:50051
EVENTSTORE_ENDPOINT=host:port python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass

from eventstore import EventStoreClient, event


@event(type="com.myco.order.OrderCreated", revision=1)
@dataclass
class OrderCreated:
    order_id: str
    amount: float
    currency: str = "USD"


@event(type="com.myco.order.OrderShipped", revision=1)
@dataclass
class OrderShipped:
    order_id: str
    tracking_number: str


async def main() -> None:
    endpoint = os.environ.get("EVENTSTORE_ENDPOINT", "localhost:50051")
    order_id = f"order-{uuid.uuid4().hex[:8]}"  # a new stream on every run
    async with EventStoreClient(endpoint=endpoint) as client:
        result = await client.append_events(
            tenant_id="tenant-123",
            aggregate_id=order_id,
            aggregate_type="Order",
            expected_aggregate_nonce=0,  # First event -> stream must not exist
            events=[
                OrderCreated(order_id=order_id, amount=99.99, currency="USD"),
                OrderShipped(order_id=order_id, tracking_number="TRK123456"),
            ],
        )
        print(f"appended to {order_id}: head {result.last_aggregate_nonce}, global {result.last_global_nonce}")

        page = await client.read_stream(tenant_id="tenant-123", aggregate_id=order_id, from_aggregate_nonce=1)
        for e in page.events:
            print(f"  #{e.aggregate_nonce} {e.event_type}: {e.payload}")

        subscription = await client.subscribe(tenant_id="tenant-123", aggregate_id_prefix=order_id)
        async with subscription:
            async for e in subscription:
                print(f"  subscription: global #{e.global_nonce} {e.event_type}")
                await subscription.ack(e.global_nonce)
                if e.aggregate_nonce == result.last_aggregate_nonce:
                    break


if __name__ == "__main__":
    asyncio.run(main())
