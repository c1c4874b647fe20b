"""A programme's money over time: issued, redeemed and settled by month, from the ledger in
one GROUP BY (the month computed by the database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, case, func, select

from marketplace import csvfile
from marketplace.db import LOCAL_ZONE, db
from marketplace.vouchers import figures
from marketplace.vouchers.models import EntryKind, Voucher, VoucherEntry, VoucherProgramme


def month_of(column: Any) -> ColumnElement[str]:
    """``YYYY-MM`` of a timestamp in the pilots' time zone (where the date filters cut), on
    SQLite (stored as UTC text) and on PostgreSQL (whatever the session's time zone)."""
    if db.engine.dialect.name == "postgresql":
        # timezone(zone, timestamptz) is AT TIME ZONE: the local wall-clock time
        return func.to_char(func.timezone(str(LOCAL_ZONE), column), "YYYY-MM")
    offset = datetime.now(LOCAL_ZONE).utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    return func.strftime("%Y-%m", column, f"{hours:+d} hours")


@dataclass(frozen=True)
class Month:
    month: str
    issued_fen: int
    redeemed_fen: int
    settled_fen: int
    returned_fen: int  # revoked, expired or clawed back


def burn(programme: VoucherProgramme) -> list[Month]:
    month = month_of(VoucherEntry.at)

    def total(*kinds: EntryKind) -> ColumnElement[int]:
        return func.coalesce(
            func.sum(case((VoucherEntry.kind.in_(kinds), VoucherEntry.amount_fen), else_=0)), 0
        )

    rows = db.session.execute(
        select(
            month,
            total(EntryKind.ISSUE),
            total(EntryKind.REDEEM),
            total(EntryKind.SETTLE),
            total(EntryKind.REVOKE, EntryKind.EXPIRE, EntryKind.CLAWBACK),
        )
        .join(Voucher, Voucher.id == VoucherEntry.voucher_id)
        .where(Voucher.programme_id == programme.id)
        .group_by(month)
        .order_by(month)
    ).all()
    return [Month(str(m), int(i), int(r), int(s), int(x)) for m, i, r, s, x in rows]


CSV_COLUMNS = {
    "programme": _l("Programme"),
    "month": _l("Month"),
    "issued_yuan": _l("Issued (yuan)"),
    "redeemed_yuan": _l("Redeemed (yuan)"),
    "settled_yuan": _l("Settled (yuan)"),
    "returned_yuan": _l("Returned (yuan)"),
}


def as_csv(programme: VoucherProgramme, months: list[Month], total: figures.Figures) -> str:
    """The months, then the programme's figures as the total row (the months add up to it:
    both are sums of the same ledger entries)."""
    return csvfile.write(
        [
            csvfile.header(
                [
                    "programme",
                    "month",
                    "issued_yuan",
                    "redeemed_yuan",
                    "settled_yuan",
                    "returned_yuan",
                ],
                CSV_COLUMNS,
            ),
            *(
                [
                    programme.name,
                    m.month,
                    *(
                        csvfile.yuan(v)
                        for v in (m.issued_fen, m.redeemed_fen, m.settled_fen, m.returned_fen)
                    ),
                ]
                for m in months
            ),
            [
                programme.name,
                csvfile.total(),
                *(
                    csvfile.yuan(v)
                    for v in (
                        total.issued_fen,
                        total.redeemed_fen,
                        total.settled_fen,
                        total.returned_fen,
                    )
                ),
            ],
        ]
    )
