"""What waits in oversight: KPI reports a provider filed for the enterprise to confirm, an
agency's open concentration alerts and evaluation rounds to close, an assessor's providers to
score (by the round's scoring deadline); and the reminder to assessors before that deadline."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, select

from marketplace import notifications, todos
from marketplace.accounts.models import Organisation
from marketplace.catalog.models import Category
from marketplace.db import db, local_today
from marketplace.orders.models import OrderLine
from marketplace.oversight.concentration import ALL, INTEGRATION
from marketplace.oversight.models import (
    SCORING_DAYS,
    ConcentrationAlert,
    EvaluationEntry,
    EvaluationRound,
    KpiReport,
    KpiStatus,
    RoundStatus,
)
from marketplace.todos import Todo
from marketplace.vouchers.models import VoucherProgramme

SCORES_DUE = "evaluation_scores_due"
notifications.register_kinds(
    {
        SCORES_DUE: _l(
            "Evaluation %(round)s: %(count)d provider(s) assigned to you still wait for your"
            " score; score them by %(by)s."
        ),
    },
    deadline=[SCORES_DUE],
    group="outcomes",
)


def for_enterprise(enterprise: Organisation) -> list[Todo]:
    """KPI reports the provider filed, waiting for the enterprise's confirmation."""
    rows = db.session.execute(
        select(KpiReport.line_id, KpiReport.month, KpiReport.reported_at, OrderLine.title)
        .join(OrderLine, OrderLine.id == KpiReport.line_id)
        .where(
            KpiReport.enterprise_id == enterprise.id,
            KpiReport.status == KpiStatus.PENDING,
            KpiReport.reported_by_org_id != enterprise.id,
        )
    )
    return [
        Todo(
            "kpi_to_confirm",
            _l("Confirm or decline the KPI report"),
            f"{title} · {month:%Y-%m}",
            f"/order-lines/{line_id}/kpi",
            reported,
        )
        for line_id, month, reported, title in rows
    ]


def for_agency(agency: Organisation) -> list[Todo]:
    """Open concentration alerts, and open evaluation rounds whose period is over (to close
    and publish, by the scoring deadline)."""
    alerts = db.session.execute(
        select(
            ConcentrationAlert.programme_id,
            ConcentrationAlert.category,
            ConcentrationAlert.raised_at,
            VoucherProgramme.name,
            Category,
        )
        .join(VoucherProgramme, VoucherProgramme.id == ConcentrationAlert.programme_id)
        .outerjoin(Category, Category.code == ConcentrationAlert.category)
        .where(VoucherProgramme.agency_id == agency.id, ConcentrationAlert.cleared_at.is_(None))
    )
    locale = str(get_locale() or "zh")
    markets = {ALL: _l("All categories"), INTEGRATION: _l("Integration fees")}
    # one to-do per market: its alerts (shares of several providers, by value and by orders,
    # and its HHI) are looked into together, on the programme's concentration page
    first: dict[tuple[int, str], tuple[datetime, str, Category | None]] = {}
    for programme_id, code, raised, name, market in alerts:
        known = first.get((programme_id, code))
        if known is None or raised < known[0]:
            first[(programme_id, code)] = (raised, name, market)
    found = [
        Todo(
            "concentration_alert",
            _l("Look into the market concentration alert"),
            f"{name} · {market.name(locale) if market else markets.get(code, code)}",
            f"/agency/programmes/{programme_id}/concentration",
            raised,
        )
        for (programme_id, code), (raised, name, market) in first.items()
    ]
    rounds = db.session.scalars(
        select(EvaluationRound).where(
            EvaluationRound.agency_id == agency.id,
            EvaluationRound.status == RoundStatus.OPEN,
            EvaluationRound.period_end < local_today(),
        )
    )
    found += [
        Todo(
            "evaluation_to_close",
            _l("Close and publish the evaluation round"),
            rnd.name,
            f"/agency/evaluations/{rnd.id}",
            rnd.opened_at,
            rnd.scores_due_on,
        )
        for rnd in rounds
    ]
    return found


def _unscored() -> list[ColumnElement[bool]]:
    return [
        EvaluationRound.status == RoundStatus.OPEN,
        EvaluationEntry.assessor_id.is_not(None),
        EvaluationEntry.assessor_score.is_(None),
    ]


def for_assessor(assessor: Organisation) -> list[Todo]:
    rows = db.session.execute(
        select(EvaluationEntry.id, EvaluationRound, Organisation.name)
        .join(EvaluationRound, EvaluationRound.id == EvaluationEntry.round_id)
        .join(Organisation, Organisation.id == EvaluationEntry.provider_id)
        .where(EvaluationEntry.assessor_id == assessor.id, *_unscored())
    )
    return [
        Todo(
            "evaluation_to_score",
            _l("Score the provider"),
            f"{rnd.name} · {provider}",
            f"/assessor/evaluations/{entry_id}",
            rnd.opened_at,
            rnd.scores_due_on,
        )
        for entry_id, rnd, provider in rows
    ]


# --- the reminder to assessors before the scoring deadline -----------------------------------


def due_for_scores_reminder(within_days: int, today: date | None = None) -> list[int]:
    """Unscored entries whose round's scores are due within ``within_days`` (one per round
    and assessor is enough: the item reminds of all of that assessor's entries)."""
    today = today or local_today()
    # scores_due_on = period_end + SCORING_DAYS, so the window is one on period_end
    first, last = (
        today - timedelta(days=SCORING_DAYS),
        today + timedelta(days=within_days - SCORING_DAYS),
    )
    stmt = (
        select(EvaluationEntry.round_id, EvaluationEntry.assessor_id, EvaluationEntry.id)
        .join(EvaluationRound, EvaluationRound.id == EvaluationEntry.round_id)
        .where(
            *_unscored(),
            EvaluationRound.period_end >= first,
            EvaluationRound.period_end <= last,
            todos.not_reminded(
                SCORES_DUE, EvaluationEntry.round_id, org_id=EvaluationEntry.assessor_id
            ),
        )
        .order_by(EvaluationEntry.id)
    )
    first_entry: dict[tuple[int, int | None], int] = {}
    for round_id, assessor_id, entry_id in db.session.execute(stmt):
        first_entry.setdefault((round_id, assessor_id), entry_id)
    return sorted(first_entry.values())


def remind_scores(entry_id: int, within_days: int, today: date | None = None) -> bool:
    """Remind the entry's assessor of its unscored providers in the entry's round, once per
    round, assessor and deadline."""
    today = today or local_today()
    entry = db.session.get(EvaluationEntry, entry_id)
    if entry is None or entry.assessor_id is None:
        return False
    rnd = entry.round
    due = rnd.scores_due_on
    if rnd.status is not RoundStatus.OPEN or not today <= due <= today + timedelta(within_days):
        return False
    waiting = len(
        db.session.scalars(
            select(EvaluationEntry.id)
            .join(EvaluationRound, EvaluationRound.id == EvaluationEntry.round_id)
            .where(
                EvaluationEntry.round_id == rnd.id,
                EvaluationEntry.assessor_id == entry.assessor_id,
                *_unscored(),
            )
        ).all()
    )
    if not waiting:
        return False
    return todos.remind_once(
        SCORES_DUE,
        rnd.id,
        entry.assessor_id,
        due,
        "/assessor/evaluations",
        round=rnd.name,
        count=waiting,
    )
