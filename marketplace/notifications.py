"""In-app notifications (core): any domain may tell an organisation something.

A notification keeps a kind, its parameters and a link; its text is rendered in the reader's
language when it is read (``TEXTS``). A parameter holding a code of some domain (an order
line's status, a ticket's severity) is shown by the labels that domain registers with
``register_param_labels``, the way domains register their audit labels: this module imports
nothing from the domains.

Whoever must act, or must know, is told by e-mail too: ``notify`` hands the notification to
the *mailer* the accounts domain registers (``register_mailer``), which queues one message
per member who wants this kind by e-mail, in the same transaction (``marketplace.mail``).
Kinds are named and grouped on the preferences page by ``KIND_LABELS`` and ``KIND_GROUPS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import JSON, ForeignKey, Index, String, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, created_at, db, intpk, utcnow
from marketplace.rendering import per_request


class Notification(Base):
    """An in-app message to an organisation; the text is rendered in the reader's language."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_org_id_read_at", "org_id", "read_at"),)

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    link: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[created_at]
    read_at: Mapped[datetime | None]


# The kind names a message in the reader's language.
TEXTS = {
    "order_placed": _l("New order %(number)s: %(title)s."),
    "line_changed": _l("Order %(number)s, %(title)s: %(status)s."),
    "ticket_opened": _l("New support ticket on %(title)s (%(severity)s)."),
    "ticket_answered": _l("The provider answered your ticket on %(title)s."),
    "review_received": _l("%(title)s was rated %(rating)d of 5."),
    "milestone_planned": _l("%(title)s: milestone “%(milestone)s” planned for %(due)s."),
    "milestone_done": _l("%(title)s: milestone “%(milestone)s” is done."),
    "kpi_to_confirm": _l("%(title)s: the provider reported KPIs for %(month)s; please confirm."),
    "evaluation_published": _l("Evaluation %(round)s is published: your score is %(score)s."),
    "pool_suspended": _l("You are suspended from the pool of %(agency)s: %(reason)s"),
    "data_granted": _l("%(enterprise)s shared data with you until %(until)s."),
    "voucher_clawed_back": _l(
        "%(amount)s of voucher money on order line #%(line)s was clawed back and is billed to"
        " the enterprise: %(reason)s"
    ),
    "voucher_recovery_claimed": _l(
        "%(amount)s of voucher money settled to you for order line #%(line)s was clawed back:"
        " repay it to the agency; the enterprise is billed for it. Reason: %(reason)s"
    ),
    "auto_accept_soon": _l(
        "Order %(number)s, %(title)s will be accepted automatically on %(by)s: accept the"
        " delivery or raise a dispute before then."
    ),
    "profile_change_requested": _l("%(enterprise)s asks to change its verified profile."),
    "profile_change_decided": _l("Your profile change (%(field)s): %(outcome)s."),
}

# Kinds that carry a deadline (their ``by`` parameter, an ISO date): whoever must act is told
# by e-mail too, whatever they chose for other kinds.
DEADLINE_KINDS: set[str] = {"auto_accept_soon"}

# The groups of the e-mail preferences page, in order, and the group of each kind; a kind
# registered without one is shown under "Other".
GROUPS: dict[str, Any] = {
    "orders": _l("Orders and delivery"),
    "support": _l("Support tickets"),
    "outcomes": _l("Outcomes and evaluations"),
    "money": _l("Pools and vouchers"),
    "organisation": _l("Organisation and data"),
    "other": _l("Other"),
}
KIND_GROUPS: dict[str, str] = {
    "order_placed": "orders",
    "line_changed": "orders",
    "milestone_planned": "orders",
    "milestone_done": "orders",
    "auto_accept_soon": "orders",
    "review_received": "orders",
    "ticket_opened": "support",
    "ticket_answered": "support",
    "kpi_to_confirm": "outcomes",
    "evaluation_published": "outcomes",
    "pool_suspended": "money",
    "voucher_clawed_back": "money",
    "voucher_recovery_claimed": "money",
    "data_granted": "organisation",
    "profile_change_requested": "organisation",
    "profile_change_decided": "organisation",
}
# A short name of each kind for the preferences page (else its text with blanks, see label()).
KIND_LABELS: dict[str, Any] = {
    "order_placed": _l("A new order"),
    "line_changed": _l("An order line changes status"),
    "milestone_planned": _l("A milestone is planned"),
    "milestone_done": _l("A milestone is done"),
    "auto_accept_soon": _l("An order will be accepted automatically"),
    "review_received": _l("A new review"),
    "ticket_opened": _l("A new support ticket"),
    "ticket_answered": _l("A ticket is answered"),
    "kpi_to_confirm": _l("KPIs to confirm"),
    "evaluation_published": _l("An evaluation is published"),
    "pool_suspended": _l("Suspension from a pool"),
    "voucher_clawed_back": _l("Voucher money clawed back"),
    "voucher_recovery_claimed": _l("Voucher money to repay"),
    "data_granted": _l("Data shared with you"),
    "profile_change_requested": _l("A profile change to verify"),
    "profile_change_decided": _l("A decision on your profile change"),
}


def register_kinds(
    texts: Mapping[str, Any],
    deadline: Iterable[str] = (),
    *,
    group: str | None = None,
    labels: Mapping[str, Any] | None = None,
) -> None:
    """A domain adds the texts of the kinds it sends (and says which carry a deadline), the
    way it registers its audit labels: in its own module, so this one imports no domain.
    A text names the object, what to do and by when (``%(by)s``), e.g.
    ``_l("Invoice %(number)s is due on %(by)s: pay it or ...")``. Optionally the kinds'
    ``group`` (a key of ``GROUPS``) and short ``labels`` for the e-mail preferences page."""
    TEXTS.update(texts)
    DEADLINE_KINDS.update(deadline)
    if group is not None:
        KIND_GROUPS.update(dict.fromkeys(texts, group if group in GROUPS else "other"))
    KIND_LABELS.update(labels or {})


def label(kind: str) -> str:
    """The kind's short name in the current language: its label, else its text with the
    parameters left blank."""
    if kind in KIND_LABELS:
        return str(KIND_LABELS[kind])
    template = TEXTS.get(kind)
    if template is None:
        return kind
    return _BLANKS.sub("…", str(template))


_BLANKS = re.compile(r"%\([a-z_]+\)[sd]")


def grouped_kinds() -> list[tuple[str, list[str]]]:
    """Every kind, by group in the order of ``GROUPS`` (the preferences page's sections)."""
    found: dict[str, list[str]] = {key: [] for key in GROUPS}
    for kind in TEXTS:
        found[KIND_GROUPS.get(kind, "other")].append(kind)
    return [(str(GROUPS[key]), kinds) for key, kinds in found.items() if kinds]


# The e-mail side of ``notify``: set by the accounts domain (it knows the members and their
# choices); called in the caller's transaction with the new notification.
_mailer: Callable[[Notification], None] | None = None


def register_mailer(mailer: Callable[[Notification], None]) -> None:
    global _mailer
    _mailer = mailer


_in_app_only: ContextVar[bool] = ContextVar("notifications_in_app_only", default=False)


@contextmanager
def in_app_only() -> Iterator[None]:
    """Notifications made inside are stored for the app but e-mail nobody (the demo data's
    made-up history is not news to its users)."""
    token = _in_app_only.set(True)
    try:
        yield
    finally:
        _in_app_only.reset(token)


# parameter name → stored code → label (a lazy string), registered by the domains
PARAM_LABELS: dict[str, dict[str, object]] = {}


def register_param_labels(param: str, labels: Mapping[str, object]) -> None:
    PARAM_LABELS.setdefault(param, {}).update(labels)


def notify(org_id: int, kind: str, link: str, **params: Any) -> None:
    """Tell organisation ``org_id`` something: an in-app notification, and an e-mail to each
    member who wants this kind by e-mail (always for a kind with a deadline), both in the
    caller's transaction so they commit or roll back with the event. Works outside a request
    (jobs, CLI): each e-mail is rendered in its reader's language."""
    notification = Notification(org_id=org_id, kind=kind, link=link, params=params)
    db.session.add(notification)
    if _mailer is not None and not _in_app_only.get():
        _mailer(notification)


def notifications_of(org_id: int, limit: int = 50) -> list[Notification]:
    stmt = (
        select(Notification)
        .where(Notification.org_id == org_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def unread_count(org_id: int) -> int:
    stmt = select(func.count(Notification.id)).where(
        Notification.org_id == org_id, Notification.read_at.is_(None)
    )
    return db.session.scalar(stmt) or 0


@per_request
def unread_for_current_org() -> int:
    """The badge ``base.html`` shows on every page of a signed-in user (``unread_notifications``
    in templates): one query per request however often it is shown."""
    if current_user.is_authenticated:
        return unread_count(current_user.org_id)
    return 0


def mark_all_read(org_id: int) -> None:
    db.session.execute(
        update(Notification)
        .where(Notification.org_id == org_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def text(n: Notification) -> str:
    template = TEXTS.get(n.kind)
    if template is None:
        return n.kind
    params = _Blanks(n.params)
    for name, value in params.items():
        labels = PARAM_LABELS.get(name)
        if labels is not None and isinstance(value, str) and value in labels:
            params[name] = str(labels[value])
    try:
        return str(template) % params
    except (TypeError, ValueError):
        return str(template)


class _Blanks(dict[str, Any]):
    """Parameters for a text; one a notification stored before its text named it reads as
    "…" rather than breaking the sentence."""

    def __missing__(self, key: str) -> str:
        return "…"
