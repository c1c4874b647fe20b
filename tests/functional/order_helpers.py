"""Moving an order line along its state machine in tests (inside ``services(app, dbs)``)."""

from __future__ import annotations

from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, OrderLine
from marketplace.security import Actor

SYSTEM = Actor(None, None, None)
DELIVERY = (
    (LineEvent.ACCEPT, "provider"),
    (LineEvent.START, "provider"),
    (LineEvent.DELIVER, "provider"),
)


def deliver(line: OrderLine, actor: Actor = SYSTEM) -> OrderLine:
    """The provider accepts the order, starts and delivers: waiting for acceptance (验收)."""
    for event, kind in DELIVERY:
        orders.transition(line, event, "", actor, kind)
    return line


def accept_delivery(line: OrderLine, actor: Actor = SYSTEM) -> OrderLine:
    """Delivered and accepted by the enterprise (验收): its co-payment is invoiced."""
    deliver(line, actor)
    return orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", actor, "enterprise")
