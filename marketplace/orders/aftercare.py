"""After acceptance: reviews by verified buyers (support tickets: ``tickets``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from marketplace.catalog import reviews
from marketplace.catalog.models import Review
from marketplace.errors import DomainError
from marketplace.notifications import notify
from marketplace.orders import tickets
from marketplace.orders.models import LineStatus, OrderLine
from marketplace.security import Actor

# Tickets live in marketplace/orders/tickets.py; these names stay importable from here.
open_ticket = tickets.open_ticket
ticket_for = tickets.ticket_for
close = tickets.close
due_breaches = tickets.due_breaches
record_breach = tickets.record_breach
record_breaches = tickets.record_breaches
open_ticket_count = tickets.open_ticket_count
tickets_of = tickets.tickets_of
tickets_on = tickets.tickets_on
tickets_waiting_for = tickets.tickets_waiting_for


# Reviews


def review(line: OrderLine, rating: int, comment: str, actor: Actor) -> Review:
    """The buyer reviews the package of a line it accepted (the catalogue keeps the review)."""
    if line.order.enterprise_id != actor.org_id:
        raise DomainError(_l("Only the buyer reviews a line."))
    if line.status is not LineStatus.COMPLETED:
        raise DomainError(_l("You can review after accepting the delivery."))
    if line.package_id is None:
        raise DomainError(_l("Reviews are for packages; rate the parts of the bundle."))
    if line.is_trial:  # verified reviews come from buyers, not from a trial's set-up
        raise DomainError(_l("Review the package once you have ordered it, not its trial."))
    r = reviews.add_review(
        line.package_id, line.id, line.order.enterprise_id, rating, comment, actor
    )
    notify(
        line.provider_id,
        "review_received",
        f"/packages/{line.package_id}",
        title=line.title,
        rating=rating,
    )
    return r
