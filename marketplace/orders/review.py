"""Before ordering: the review of a bundle (each line, what vouchers pay of it, what the
enterprise pays and when, the terms and interoperability gaps), and the idempotency key that
lets one reviewed content be ordered once however often the form is sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from flask import current_app
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.accounts.models import Organisation
from marketplace.catalog.models import PlanKind, PricePlan
from marketplace.db import db
from marketplace.orders import bundles
from marketplace.orders.models import (
    Bundle,
    Order,
)
from marketplace.orders.quote_prices import Price
from marketplace.orders.services import month_share, why_not_orderable
from marketplace.vouchers import spending


@dataclass(frozen=True)
class Months:
    """A run of months of a subscription billed monthly that cost the enterprise the same."""

    first: int
    last: int
    copay_fen: int


def monthly_copays(monthly_fen: int, term: int, voucher_fen: int) -> list[Months]:
    """What each month of a subscription billed monthly will cost the enterprise, month by
    month as ``services._bill_period`` bills it: vouchers pay the same share of each month, the rounding
    remainder falling late, and a month they pay whole is not invoiced (so its share is not
    counted as billed)."""
    runs: list[Months] = []
    billed = 0
    for month in range(1, term + 1):
        share = month_share(voucher_fen, month, term, billed, monthly_fen)
        copay = monthly_fen - share
        if copay > 0:
            billed += share
        if runs and runs[-1].copay_fen == copay:
            runs[-1] = Months(runs[-1].first, month, copay)
        else:
            runs.append(Months(month, month, copay))
    return runs


@dataclass
class Due:
    """One line of a bundle as ordering it now would place it, and what the enterprise would
    pay for it and when: exactly what ``services._bill_co_payment`` bills once the enterprise
    accepts the delivered line (验收): the whole co-payment, or the first month of a
    subscription billed monthly, the others every 30 days after by ``bill_due_periods``."""

    key: int  # the line's voucher claim: 0…n-1 the packages in order, n the integration fee
    title: str
    provider: Organisation
    plan: PricePlan | None  # None: the integration fee of a curated bundle ordered whole
    price_fen: int  # what the line commits to (a subscription's whole term)
    price: Price | None  # the line's price (quoted or list); None for the integration fee
    subsidy: spending.LineSubsidy | None  # what vouchers pay of it, and from which programme
    copay_fen: int  # the price less the vouchers' part
    months: list[Months] = field(default_factory=list)  # a subscription billed monthly


def _due(
    key: int,
    title: str,
    provider: Organisation,
    plan: PricePlan | None,
    price: Price | None,
    fee_fen: int,
    subsidy: spending.LineSubsidy | None,
) -> Due:
    paid = subsidy.subsidy_fen if subsidy is not None else 0
    price_fen = price.committed_fen if price is not None else fee_fen
    months = []
    if plan is not None and plan.kind is PlanKind.SUBSCRIPTION and plan.billed_monthly:
        monthly = price.monthly_fen if price is not None else plan.monthly_fen
        months = monthly_copays(monthly or 0, plan.term_months or 1, paid)
    return Due(
        key,
        title,
        provider,
        plan,
        price_fen,
        price,
        subsidy if paid else None,
        price_fen - paid,
        months,
    )


@dataclass(frozen=True)
class Placed:
    """The orders placed from one bundle so far."""

    latest: Order | None = None
    count: int = 0
    unchanged: bool = False  # the bundle still holds what its latest order bought


def placed_from(bundle: Bundle) -> Placed:
    count = db.session.scalar(select(func.count(Order.id)).where(Order.bundle_id == bundle.id))
    if not count:
        return Placed()
    latest = db.session.scalar(
        select(Order)
        .where(Order.bundle_id == bundle.id)
        .order_by(Order.id.desc())
        .limit(1)
        .options(selectinload(Order.lines))
    )
    assert latest is not None
    bought = [(line.package_id, line.plan_id) for line in latest.lines if not line.is_integration]
    return Placed(latest, count, bought == list(bundles.content(bundle)))


def latest_orders(bundle_ids: list[int]) -> dict[int, Order]:
    """The latest order placed from each of these bundles (bundles never ordered are absent)."""
    if not bundle_ids:
        return {}
    newest = (
        select(func.max(Order.id)).where(Order.bundle_id.in_(bundle_ids)).group_by(Order.bundle_id)
    )
    found = db.session.scalars(select(Order).where(Order.id.in_(newest)))
    return {order.bundle_id: order for order in found if order.bundle_id is not None}


def checkout_key(bundle: Bundle, placed: Placed) -> str:
    """The idempotency key of ordering the bundle as it is now. Every page that shows the same
    content carries the same key (two tabs, a reload, a double click), so it places one order
    however often it is sent; once an order is placed from the bundle the count moves on, so
    ordering it again is a new checkout with a new key, made only on purpose. Signed with the
    app's secret, so no one can take an enterprise's key before it does."""
    secret = current_app.config["SECRET_KEY"]
    secret_bytes = secret if isinstance(secret, bytes) else str(secret).encode()
    text = f"checkout|{bundle.enterprise_id}|{bundle.id}|{placed.count}|{bundles.stamp(bundle)}"
    digest = hmac.new(secret_bytes, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:40]


@dataclass
class Review:
    """Everything the enterprise checks before ordering a bundle, and the form's values."""

    lines: list[bundles.Line]
    dues: list[Due]
    totals: bundles.Totals
    interop: bundles.Interoperability
    use_vouchers: bool
    subsidy_fen: int  # what vouchers pay of this order as shown (nothing without vouchers)
    vouchers_could_pay_fen: int  # what they would pay if used
    problem: LazyString | None  # why it cannot be ordered as it is
    placed: Placed
    key: str
    stamp: str

    @property
    def copay_fen(self) -> int:
        return self.totals.committed_fen - self.subsidy_fen

    @property
    def success_fees(self) -> bool:
        return any(d.plan is not None and d.plan.kind is PlanKind.OUTCOME for d in self.dues)


def review(bundle: Bundle, use_vouchers: bool = True) -> Review:
    """The bundle as ordering it now would place it, split between vouchers and the
    enterprise (``spending.plan``, as checkout reserves it), with what is paid when."""
    bundle_lines = bundles.lines(bundle)
    deal = bundles.integration(bundle)
    claims = bundles.voucher_claims(bundle_lines, deal)
    planned = {s.claim.key: s for s in spending.plan(bundle.enterprise_id, claims)}
    shown = planned if use_vouchers else {}
    dues = []
    for key, line in enumerate(bundle_lines):
        if line.version is None or not line.plan_current:
            continue
        plan = line.item.plan
        dues.append(
            _due(
                key,
                line.version.title,
                line.version.package.provider,
                plan,
                line.price,
                0,
                shown.get(key),
            )
        )
    if deal is not None and deal.applies:
        key = len(bundle_lines)
        fee = deal.fee_fen
        dues.append(
            _due(key, deal.curated.name, deal.curated.integrator, None, None, fee, shown.get(key))
        )
    placed = placed_from(bundle)
    return Review(
        lines=bundle_lines,
        dues=dues,
        totals=bundles.totals(bundle_lines, deal),
        interop=bundles.interoperability(bundle_lines),
        use_vouchers=use_vouchers,
        subsidy_fen=sum(s.subsidy_fen for s in shown.values()),
        vouchers_could_pay_fen=sum(s.subsidy_fen for s in planned.values()),
        problem=why_not_orderable(bundle_lines),
        placed=placed,
        key=checkout_key(bundle, placed),
        stamp=bundles.stamp(bundle),
    )
