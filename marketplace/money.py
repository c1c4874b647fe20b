"""Money is integer fen (分) in CNY. Never floats: parse with Decimal, round explicitly."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

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


def apply_basis_points(fen: int, basis_points: int) -> int:
    """``fen × bp / 10000`` rounded half up to the fen (the rounding rule of the house)."""
    exact = Decimal(fen) * Decimal(basis_points) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
