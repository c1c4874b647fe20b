"""Checkout and the life of an order line: acceptance by the provider, milestones, delivery,
acceptance (验收) or dispute by the enterprise, and automatic acceptance after silence.

Checkout builds the whole order in one transaction and re-checks everything there: it reserves
the enterprise's vouchers for the lines they pay towards (``vouchers.spending``), and domains
above this one (outcome contracts) act on a placed or moved line through ``on_placed`` and
``on_moved``. The enterprise's part is invoiced when it accepts the delivered line (验收), by
its word, by settling a dispute, or automatically after its silence; never when the provider
accepts the order, and never while the line is disputed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import selectinload

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.catalog.models import PackageVersion, PlanKind
from marketplace.db import LOCAL_ZONE, add_unique, atomic, db, local_today, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.forms import PHONE_MESSAGE, normalise_phone
from marketplace.money import format_fen, part_of
from marketplace.orders import bundles
from marketplace.orders import evidence as proofs
from marketplace.orders.models import (
    LINE_MACHINE,
    REASON_REQUIRED,
    RULINGS,
    Bundle,
    Dispute,
    DisputeStatus,
    LineEvent,
    LineStatus,
    LineStatusChange,
    Milestone,
    Order,
    OrderLine,
    whole_days,
)
from marketplace.payments import services as payments
from marketplace.payments.models import InvoiceKind
from marketplace.security import Actor
from marketplace.vouchers import risk, spending

MAX_MILESTONES = 20
DELIVERIES = (LineEvent.DELIVER, LineEvent.REDELIVER)  # the moves that may carry evidence

# Higher domains (outcome contracts) follow orders without orders knowing them: the app
# factory connects them here. Each runs inside the same transaction as the change.
PlacedHook = Callable[[Order, Actor], None]
MovedHook = Callable[[OrderLine, Actor], None]
_placed_hooks: list[PlacedHook] = []
_moved_hooks: list[MovedHook] = []


def on_placed(hook: PlacedHook) -> None:
    if hook not in _placed_hooks:
        _placed_hooks.append(hook)


def on_moved(hook: MovedHook) -> None:
    if hook not in _moved_hooks:
        _moved_hooks.append(hook)


def routed_lines() -> Select[int, int | None]:
    """The order lines an integrator's curated bundle routed, as (``order_line_id``,
    ``integrator_id``): for the vouchers' caps, below orders, which count routed money in a
    party's share (connected by the app factory: ``caps.routed_lines_from``)."""
    return select(
        OrderLine.id.label("order_line_id"), OrderLine.integrator_id.label("integrator_id")
    ).where(OrderLine.integrator_id.is_not(None))


@dataclass(frozen=True)
class SiteContact:
    """Whom the providers call and where they deliver: given at checkout, kept on the order."""

    name: str
    phone: str
    site: str


CONTACT_LIMITS = {"contact_name": 60, "site_address": 200}


def contact_defaults(enterprise: Organisation, user_id: int | None) -> SiteContact:
    """What the checkout form starts with: the enterprise profile's contact (or the person
    ordering), phone and registered address, where the profile holds them."""
    user = db.session.get(User, user_id) if user_id is not None else None
    return SiteContact(
        name=enterprise.contact_name or (user.name if user else ""),
        phone=enterprise.contact_phone or "",
        site=enterprise.address or "",
    )


def checked_contact(contact: SiteContact) -> SiteContact:
    """The contact as kept (spaces tidied, the phone normalised), or a refusal naming the
    field."""
    name = " ".join(contact.name.split())
    site = " ".join(contact.site.split())
    if not name:
        raise DomainError(_l("Name the contact person for the providers."), field="contact_name")
    if len(name) > CONTACT_LIMITS["contact_name"]:
        raise DomainError(_l("Keep the name to 60 characters."), field="contact_name")
    phone = normalise_phone(contact.phone)
    if phone is None:
        raise DomainError(PHONE_MESSAGE, field="contact_phone")
    if not site:
        raise DomainError(_l("Give the address of the delivery site."), field="site_address")
    if len(site) > CONTACT_LIMITS["site_address"]:
        raise DomainError(_l("Keep the address to 200 characters."), field="site_address")
    return SiteContact(name, phone, site)


def _contact_for(
    enterprise: Organisation, actor: Actor, contact: SiteContact | None
) -> SiteContact | None:
    """The contact given, checked; none given (a script posting only a key, the demo data):
    the profile's, when it holds a whole one, else none."""
    if contact is not None:
        return checked_contact(contact)
    try:
        return checked_contact(contact_defaults(enterprise, actor.user_id))
    except DomainError:
        return None


def checkout(
    enterprise: Organisation,
    bundle: Bundle,
    actor: Actor,
    key: str | None = None,
    use_vouchers: bool = True,
    subsidy_shown_fen: int | None = None,
    reviewed: str | None = None,
    contact: SiteContact | None = None,
) -> Order:
    """Turn a bundle into an order: one line per package version, prices copied now, and the
    enterprise's vouchers reserved for the lines they apply to.

    ``key`` makes it idempotent: the same key returns the order it already made (the review
    page sends ``checkout_key``, the same for every page showing the same content). When the
    page showed the enterprise a voucher subsidy (``subsidy_shown_fen``), the order is placed
    only if the vouchers still pay exactly that; when it showed a content (``reviewed``, the
    bundle's ``stamp``), only if the bundle still holds exactly that. All of it happens in one
    savepoint: any failure leaves no order and no reservation behind.

    ``contact`` is the enterprise's contact person and delivery site for the providers
    (checked: a bad phone or an empty site is refused); without one the profile's is kept."""
    if bundle.enterprise_id != enterprise.id:
        raise NotFound(_l("Not found."))
    if key:
        existing = placed_with(enterprise, key)
        if existing is not None:
            return existing
    kept = _contact_for(enterprise, actor, contact)
    return _place(enterprise, bundle, actor, key, use_vouchers, subsidy_shown_fen, reviewed, kept)


@atomic
def checkout_once(
    enterprise: Organisation,
    bundle: Bundle,
    actor: Actor,
    key: str | None,
    **options: Any,
) -> tuple[Order, bool]:
    """``checkout`` for a form that may come twice: ``(order, True)`` when it is placed now,
    ``(the order this key placed, False)`` when the same key came before (a reload, a second
    tab), or at the same moment and won the race to place it."""
    placed = placed_with(enterprise, key) if key else None
    if placed is not None:
        return placed, False
    try:
        return checkout(enterprise, bundle, actor, key, **options), True
    except DomainError:
        placed = placed_with(enterprise, key) if key else None
        if placed is None:
            raise
        return placed, False


def placed_with(enterprise: Organisation, key: str) -> Order | None:
    """The order this checkout key already placed (another enterprise's key is not found)."""
    existing = db.session.scalar(select(Order).where(Order.idempotency_key == key))
    if existing is not None and existing.enterprise_id != enterprise.id:
        raise NotFound(_l("Not found."))
    return existing


def why_not_orderable(bundle_lines: list[bundles.Line]) -> LazyString | None:
    """What stops the bundle from being ordered as it is, or None."""
    if not bundle_lines:
        return _l("The bundle is empty: add packages before ordering.")
    if any(line.version is None for line in bundle_lines):
        return _l(
            "Some packages are no longer offered (delisted, or their provider is suspended). Remove them first."
        )
    if any(not line.plan_current for line in bundle_lines):
        return _l("A provider published a new version: choose the plans again before ordering.")
    return None


@atomic
def _place(
    enterprise: Organisation,
    bundle: Bundle,
    actor: Actor,
    key: str | None,
    use_vouchers: bool,
    subsidy_shown_fen: int | None,
    reviewed: str | None,
    contact: SiteContact | None,
) -> Order:
    if reviewed is not None and reviewed != bundles.stamp(bundle):
        raise DomainError(
            _l(
                "The bundle changed after you reviewed it (in another window?). Check the"
                " review again before ordering."
            )
        )
    lines = bundles.lines(bundle, with_interfaces=False)  # re-read inside this transaction
    problem = why_not_orderable(lines)
    if problem is not None:
        raise DomainError(problem)
    order = Order(
        enterprise_id=enterprise.id,
        bundle_id=bundle.id,
        created_by_id=actor.user_id,
        number=f"pending-{secrets.token_hex(6)}",
        idempotency_key=key or None,
        contact_name=contact.name if contact else None,
        contact_phone=contact.phone if contact else None,
        site_address=contact.site if contact else None,
    )
    if not add_unique(order):  # the same key, submitted twice at once
        raise DomainError(_l("This order is already being placed. Reload the page."))
    order.number = f"ZX{local_today():%Y%m%d}-{order.id:06d}"
    placed: dict[int, OrderLine] = {}
    deal = bundles.integration(bundle)
    routed_by = deal.curated.integrator_id if deal is not None and deal.applies else None
    for position, line in enumerate(lines):
        assert line.version is not None
        plan = line.item.plan
        price = line.price  # the quoted share while an accepted quote applies, else the list
        order_line = OrderLine(
            order=order,
            package_id=line.item.package_id,
            version_id=line.version.id,
            plan_id=plan.id,
            provider_id=line.version.package.provider_id,
            integrator_id=routed_by
            if deal is not None and deal.routed(line.item.package_id)
            else None,
            category_code=line.version.category_code,
            title=line.version.title,
            plan_kind=plan.kind,
            plan_name=plan.name,
            amount_fen=price.amount_fen,
            monthly_fen=price.monthly_fen,
            term_months=plan.term_months,
            committed_fen=price.committed_fen,
            billed_monthly=plan.kind is PlanKind.SUBSCRIPTION and plan.billed_monthly,
            status=LineStatus.PLACED,
        )
        db.session.add(order_line)
        db.session.flush()
        placed[position] = order_line
        _history(order_line, None, "place", "", actor, OrgKind.ENTERPRISE.value)
        notifications.notify(
            order_line.provider_id,
            "order_placed",
            f"/orders/{order.number}",
            number=order.number,
            title=order_line.title,
        )
    if deal is not None and deal.applies:
        fee = deal.fee_fen
        integration_line = OrderLine(
            order=order,
            kind="integration",
            provider_id=deal.curated.integrator_id,
            integrator_id=deal.curated.integrator_id,
            title=deal.curated.name,
            plan_kind=PlanKind.ONE_TIME,
            plan_name=str(_l("Integration fee")),
            amount_fen=fee,
            committed_fen=fee,
            status=LineStatus.PLACED,
        )
        db.session.add(integration_line)
        db.session.flush()
        placed[len(lines)] = integration_line
        _history(integration_line, None, "place", "", actor, OrgKind.ENTERPRISE.value)
        notifications.notify(
            deal.curated.integrator_id,
            "order_placed",
            f"/orders/{order.number}",
            number=order.number,
            title=integration_line.title,
        )
    if use_vouchers:
        claims = bundles.voucher_claims(lines, deal)
        subsidies = spending.plan(enterprise.id, claims)
        now = sum(s.subsidy_fen for s in subsidies)
        if subsidy_shown_fen is not None and now != subsidy_shown_fen:
            raise DomainError(
                _l(
                    "Your vouchers' balance changed since the page was shown: they now pay"
                    " %(amount)s. Review the co-payment and order again.",
                    amount=format_fen(now),
                )
            )
        spending.reserve(
            subsidies,
            {k: ol.id for k, ol in placed.items()},
            enterprise.id,
            actor,
            order_number=order.number,
        )
    audit.record(actor, "order.placed", "order", order.id, number=order.number, lines=len(lines))
    db.session.flush()
    db.session.refresh(order, ["lines"])
    from marketplace.orders import trials  # trials bill through this module: imported late

    trials.convert_on_order(order, actor)
    for hook in _placed_hooks:
        hook(order, actor)
    return order


def place_trial_line(
    enterprise: Organisation, version: PackageVersion, price_fen: int, actor: Actor
) -> OrderLine:
    """A paid trial's order: one line of kind ``trial`` at the trial price, billed as a
    one-time line (invoiced when the enterprise accepts the trial's set-up, 验收, like any
    one-time line), with no voucher reservation: vouchers never pay for trials."""
    contact = _contact_for(enterprise, actor, None)
    order = Order(
        enterprise_id=enterprise.id,
        created_by_id=actor.user_id,
        number=f"pending-{secrets.token_hex(6)}",
        contact_name=contact.name if contact else None,
        contact_phone=contact.phone if contact else None,
        site_address=contact.site if contact else None,
    )
    db.session.add(order)
    db.session.flush()
    order.number = f"ZX{local_today():%Y%m%d}-{order.id:06d}"
    days = version.trial_days or 0
    line = OrderLine(
        order=order,
        kind="trial",
        package_id=version.package_id,
        version_id=version.id,
        provider_id=version.package.provider_id,
        category_code=version.category_code,
        title=version.title,
        plan_kind=PlanKind.ONE_TIME,
        plan_name=str(_l("Trial, %(n)d days", n=days))[:80],
        amount_fen=price_fen,
        committed_fen=price_fen,
        status=LineStatus.PLACED,
    )
    db.session.add(line)
    db.session.flush()
    _history(line, None, "place", "", actor, OrgKind.ENTERPRISE.value)
    notifications.notify(
        line.provider_id,
        "order_placed",
        f"/orders/{order.number}",
        number=order.number,
        title=line.title,
    )
    audit.record(actor, "order.placed", "order", order.id, number=order.number, lines=1)
    return line


def _history(
    line: OrderLine, before: LineStatus | None, event: str, reason: str, actor: Actor, kind: str
) -> None:
    db.session.add(
        LineStatusChange(
            line_id=line.id,
            from_status=before,
            to_status=line.status,
            event=event,
            reason=reason,
            actor_user_id=actor.user_id,
            actor_kind=kind,
        )
    )


def orders_of(enterprise: Organisation) -> list[Order]:
    stmt = (
        select(Order)
        .where(Order.enterprise_id == enterprise.id)
        .options(selectinload(Order.lines))
        .order_by(Order.id.desc())
    )
    return list(db.session.scalars(stmt))


def lines_for_provider(provider: Organisation, status: LineStatus | None = None) -> list[OrderLine]:
    stmt = select(OrderLine).where(OrderLine.provider_id == provider.id)
    if status is not None:
        stmt = stmt.where(OrderLine.status == status)
    stmt = stmt.options(selectinload(OrderLine.order).joinedload(Order.enterprise)).order_by(
        OrderLine.id.desc()
    )
    return list(db.session.scalars(stmt))


def providers_of(enterprise_id: int) -> set[int]:
    """The providers the enterprise ordered from (a line of theirs it did not reject: a data
    grant's reason to see its data)."""
    stmt = (
        select(OrderLine.provider_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.enterprise_id == enterprise_id, OrderLine.status != LineStatus.REJECTED)
        .distinct()
    )
    return set(db.session.scalars(stmt))


def count_lines(provider: Organisation, status: LineStatus) -> int:
    stmt = select(func.count(OrderLine.id)).where(
        OrderLine.provider_id == provider.id, OrderLine.status == status
    )
    return db.session.scalar(stmt) or 0


def lines_by_status() -> dict[LineStatus, int]:
    """Every order line on the platform, counted by state (the platform overview)."""
    rows = db.session.execute(
        select(OrderLine.status, func.count(OrderLine.id)).group_by(OrderLine.status)
    )
    counts = dict.fromkeys(LineStatus, 0)
    counts.update({LineStatus(status): n for status, n in rows})
    return counts


def order_count() -> int:
    return db.session.scalar(select(func.count(Order.id))) or 0


def order_for(org: Organisation, number: str) -> tuple[Order, list[OrderLine]]:
    """The order and the lines this organisation may see: all for its enterprise, its own for a
    provider. Anything else is not found."""
    order = db.session.scalar(
        select(Order)
        .where(Order.number == number)
        .options(
            selectinload(Order.lines).selectinload(OrderLine.milestones),
            selectinload(Order.lines).selectinload(OrderLine.history),
            selectinload(Order.lines).joinedload(OrderLine.provider),
            selectinload(Order.lines).joinedload(OrderLine.version),
        )
    )
    if order is None:
        raise NotFound(_l("Not found."))
    if org.kind is OrgKind.ENTERPRISE and order.enterprise_id == org.id:
        return order, list(order.lines)
    visible = [line for line in order.lines if line.provider_id == org.id]
    if org.kind is OrgKind.PROVIDER and visible:
        return order, visible
    raise NotFound(_l("Not found."))


def line_for(org: Organisation, line_id: int) -> OrderLine:
    line = db.session.get(OrderLine, line_id)
    if line is None:
        raise NotFound(_l("Not found."))
    mine = (org.kind is OrgKind.PROVIDER and line.provider_id == org.id) or (
        org.kind is OrgKind.ENTERPRISE and line.order.enterprise_id == org.id
    )
    if not mine:
        raise NotFound(_l("Not found."))
    return line


@atomic
def transition(
    line: OrderLine,
    event: LineEvent,
    reason: str,
    actor: Actor,
    actor_kind: str,
    *,
    reduced_fen: int | None = None,
    evidence: proofs.Evidence | None = None,
) -> OrderLine:
    """Move the line by ``event``. ``reduced_fen``: the amount a decider accepted the line at
    (``RULE_REDUCED`` only): the line's amount becomes it, the vouchers' share follows it
    (``spending.reduce_line``) and the co-payment is invoiced on it. ``evidence``: what the
    provider shows with its delivery (``DELIVER``, ``REDELIVER``), kept on the line."""
    reason = reason.strip()
    checked = None
    if evidence is not None and evidence.given:
        if event not in DELIVERIES:
            raise DomainError(_l("This action is not possible in the current state."))
        checked = proofs.check(line, evidence)
    if event in REASON_REQUIRED and not reason:
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    if event is LineEvent.DELIVER and any(m.done_at is None for m in line.milestones):
        raise DomainError(_l("Mark every milestone done before delivering."))
    if (event is LineEvent.RULE_REDUCED) != (reduced_fen is not None):
        raise DomainError(_l("This action is not possible in the current state."))
    before = line.status
    after = LINE_MACHINE.next_state(before, event, actor_kind)
    values: dict[str, object] = {"status": after}
    where = [OrderLine.id == line.id, OrderLine.status == before]
    if reduced_fen is not None:
        if line.billed_monthly:
            raise DomainError(
                _l("A subscription billed month by month cannot be accepted at a reduced amount.")
            )
        if not 0 < reduced_fen < line.committed_fen:
            raise DomainError(
                _l(
                    "The reduced amount must be more than zero and less than %(amount)s.",
                    amount=format_fen(line.committed_fen),
                ),
                field="amount",
            )
        values["committed_fen"] = reduced_fen
        if line.amount_fen == line.committed_fen:  # the price was the line's whole amount
            values["amount_fen"] = reduced_fen
        where.append(OrderLine.committed_fen == line.committed_fen)
    # The moment and the whole days since the order, which the statistics group by.
    now = utcnow()
    if after is LineStatus.DELIVERED:
        values["delivered_at"] = now
        values["days_to_go_live"] = whole_days(line.created_at, now)
        values["auto_accept_reminded_at"] = None
    if after is LineStatus.COMPLETED:
        values["accepted_at"] = now
        values["days_to_acceptance"] = whole_days(line.created_at, now)
    # Only from the state this request saw: two clicks at once cannot both move the line.
    moved = db.session.execute(
        update(OrderLine)
        .where(*where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This line changed meanwhile. Reload the page and try again."))
    db.session.refresh(
        line,
        [
            "status",
            "delivered_at",
            "days_to_go_live",
            "accepted_at",
            "days_to_acceptance",
            "auto_accept_reminded_at",
            "committed_fen",
            "amount_fen",
        ],
    )
    _history(line, before, event.value, reason, actor, actor_kind)
    _follow_dispute(line, event, reason, actor_kind)
    if event is LineEvent.START:
        spending.start_cooling_off(line.id, now)
    if event is LineEvent.WITHDRAW:
        # refused (and the move rolled back) unless the line still cools off; an invoice
        # from before the rule of invoicing at acceptance is voided and refunded, as on CANCEL
        spending.release_cooling_off(line.id, actor, now)
        payments.cancel_line(line.id, reason, actor)
    elif after in (LineStatus.REJECTED, LineStatus.CANCELLED):
        spending.release_line(line.id, actor, note=event.value)
        if before in (LineStatus.ACCEPTED, LineStatus.DISPUTED):
            # Nothing is invoiced before acceptance (验收) now; a line accepted by its provider
            # before that rule may still carry an invoice, which is voided and refunded.
            payments.cancel_line(line.id, reason, actor)
    elif after is LineStatus.COMPLETED:
        if reduced_fen is not None:
            spending.reduce_line(line.id, reduced_fen, actor)
        delivery = risk.Delivery(
            placed_at=line.created_at,
            delivered_at=line.delivered_at,
            go_live_days=line.version.go_live_days if line.version is not None else None,
        )
        spending.redeem_line(line.id, delivery, actor)
        _bill_co_payment(line, actor)
    for hook in _moved_hooks:
        hook(line, actor)
    _tell(line, event, reason, actor_kind)
    audit.record(
        actor,
        f"order_line.{event.value}",
        "order_line",
        line.id,
        reason=reason,
        status=line.status.value,
        **({"amount_fen": reduced_fen} if reduced_fen is not None else {}),
    )
    if checked is not None:
        proofs.store(line, checked, actor)
    return line


def _follow_dispute(line: OrderLine, event: LineEvent, reason: str, actor_kind: str) -> None:
    """A dispute opens its case; the parties' own ending (settled, delivered again) closes
    it, escalated or not, unless a decision took it first. A ruling's case is closed by the
    decider's service (``disputes.decide``), which claims it after this move."""
    if event is LineEvent.DISPUTE:
        db.session.add(
            Dispute(
                line_id=line.id,
                enterprise_id=line.order.enterprise_id,
                provider_id=line.provider_id,
                status=DisputeStatus.OPEN,
                reason=reason,
                line_amount_fen=line.committed_fen,
            )
        )
        db.session.flush()
    elif event in (LineEvent.SETTLE, LineEvent.REDELIVER):
        db.session.execute(
            update(Dispute)
            .where(
                Dispute.line_id == line.id,
                Dispute.status.in_((DisputeStatus.OPEN, DisputeStatus.ESCALATED)),
            )
            .values(status=DisputeStatus.ENDED, ended_at=utcnow())
            .execution_options(synchronize_session=False)
        )


# What the other party is told of each move: the kind and the parameters it needs beyond the
# order's number and the line's title; events not named here are told as ``line_changed``.
TOLD = {
    LineEvent.REJECT: "order_rejected",
    LineEvent.CANCEL: "order_cancelled",
    LineEvent.WITHDRAW: "order_cancelled",
    LineEvent.DELIVER: "order_delivered",
    LineEvent.REDELIVER: "order_delivered",
    LineEvent.DISPUTE: "order_disputed",
    LineEvent.ACCEPT_DELIVERY: "delivery_accepted",
    LineEvent.SETTLE: "dispute_settled",
    LineEvent.AUTO_ACCEPT: "order_auto_accepted",
    LineEvent.RULE_REDELIVER: "dispute_ruled_redeliver",
    LineEvent.RULE_REDUCED: "dispute_ruled_reduced",
    LineEvent.RULE_CANCEL: "dispute_ruled_cancel",
}


def auto_accept_days() -> int:
    return int(current_app.config.get("AUTO_ACCEPT_DAYS", 14))


def _tell(line: OrderLine, event: LineEvent, reason: str, actor_kind: str) -> None:
    """The other party hears of the move (both, when the system acted), with what to do and
    by when: a delivery is accepted or disputed before it is accepted automatically."""
    kind = TOLD.get(event, "line_changed")
    params: dict[str, object] = {"number": line.order.number, "title": line.title}
    if kind == "line_changed":
        params["status"] = line.status.value
    elif kind in ("order_rejected", "order_cancelled", "order_disputed"):
        params["reason"] = reason
    elif event in RULINGS:
        params["note"] = reason
        if event is LineEvent.RULE_REDUCED:
            params["amount"] = format_fen(line.committed_fen)
    elif kind == "order_delivered":
        assert line.delivered_at is not None
        silent_until = line.delivered_at + timedelta(days=auto_accept_days())
        params["by"] = silent_until.astimezone(LOCAL_ZONE).date().isoformat()
    parties = {"enterprise": [line.provider_id], "provider": [line.order.enterprise_id]}
    for org_id in parties.get(actor_kind, [line.provider_id, line.order.enterprise_id]):
        notifications.notify(org_id, kind, f"/orders/{line.order.number}", **params)


def _bill_co_payment(line: OrderLine, actor: Actor) -> None:
    """The enterprise accepted the delivery (验收): its part (what vouchers do not pay) is
    invoiced, for the whole line, or for its first month (go-live) when the plan bills month
    by month. Milestones carry no payment share, so the line is billed whole at its
    acceptance. What vouchers pay is read after the redemption just made: what they spent
    (and anything still set aside); money released because the programme's redeem-by date
    passed is not deducted. A line already invoiced (by the former rule, at the provider's
    acceptance) is not invoiced again."""
    paid = spending.line_funding(line.id).paid_fen
    if line.billed_monthly:
        if 1 not in payments.periods_billed(line.id):
            _bill_period(line, 1, paid, actor)
        return
    if payments.co_payment_billed(line.id):
        return
    payments.bill(
        InvoiceKind.CO_PAYMENT,
        line.id,
        line.provider_id,
        line.order.enterprise_id,
        line.committed_fen,
        min(paid, line.committed_fen),
        line.title,
        actor,
    )


def month_share(voucher_total: int, month: int, term: int, billed: int, monthly_fen: int) -> int:
    """What vouchers pay of month ``month`` of a subscription billed monthly: cumulative, so
    by the end of this month they have paid ⌊total × month / term⌋, less what earlier months
    already took (``billed``), and the shares add up to the total even if it shrinks; never
    more than the month costs."""
    return min(max(0, part_of(voucher_total, month, term) - billed), monthly_fen)


def _bill_period(line: OrderLine, month: int, voucher_total: int, actor: Actor) -> bool:
    """Month ``month`` of a subscription billed monthly; vouchers pay the same share of each
    month, the rounding remainder falling on the last one."""
    term = line.term_months or 1
    share = month_share(
        voucher_total, month, term, payments.voucher_part_billed(line.id), line.monthly_fen or 0
    )
    invoice = payments.bill(
        InvoiceKind.CO_PAYMENT,
        line.id,
        line.provider_id,
        line.order.enterprise_id,
        line.monthly_fen or 0,
        share,
        str(_l("%(title)s, month %(n)d of %(term)d", title=line.title, n=month, term=term)),
        actor,
        period=month,
    )
    return invoice is not None


def bill_due_periods(actor: Actor, today: date | None = None) -> int:
    """Bill every month of monthly subscriptions that has begun and is not billed yet: month
    1 at the enterprise's acceptance (验收, the go-live), month k (k − 1) × 30 days after it,
    counted in the pilots' days (as every business date is). Lines not accepted yet (or
    disputed) are not billed. Run daily; safe to run twice."""
    return sum(bill_line_months(line_id, actor, today) for line_id in monthly_lines())


def monthly_lines() -> list[int]:
    """Accepted lines of subscriptions billed month by month (the billing job's items)."""
    stmt = select(OrderLine.id).where(
        OrderLine.billed_monthly.is_(True),
        OrderLine.status == LineStatus.COMPLETED,
        OrderLine.accepted_at.is_not(None),
    )
    return list(db.session.scalars(stmt.order_by(OrderLine.id)))


def bill_line_months(line_id: int, actor: Actor, today: date | None = None) -> int:
    """Bill the begun, unbilled months of one line; how many were billed now. A month billed
    meanwhile by an overlapping run is refused by its UNIQUE key and skipped."""
    today = today or local_today()
    line = db.session.get(OrderLine, line_id)
    if line is None or line.accepted_at is None or line.status is not LineStatus.COMPLETED:
        return 0
    started = line.accepted_at.astimezone(LOCAL_ZONE).date()
    due = min((today - started).days // 30 + 1, line.term_months or 1)
    done = payments.periods_billed(line.id)
    billed = 0
    for month in range(1, due + 1):
        if month in done:
            continue
        try:  # each month in its own savepoint: one failure does not stop the others
            if _bill_period(line, month, spending.line_funding(line.id).paid_fen, actor):
                billed += 1
        except DomainError:
            break  # billed meanwhile by an overlapping run; the next run looks again
    return billed


def add_milestone(line: OrderLine, title: str, due_on: date, actor: Actor) -> Milestone:
    if line.status not in (LineStatus.ACCEPTED, LineStatus.IN_DELIVERY):
        raise DomainError(
            _l("Milestones are planned after accepting the order and before delivery.")
        )
    if not title.strip():
        raise DomainError(_l("Name the milestone."), field="title")
    ordered_on = line.created_at.astimezone(LOCAL_ZONE).date()
    if due_on < ordered_on or due_on > ordered_on + timedelta(days=3 * 365):
        raise DomainError(_l("Choose a due date within three years of the order."), field="due_on")
    if len(line.milestones) >= MAX_MILESTONES:
        raise DomainError(
            _l("A line has at most %(n)d milestones.", n=MAX_MILESTONES), field="title"
        )
    milestone = Milestone(title=title.strip(), due_on=due_on, position=len(line.milestones))
    line.milestones.append(milestone)
    db.session.flush()
    notifications.notify(
        line.order.enterprise_id,
        "milestone_planned",
        f"/orders/{line.order.number}",
        title=line.title,
        milestone=milestone.title,
        due=due_on.isoformat(),
    )
    audit.record(actor, "milestone.added", "order_line", line.id, milestone_id=milestone.id)
    return milestone


@atomic
def complete_milestone(
    line: OrderLine, milestone_id: int, actor: Actor, evidence: proofs.Evidence | None = None
) -> None:
    """Mark a milestone done, with the provider's evidence for it if given."""
    milestone = next((m for m in line.milestones if m.id == milestone_id), None)
    if milestone is None:
        raise NotFound(_l("Not found."))
    if line.status is not LineStatus.IN_DELIVERY:
        raise DomainError(_l("Milestones are done during delivery."))
    if evidence is not None and evidence.given:
        proofs.store(line, proofs.check(line, evidence), actor, milestone)
    if milestone.done_at is None:
        milestone.done_at = utcnow()
        notifications.notify(
            line.order.enterprise_id,
            "milestone_done",
            f"/orders/{line.order.number}",
            title=line.title,
            milestone=milestone.title,
        )
        audit.record(actor, "milestone.done", "order_line", line.id, milestone_id=milestone.id)


def due_for_auto_accept(older_than: timedelta) -> list[int]:
    """Delivered lines the enterprise left silent longer than ``older_than`` (their ids)."""
    stmt = select(OrderLine.id).where(
        OrderLine.status == LineStatus.DELIVERED,
        OrderLine.delivered_at <= utcnow() - older_than,
    )
    return list(db.session.scalars(stmt.order_by(OrderLine.id)))


def auto_accept_line(line_id: int, older_than: timedelta, actor: Actor) -> bool:
    """Accept one silent delivered line (a job's item). Whether it was accepted now: a line
    accepted, disputed or redelivered meanwhile is left alone, so running twice is harmless."""
    line = db.session.get(OrderLine, line_id)
    if (
        line is None
        or line.status is not LineStatus.DELIVERED
        or line.delivered_at is None
        or line.delivered_at > utcnow() - older_than
    ):
        return False
    transition(line, LineEvent.AUTO_ACCEPT, "", actor, "system")
    return True


def due_for_cooled_off_redemption() -> list[int]:
    """Lines accepted (验收) while cooling off whose period is over (their ids)."""
    return spending.lines_cooled_off(utcnow())


def redeem_cooled_off(line_id: int, actor: Actor) -> int:
    """Spend the voucher money of a line accepted during its cooling-off period, now that
    the period is over (a job's item). The fen redeemed now: a line cancelled meanwhile, or
    already redeemed by a first run, gives 0, so running twice is harmless."""
    line = db.session.get(OrderLine, line_id)
    if line is None or line.status is not LineStatus.COMPLETED:
        return 0
    delivery = risk.Delivery(
        placed_at=line.created_at,
        delivered_at=line.delivered_at,
        go_live_days=line.version.go_live_days if line.version is not None else None,
    )
    return spending.redeem_line(line.id, delivery, actor)


def auto_accept(older_than: timedelta, actor: Actor) -> list[OrderLine]:
    """Accept every silent delivered line, each in its own savepoint (one line that cannot
    be accepted does not stop the others)."""
    accepted = []
    for line_id in due_for_auto_accept(older_than):
        try:
            with db.session.begin_nested():
                done = auto_accept_line(line_id, older_than, actor)
        except DomainError:
            continue
        if done:
            accepted.append(db.session.get(OrderLine, line_id))
    return [line for line in accepted if line is not None]


def due_for_reminder(older_than: timedelta, window: timedelta) -> list[int]:
    """Delivered lines that will be accepted automatically within ``window`` and whose
    enterprise has not been reminded (their ids)."""
    now = utcnow()
    stmt = select(OrderLine.id).where(
        OrderLine.status == LineStatus.DELIVERED,
        OrderLine.delivered_at <= now - older_than + window,
        OrderLine.delivered_at > now - older_than,
        OrderLine.auto_accept_reminded_at.is_(None),
    )
    return list(db.session.scalars(stmt.order_by(OrderLine.id)))


def remind_line(line_id: int, older_than: timedelta) -> bool:
    """Tell the enterprise its delivered line will be accepted automatically on a given day
    (``older_than`` after delivery), once: the conditional update lets exactly one run send
    it."""
    moved = db.session.execute(
        update(OrderLine)
        .where(OrderLine.id == line_id, OrderLine.auto_accept_reminded_at.is_(None))
        .values(auto_accept_reminded_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    line = db.session.get(OrderLine, line_id, populate_existing=True)
    assert line is not None and line.delivered_at is not None
    notifications.notify(
        line.order.enterprise_id,
        "auto_accept_soon",
        f"/orders/{line.order.number}",
        number=line.order.number,
        title=line.title,
        by=(line.delivered_at + older_than).astimezone(LOCAL_ZONE).date().isoformat(),
    )
    return True
