"""Rating a month of usage against a usage plan: integer fen throughout, line by line.

Units of the month are numbered 1, 2, … Q. The first ``included`` units cost nothing; unit n
costs the price of the band it falls in: the plan's unit price from unit 1, each tier's price
from its ``from_quantity`` on (graduated, not volume: a tier prices only its own units). The
sum is then raised to the monthly minimum or lowered to the cap. Every amount is a whole
number of units times a price in fen, so no rounding happens anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tier:
    from_quantity: int  # > 1
    unit_price_fen: int


@dataclass(frozen=True)
class UsageTerms:
    unit_price_fen: int
    included_quantity: int = 0
    tiers: tuple[Tier, ...] = ()
    minimum_fen: int | None = None
    cap_fen: int | None = None


@dataclass
class Rating:
    quantity: int
    total_fen: int
    lines: list[dict[str, Any]] = field(default_factory=list)


def bands(terms: UsageTerms) -> list[tuple[int, int | None, int]]:
    """(first unit, last unit or None for no end, price) of each price band, in order."""
    starts = [(1, terms.unit_price_fen)] + [
        (t.from_quantity, t.unit_price_fen)
        for t in sorted(terms.tiers, key=lambda t: t.from_quantity)
    ]
    result: list[tuple[int, int | None, int]] = []
    for i, (start, price) in enumerate(starts):
        end = starts[i + 1][0] - 1 if i + 1 < len(starts) else None
        result.append((start, end, price))
    return result


def rate(terms: UsageTerms, quantity: int) -> Rating:
    if quantity < 0:
        raise ValueError("quantity < 0")
    included = min(terms.included_quantity, quantity)
    lines: list[dict[str, Any]] = []
    if terms.included_quantity:
        lines.append({"kind": "included", "units": included, "amount_fen": 0})
    subtotal = 0
    for start, end, price in bands(terms):
        first = max(start, included + 1)
        last = quantity if end is None else min(end, quantity)
        if last < first:
            continue
        units = last - first + 1
        amount = units * price
        subtotal += amount
        lines.append(
            {
                "kind": "band",
                "from": first,
                "to": last,
                "units": units,
                "unit_price_fen": price,
                "amount_fen": amount,
            }
        )
    total = subtotal
    if terms.minimum_fen is not None and total < terms.minimum_fen:
        lines.append({"kind": "minimum", "amount_fen": terms.minimum_fen - total})
        total = terms.minimum_fen
    if terms.cap_fen is not None and total > terms.cap_fen:
        lines.append({"kind": "cap", "amount_fen": terms.cap_fen - total})
        total = terms.cap_fen
    lines.append({"kind": "total", "units": quantity, "amount_fen": total})
    return Rating(quantity=quantity, total_fen=total, lines=lines)
