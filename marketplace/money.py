"""Money is integer fen (分) in CNY. Never floats: parse with Decimal, round explicitly."""

from __future__ import annotations

import re
from decimal import Decimal

FEN_PER_YUAN = 100
# Plain decimal notation only: no exponents (``1e999999`` would take Decimal minutes) and at
# most 13 digits of yuan, far above any real price and far below BIGINT's limit.
_YUAN = re.compile(r"-?\d{1,13}(\.\d{0,2})?")


class MoneyError(ValueError):
    """Raised for an amount that cannot be read as yuan with at most two decimals."""


def parse_yuan(text: str | int | Decimal) -> int:
    """Read an amount in yuan (``"1,234.5"``) as fen. More than two decimals is an error."""
    raw = str(text)[:40].strip().replace(",", "").replace("，", "").removeprefix("¥").strip()
    if not _YUAN.fullmatch(raw):
        raise MoneyError(f"not an amount in yuan with at most two decimals: {str(text)[:40]!r}")
    return int(Decimal(raw) * FEN_PER_YUAN)


def format_fen(fen: int, symbol: str = "¥") -> str:
    """``123456`` → ``¥1,234.56``; negative amounts keep the sign in front."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}{symbol}{yuan:,}.{cents:02d}"


def yuan_text(fen: int) -> str:
    """``123456`` → ``1234.56``: an amount as a form field's value, read back by ``parse_yuan``."""
    return format_fen(fen, symbol="").replace(",", "")


BASIS_POINTS = 10_000  # 100 %: rates and shares are integer basis points


def share_of(amount_fen: int, rate_bp: int) -> int:
    """The rate's share of an amount, rounded down to the fen: the rounding rule of the house
    for every subsidy and every split of money. Public money never rounds up, so shares of a
    whole never add up to more than the whole."""
    return amount_fen * rate_bp // BASIS_POINTS


def part_of(amount_fen: int, part: int, whole: int) -> int:
    """``part / whole`` of an amount, by the same rule (e.g. months 1..k of a term)."""
    return amount_fen * part // whole


def ratio_bp(part: int, whole: int) -> int:
    """What share ``part`` is of ``whole``, in basis points rounded down (0 for an empty
    whole), for statistics such as market shares."""
    return part * BASIS_POINTS // whole if whole else 0


def bank_reference(text: str, limit: int) -> str:
    """A bank transfer's reference as a form gave it: stripped, present and at most
    ``limit`` characters (the column's size), or a ``DomainError`` on the field."""
    from flask_babel import lazy_gettext as _l

    from marketplace.errors import DomainError

    reference = text.strip()
    if not reference:
        raise DomainError(_l("Enter the bank transfer's reference."), field="reference")
    if len(reference) > limit:
        raise DomainError(_l("At most %(n)d characters.", n=limit), field="reference")
    return reference
