"""What a bundle line costs: its plan's list price, or its share of an accepted quote's price.

One pure function, ``spread``, turns a quote's price into the amounts of its lines; the
bundle's totals, the voucher claims, the review page and checkout all read the result
(``bundles.Line.price``), so every page shows the same figure and the order line stores it.

Rounding, in integer fen:
- each line's share is ``price × its list commitment ÷ the quote's list commitment``, rounded
  down; a subscription's share is rounded down further to whole months, so its monthly price
  × term is exactly its commitment;
- the fen left over go on the *carrier*: the quote's last line that is not a subscription and
  has a list commitment above nothing (a one-time amount or an outcome base fee), so the lines
  sum exactly to the quoted price;
- when every line of the quote is a subscription, the carrier is the last line and its share,
  too, is rounded down to whole months: the lines then sum to the quoted price less under one
  fen per month of its term, never more (the enterprise never pays above the quote).
An outcome plan's base fee is scaled; its success fee rule is the plan's, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketplace.catalog.models import PlanKind, PricePlan


@dataclass(frozen=True)
class Price:
    """What one line commits the enterprise to, as an order line stores it."""

    amount_fen: int | None  # one-time amount, or an outcome plan's base fee
    monthly_fen: int | None  # a subscription's monthly price
    committed_fen: int  # the whole commitment (a subscription's whole term)
    list_fen: int  # the plan's list commitment, for showing beside a quoted price
    quoted: bool = False  # from an accepted quote's price

    @property
    def discount_fen(self) -> int:
        return self.list_fen - self.committed_fen


def list_price(plan: PricePlan) -> Price:
    """The plan's own price, as the catalogue lists it."""
    amount = plan.amount_fen if plan.kind is PlanKind.ONE_TIME else plan.base_fee_fen
    monthly = plan.monthly_fen if plan.kind is PlanKind.SUBSCRIPTION else None
    return Price(amount, monthly, plan.commitment_fen, plan.commitment_fen)


def _priced(plan: PricePlan, share: int) -> Price:
    if plan.kind is PlanKind.SUBSCRIPTION:
        term = plan.term_months or 1
        monthly = share // term
        return Price(None, monthly, monthly * term, plan.commitment_fen, quoted=True)
    return Price(share, None, share, plan.commitment_fen, quoted=True)


def spread(price_fen: int, plans: list[PricePlan]) -> list[Price]:
    """The quote's price spread over its plans (in the quote's order), in proportion to their
    list commitments, by the rounding rules above. ``price_fen`` is at most the plans'
    combined list commitment (the quote's CHECK)."""
    listed = [plan.commitment_fen for plan in plans]
    whole = sum(listed)
    if not plans or whole <= 0:
        return [list_price(plan) for plan in plans]
    price_fen = min(price_fen, whole)
    positive = [i for i, fen in enumerate(listed) if fen > 0]
    flexible = [i for i in positive if plans[i].kind is not PlanKind.SUBSCRIPTION]
    carrier = (flexible or positive)[-1]
    shares = [0] * len(plans)
    for i in positive:
        if i == carrier:
            continue
        share = price_fen * listed[i] // whole
        if plans[i].kind is PlanKind.SUBSCRIPTION:
            term = plans[i].term_months or 1
            share -= share % term
        shares[i] = share
    shares[carrier] = price_fen - sum(shares)
    # a plan that commits nothing up front (a usage plan) keeps its own terms
    return [
        _priced(plan, share) if fen > 0 else list_price(plan)
        for plan, share, fen in zip(plans, shares, listed, strict=True)
    ]
