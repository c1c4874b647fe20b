"""What waits for someone, and the reminders before its deadline (core).

A *to-do* is one thing an organisation (or one of its people) has to do: accept a delivery,
answer a baseline, pay an invoice, approve a settlement another official drew up ... Each
domain lists its own in its ``todos.py`` (a few queries however many items, never one per
item); the dashboards gather them (``home``, which sits above every domain) and show them in
one order: the overdue first, then by deadline, then the oldest.

A *reminder* is a notification sent once before a silent deadline (a voucher's redeem-by date,
an invoice's due date, the day a measurement counts as confirmed ...). The database holds the
"once": ``remind_once`` inserts a ``sent_reminders`` row whose UNIQUE key is the reminder's
kind, object, recipient and deadline before it notifies, so two schedulers, a job run twice or
a message delivered again send it once; a deadline that moves (a programme's validity
extended) is a new deadline and is reminded again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, exists
from sqlalchemy.orm import Mapped, mapped_column

from marketplace import notifications
from marketplace.db import Base, add_unique, created_at, intpk, local_today


@dataclass(frozen=True)
class Todo:
    """One waiting item: what to do (``action``), to what (``object``), by when (``due``, a
    local date, or none), where (``link``) and since when (``since``). ``kind`` names the
    sort of item (``line_delivered``, ``invoice_due`` ...) for tests and styling."""

    kind: str
    action: Any  # a (lazy) text: "Accept or dispute the delivery"
    object: str  # "ZX20261205-000123 · MES 生产执行系统"
    link: str
    since: datetime
    due: date | None = None

    @property
    def overdue(self) -> bool:
        return self.due is not None and self.due < local_today()


def ordered(items: Iterable[Todo]) -> list[Todo]:
    """Overdue first (the longest overdue at the top), then by deadline, then the items
    without one, oldest first."""
    return sorted(items, key=lambda t: (t.due is None, t.due or date.max, t.since))


class SentReminder(Base):
    """A reminder sent: one row per kind, object, recipient and deadline (the UNIQUE key is
    what makes a reminder go out once)."""

    __tablename__ = "sent_reminders"
    __table_args__ = (UniqueConstraint("kind", "object_id", "org_id", "deadline"),)

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int]
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    deadline: Mapped[date]
    sent_at: Mapped[created_at]


def remind_once(
    kind: str, object_id: int, org_id: int, deadline: date, link: str, **params: Any
) -> bool:
    """Tell ``org_id`` about ``kind`` for this object and deadline, unless it was told
    already; whether it was told now. The notification carries ``by`` (the deadline, ISO)."""
    row = SentReminder(kind=kind, object_id=object_id, org_id=org_id, deadline=deadline)
    if not add_unique(row):
        return False
    notifications.notify(org_id, kind, link, by=deadline.isoformat(), **params)
    return True


def not_reminded(kind: str, object_id: Any, deadline: Any = None, org_id: Any = None) -> Any:
    """A WHERE clause for the domains' "what is due" queries: no reminder of ``kind`` went
    out yet for the object in column ``object_id`` (for the deadline in ``deadline`` and the
    recipient in ``org_id`` when given, else for any). The insert in ``remind_once`` stays
    what decides; this only keeps the job's list short."""
    clause = [SentReminder.kind == kind, SentReminder.object_id == object_id]
    if deadline is not None:
        clause.append(SentReminder.deadline == deadline)
    if org_id is not None:
        clause.append(SentReminder.org_id == org_id)
    return ~exists().where(*clause)
