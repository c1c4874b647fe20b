"""The success fee of a pay-for-results contract: a pure function of its terms and figures.

Improvement is measured in the target's units: points of the metric for an absolute target,
per cent of the baseline for a relative one, always in the direction the metric improves.
Money is rounded down to the fen: the enterprise never pays a fraction it did not earn.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from marketplace.catalog.models import Better, FeeRule, TargetKind

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Terms:
    better: Better
    target_kind: TargetKind
    target_value: Decimal
    fee_rule: FeeRule
    success_fee_fen: int | None = None
    fee_per_unit_fen: int | None = None
    fee_cap_fen: int | None = None  # covers the base fee and the per-unit fees together
    base_fee_fen: int | None = None


@dataclass(frozen=True)
class Outcome:
    baseline: Decimal
    achieved: Decimal
    change: Decimal  # achieved − baseline, signed the way the metric improves
    improvement: Decimal  # in the target's units
    met: bool
    units_paid: Decimal  # improvement units the per-unit fee is charged for
    uncapped_fen: int
    cap_fen: int | None  # what the success fee may reach (the cap less the base fee)
    fee_fen: int


def settle(terms: Terms, baseline: Decimal, achieved: Decimal) -> Outcome:
    change = achieved - baseline if terms.better is Better.HIGHER else baseline - achieved
    if terms.target_kind is TargetKind.ABSOLUTE:
        improvement = change
    elif baseline == 0:
        improvement = Decimal(0)  # a relative target needs a baseline to be relative to
    else:
        improvement = change / abs(baseline) * HUNDRED
    # Rounded down: a result a hair below the target does not round up into a fee.
    improvement = improvement.quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)
    met = improvement >= terms.target_value
    units = max(improvement, Decimal(0)) if met else Decimal(0)
    cap: int | None = None
    if terms.fee_rule is FeeRule.FIXED:
        uncapped = terms.success_fee_fen or 0
        fee = uncapped if met else 0
    else:
        per_unit = Decimal(terms.fee_per_unit_fen or 0)
        uncapped = int((units * per_unit).to_integral_value(rounding=ROUND_FLOOR))
        cap = max((terms.fee_cap_fen or 0) - (terms.base_fee_fen or 0), 0)
        fee = min(uncapped, cap) if met else 0
    return Outcome(
        baseline=baseline,
        achieved=achieved,
        change=change,
        improvement=improvement,
        met=met,
        units_paid=units,
        uncapped_fen=uncapped,
        cap_fen=cap,
        fee_fen=max(fee, 0),
    )
