"""The order events the property-testing tests draw (test_strategies.py,
test_property_testing.py): one definition, registered once."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eventstore import event


@event(type="test.props.OrderPlaced")
@dataclass
class OrderPlaced:
    order_id: str
    amount: Decimal


@event(type="test.props.OrderPaid")
@dataclass
class OrderPaid:
    order_id: str
