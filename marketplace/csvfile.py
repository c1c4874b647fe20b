"""The CSV files the app writes (statistics, money by month, the audit trail, settlements):
every cell a user could have typed is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """``value`` as a cell: text that would start a formula gets a leading apostrophe, which
    spreadsheets show as text; numbers stay numbers (a negative amount too); None is empty."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def yuan(fen: int) -> Decimal:
    """An amount in fen as a number of yuan with two decimals (``1234.50``)."""
    return Decimal(fen).scaleb(-2)


def _english() -> bool:
    return str(get_locale() or "") == "en"


def header(columns: Iterable[str], labels: Mapping[str, Any]) -> list[str]:
    """The header row of ``columns`` (the names scripts read: ``issued_yuan``): kept as they
    are in English, and in Chinese what each column holds (``labels``: column → lazy text),
    so an export made in Chinese reads in Chinese."""
    if _english():
        return list(columns)
    return [str(labels.get(c, c)) for c in columns]


def total() -> str:
    """The first cell of a total row."""
    return "total" if _english() else str(_l("Total"))


def write(rows: Iterable[Iterable[object]]) -> str:
    """The rows (a header first) as CSV text, each cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()
