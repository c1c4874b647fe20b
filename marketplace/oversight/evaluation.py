"""Provider evaluation and exit (考核与退出).

An agency opens a round for a period over the providers admitted to its pool, with the weights
of the score's parts and a pass mark. Assessors score the providers assigned to them. Closing
computes each provider's parts from the period's data (one grouped query per part), publishes
the results, and applies the exit rule: a provider that fails two consecutive rounds is
suspended from the pool, and may apply again only after the round's waiting period.

A part without data for a provider (no tickets, say) is left out and the others are
re-weighted; with no data at all there is no verdict, which is neither a pass nor a fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Float, and_, case, cast, func, select, update

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog.models import PlanKind, Review
from marketplace.db import LOCAL_ZONE, add_unique, atomic, db, local_today, utcnow
from marketplace.errors import DomainError, NotFound, get_owned
from marketplace.orders.models import LineStatus, OrderLine, Ticket
from marketplace.outcomes.models import ContractStatus, OutcomeContract
from marketplace.oversight import usage_kpi
from marketplace.oversight.models import (
    COMPONENTS,
    EvaluationEntry,
    EvaluationRound,
    KpiReport,
    KpiStatus,
    RoundStatus,
)
from marketplace.pool import services as pool
from marketplace.pool.models import PoolStatus
from marketplace.security import Actor

DEFAULT_WEIGHTS = {
    "rating": 20,
    "outcomes": 15,
    "sla": 15,
    "coverage": 10,
    "digital": 10,
    "savings": 10,
    "assessor": 20,
}
DEFAULT_PASS_MARK = 60
DEFAULT_WAITING_DAYS = 180
DEFAULT_SAVINGS_TARGET_FEN = 50_000 * 100
EARLIEST = date(2000, 1, 1)


@dataclass(frozen=True)
class Terms:
    name: str
    period_start: date
    period_end: date
    pass_mark: int
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    savings_target_fen: int = DEFAULT_SAVINGS_TARGET_FEN
    waiting_days: int = DEFAULT_WAITING_DAYS


class MissingScores(DomainError):
    """Closing with assessor scores missing: the official is warned and may confirm."""

    def __init__(self, providers: list[str]) -> None:
        super().__init__(
            _l(
                "%(count)d assessor scores are missing (%(names)s). Close anyway to publish "
                "without them; the gap is recorded with each result.",
                count=len(providers),
                names=", ".join(providers),
            )
        )
        self.providers = providers


def _check_terms(terms: Terms) -> None:
    if not terms.name.strip():
        raise DomainError(_l("Name the round, e.g. 2026 Q3."), field="name")
    if terms.period_start > terms.period_end:
        raise DomainError(_l("The period must end after it starts."), field="period_end")
    if terms.period_start < EARLIEST or terms.period_end > local_today() + timedelta(days=366):
        raise DomainError(
            _l("Choose a period from 2000 to at most a year ahead."), field="period_start"
        )
    if (terms.period_end - terms.period_start).days > 366:
        raise DomainError(_l("A round covers a year at most."), field="period_end")
    if not 0 <= terms.pass_mark <= 100:
        raise DomainError(_l("The pass mark must be from 0 to 100."), field="pass_mark")
    if set(terms.weights) != set(COMPONENTS) or any(
        not 0 <= w <= 100 for w in terms.weights.values()
    ):
        raise DomainError(_l("Each weight must be from 0 to 100."), field="weights")
    total = sum(terms.weights.values())
    if total != 100:
        raise DomainError(
            _l("The weights add up to %(total)d%%; they must add up to 100%%.", total=total),
            field="weights",
        )
    if terms.savings_target_fen <= 0:
        raise DomainError(_l("Enter the monthly savings that earn full marks."), field="savings")
    if not 0 <= terms.waiting_days <= 730:
        raise DomainError(_l("The waiting period must be 0 to 730 days."), field="waiting_days")


@atomic
def open_round(
    agency: Organisation, terms: Terms, assessor_id: int | None, actor: Actor
) -> EvaluationRound:
    """Open a round over every provider admitted to the agency's pool now."""
    _check_terms(terms)
    if current_round(agency) is not None:
        raise DomainError(_l("Close the open round before opening another."))
    last = db.session.scalar(
        select(func.max(EvaluationRound.period_end)).where(EvaluationRound.agency_id == agency.id)
    )
    if last is not None and terms.period_start <= last:
        raise DomainError(
            _l("The period must start after the last round's (%(day)s).", day=last.isoformat()),
            field="period_start",
        )
    members = pool.admitted_in(agency)
    if not members:
        raise DomainError(_l("No provider is admitted to the pool: there is no one to evaluate."))
    assessor = _assessor(assessor_id) if assessor_id else None
    rnd = EvaluationRound(
        agency_id=agency.id,
        name=terms.name.strip(),
        period_start=terms.period_start,
        period_end=terms.period_end,
        pass_mark=terms.pass_mark,
        savings_target_fen=terms.savings_target_fen,
        waiting_days=terms.waiting_days,
        status=RoundStatus.OPEN,
        **{f"w_{c}": terms.weights[c] for c in COMPONENTS},
    )
    for m in members:
        rnd.entries.append(
            EvaluationEntry(
                provider_id=m.provider_id, assessor_id=assessor.id if assessor else None
            )
        )
    # one open round per agency (unique index): a second official opening at once fails
    if not add_unique(rnd):
        raise DomainError(_l("Close the open round before opening another."))
    for m in members:
        notifications.notify(
            m.provider_id,
            "evaluation_opened",
            "/provider/evaluations",
            agency=agency.name,
            round=rnd.name,
            start=rnd.period_start.isoformat(),
            end=rnd.period_end.isoformat(),
            pass_mark=rnd.pass_mark,
        )
    if assessor is not None:
        notifications.notify(
            assessor.id,
            "evaluation_to_score",
            "/assessor/evaluations",
            agency=agency.name,
            round=rnd.name,
            count=len(members),
        )
    audit.record(
        actor,
        "evaluation.opened",
        "evaluation_round",
        rnd.id,
        name=rnd.name,
        period=f"{rnd.period_start}/{rnd.period_end}",
        weights=rnd.weights,
        pass_mark=rnd.pass_mark,
        providers=len(members),
    )
    return rnd


def _assessor(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None or org.kind is not OrgKind.ASSESSOR:
        raise DomainError(_l("Choose an assessor from the list."), field="assessor")
    return org


def assessors() -> list[Organisation]:
    return list(
        db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.ASSESSOR)
            .order_by(Organisation.name)
        )
    )


def current_round(agency: Organisation) -> EvaluationRound | None:
    return db.session.scalar(
        select(EvaluationRound).where(
            EvaluationRound.agency_id == agency.id, EvaluationRound.status == RoundStatus.OPEN
        )
    )


def rounds_of(agency: Organisation) -> list[EvaluationRound]:
    stmt = (
        select(EvaluationRound)
        .where(EvaluationRound.agency_id == agency.id)
        .order_by(EvaluationRound.period_start.desc())
    )
    return list(db.session.scalars(stmt))


def round_for(agency: Organisation, round_id: int) -> EvaluationRound:
    return get_owned(EvaluationRound, round_id, agency_id=agency.id)


def assign(rnd: EvaluationRound, entry_id: int, assessor_id: int, actor: Actor) -> None:
    entry = _open_entry(rnd, entry_id)
    if entry.assessor_score is not None:
        raise DomainError(_l("This provider is already scored; the score stays with its assessor."))
    entry.assessor_id = _assessor(assessor_id).id
    agency = db.session.get(Organisation, rnd.agency_id)
    notifications.notify(
        entry.assessor_id,
        "evaluation_assigned",
        f"/assessor/evaluations/{entry.id}",
        round=rnd.name,
        agency=agency.name if agency else "",
        provider=entry.provider.name,
    )
    audit.record(
        actor,
        "evaluation.assessor_assigned",
        "evaluation_entry",
        entry.id,
        round_id=rnd.id,
        provider_id=entry.provider_id,
        assessor_id=entry.assessor_id,
    )


def _open_entry(rnd: EvaluationRound, entry_id: int) -> EvaluationEntry:
    entry = get_owned(EvaluationEntry, entry_id, round_id=rnd.id)
    if rnd.status is not RoundStatus.OPEN:
        raise DomainError(_l("This round is closed."))
    return entry


# Assessors


def assessors_of_agencies(agency_ids: set[int]) -> set[int]:
    """The assessors assigned in these agencies' evaluation rounds."""
    if not agency_ids:
        return set()
    stmt = (
        select(EvaluationEntry.assessor_id)
        .join(EvaluationRound, EvaluationRound.id == EvaluationEntry.round_id)
        .where(EvaluationRound.agency_id.in_(agency_ids), EvaluationEntry.assessor_id.is_not(None))
        .distinct()
    )
    return {org_id for org_id in db.session.scalars(stmt) if org_id is not None}


def assignments(assessor: Organisation, status: RoundStatus | None = None) -> list[EvaluationEntry]:
    """The entries assigned to ``assessor``, open rounds first (only rounds of ``status``
    when given), unscored first within a round."""
    stmt = (
        select(EvaluationEntry)
        .join(EvaluationRound)
        .where(EvaluationEntry.assessor_id == assessor.id)
        .order_by(
            EvaluationRound.status.desc(),
            EvaluationRound.period_start.desc(),
            EvaluationEntry.assessor_score.is_not(None),
            EvaluationEntry.id,
        )
    )
    if status is not None:
        stmt = stmt.where(EvaluationRound.status == status)
    return list(db.session.scalars(stmt))


def assignment_counts(assessor: Organisation) -> dict[str, int]:
    """How many of ``assessor``'s entries are in open and in closed rounds."""
    rows = db.session.execute(
        select(EvaluationRound.status, func.count(EvaluationEntry.id))
        .join(EvaluationRound, EvaluationRound.id == EvaluationEntry.round_id)
        .where(EvaluationEntry.assessor_id == assessor.id)
        .group_by(EvaluationRound.status)
    )
    counts = {str(s.value): 0 for s in RoundStatus}
    counts.update({str(RoundStatus(status).value): n for status, n in rows})
    return counts


@dataclass(frozen=True)
class Evidence:
    """What an assessor weighs beside their score: the period's figures and the part scores
    computed from them (``measure`` and ``component_scores``, as closing will), and the
    records behind them."""

    raw: dict[str, Any]
    scores: dict[str, float | None]
    kpi_reports: list[KpiReport]
    contracts: list[OutcomeContract]
    reviews: list[Review]


def evidence(entry: EvaluationEntry, limit: int = 10) -> Evidence:
    rnd = entry.round
    raw = measure(rnd, [entry.provider_id])[entry.provider_id]
    start, end = _bounds(rnd)
    kpi_reports = db.session.scalars(
        select(KpiReport)
        .where(
            KpiReport.provider_id == entry.provider_id,
            KpiReport.status == KpiStatus.CONFIRMED,
            KpiReport.month >= rnd.period_start.replace(day=1),
            KpiReport.month <= rnd.period_end,
        )
        .order_by(KpiReport.month.desc(), KpiReport.id)
        .limit(limit)
    )
    contracts = db.session.scalars(
        select(OutcomeContract)
        .where(
            OutcomeContract.provider_id == entry.provider_id,
            OutcomeContract.status.in_((ContractStatus.MET, ContractStatus.MISSED)),
            OutcomeContract.settled_at >= start,
            OutcomeContract.settled_at < end,
        )
        .order_by(OutcomeContract.settled_at.desc())
        .limit(limit)
    )
    reviews = db.session.scalars(
        select(Review)
        .join(OrderLine, OrderLine.id == Review.line_id)
        .where(
            OrderLine.provider_id == entry.provider_id,
            Review.created_at >= start,
            Review.created_at < end,
        )
        .order_by(Review.created_at.desc())
        .limit(limit)
    )
    return Evidence(
        raw=raw,
        scores=component_scores(rnd, raw, None),
        kpi_reports=list(kpi_reports),
        contracts=list(contracts),
        reviews=list(reviews),
    )


def entry_for_assessor(assessor: Organisation, entry_id: int) -> EvaluationEntry:
    return get_owned(EvaluationEntry, entry_id, assessor_id=assessor.id)


def score(entry: EvaluationEntry, value: int, comment: str, actor: Actor) -> None:
    if actor.org_id != entry.assessor_id:
        raise NotFound(_l("Not found."))
    # Lock the round: a score lands before a closing or not at all (PostgreSQL waits here).
    still_open = db.session.scalar(
        select(EvaluationRound.id)
        .where(EvaluationRound.id == entry.round_id, EvaluationRound.status == RoundStatus.OPEN)
        .with_for_update()
    )
    if still_open is None:
        raise DomainError(_l("This round is closed."))
    if not 0 <= value <= 100:
        raise DomainError(_l("The score must be from 0 to 100."), field="score")
    entry.assessor_score = value
    entry.assessor_comment = comment.strip()
    entry.scored_by_id = actor.user_id
    entry.scored_at = utcnow()
    audit.record(
        actor,
        "evaluation.scored",
        "evaluation_entry",
        entry.id,
        round_id=entry.round_id,
        provider_id=entry.provider_id,
        score=value,
    )


# Scores


def _bounds(rnd: EvaluationRound) -> tuple[datetime, datetime]:
    """The period as an interval of instants: local midnight to local midnight."""
    start = datetime.combine(rnd.period_start, time(), LOCAL_ZONE)
    end = datetime.combine(rnd.period_end + timedelta(days=1), time(), LOCAL_ZONE)
    return start, end


def measure(rnd: EvaluationRound, provider_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each provider's raw figures for the period (absent where there is no data), each part
    from one grouped query."""
    start, end = _bounds(rnd)
    found: dict[int, dict[str, Any]] = {p: {} for p in provider_ids}
    if not provider_ids:
        return found

    ratings = (
        select(OrderLine.provider_id, func.avg(cast(Review.rating, Float)), func.count())
        .join(OrderLine, OrderLine.id == Review.line_id)
        .where(
            OrderLine.provider_id.in_(provider_ids),
            Review.created_at >= start,
            Review.created_at < end,
        )
        .group_by(OrderLine.provider_id)
    )
    for pid, avg, n in db.session.execute(ratings):
        found[pid]["rating"] = {"raw": round(float(avg), 2), "n": n}

    met = func.sum(case((OutcomeContract.status == ContractStatus.MET, 1), else_=0))
    outcomes = (
        select(OutcomeContract.provider_id, met, func.count())
        .where(
            OutcomeContract.provider_id.in_(provider_ids),
            OutcomeContract.status.in_((ContractStatus.MET, ContractStatus.MISSED)),
            OutcomeContract.settled_at >= start,
            OutcomeContract.settled_at < end,
        )
        .group_by(OutcomeContract.provider_id)
    )
    for pid, n_met, n in db.session.execute(outcomes):
        found[pid]["outcomes"] = {"met": int(n_met), "n": n}

    late = func.sum(case((Ticket.breached.is_(True), 1), else_=0))
    tickets = (
        select(Ticket.provider_id, late, func.count())
        .where(
            Ticket.provider_id.in_(provider_ids),
            Ticket.opened_at >= start,
            Ticket.opened_at < end,
        )
        .group_by(Ticket.provider_id)
    )
    for pid, n_late, n in db.session.execute(tickets):
        found[pid]["sla"] = {"breached": int(n_late), "n": n}

    # Coverage and digitalisation: read from reported usage where a subscription is metered
    # (``usage_kpi``), from the confirmed hand-typed reports on the other lines; savings from
    # every confirmed report (usage does not tell them).
    on_meter = and_(
        OrderLine.plan_kind == PlanKind.USAGE,
        OrderLine.status == LineStatus.COMPLETED,
        KpiReport.month <= usage_kpi.last_ended_day(),
    )
    typed = case((on_meter, 0), else_=1)
    kpis = (
        select(
            KpiReport.provider_id,
            func.sum(case((on_meter, 0), else_=KpiReport.data_coverage_pct)),
            func.sum(case((on_meter, 0), else_=KpiReport.digital_rate_pct)),
            func.sum(typed),
            func.avg(cast(KpiReport.monthly_savings_fen, Float)),
            func.count(),
        )
        .join(OrderLine, OrderLine.id == KpiReport.line_id)
        .where(
            KpiReport.provider_id.in_(provider_ids),
            KpiReport.status == KpiStatus.CONFIRMED,
            KpiReport.month >= rnd.period_start.replace(day=1),
            KpiReport.month <= rnd.period_end,
        )
        .group_by(KpiReport.provider_id)
    )
    sums: dict[int, tuple[float, float, int]] = {}
    for pid, coverage, digital, n_typed, savings, n in db.session.execute(kpis):
        sums[pid] = (float(coverage or 0), float(digital or 0), int(n_typed or 0))
        found[pid]["savings"] = {"raw_fen": int(savings), "n": n}
    metered = usage_kpi.metered(provider_ids, rnd.period_start, rnd.period_end)
    for pid in provider_ids:
        coverage, digital, n_typed = sums.get(pid, (0.0, 0.0, 0))
        m = metered[pid]
        n = n_typed + m.lines
        if n == 0:
            continue
        for part, value in (
            ("coverage", coverage + m.coverage_sum),
            ("digital", digital + m.digital_sum),
        ):
            found[pid][part] = {
                "raw": round(value / n, 1),
                "n": n,
                "metered": m.lines,
                "typed": n_typed,
            }
    return found


def component_scores(
    rnd: EvaluationRound, raw: dict[str, Any], assessor_score: int | None
) -> dict[str, float | None]:
    """Each part on 0–100 (None without data)."""
    scores: dict[str, float | None] = dict.fromkeys(COMPONENTS)
    if "rating" in raw:  # 1 star → 0, 5 stars → 100
        scores["rating"] = (raw["rating"]["raw"] - 1) / 4 * 100
    if "outcomes" in raw:
        scores["outcomes"] = raw["outcomes"]["met"] / raw["outcomes"]["n"] * 100
    if "sla" in raw:
        scores["sla"] = (raw["sla"]["n"] - raw["sla"]["breached"]) / raw["sla"]["n"] * 100
    if "coverage" in raw:
        scores["coverage"] = raw["coverage"]["raw"]
    if "digital" in raw:
        scores["digital"] = raw["digital"]["raw"]
    if "savings" in raw:
        scores["savings"] = min(100.0, raw["savings"]["raw_fen"] / rnd.savings_target_fen * 100)
    if assessor_score is not None:
        scores["assessor"] = float(assessor_score)
    return {c: None if v is None else round(v, 1) for c, v in scores.items()}


def total(weights: dict[str, int], scores: dict[str, float | None]) -> float | None:
    """The weighted mean of the parts with data (their weights re-scaled to 100%)."""
    weight = sum(weights[c] for c, v in scores.items() if v is not None)
    if weight == 0:
        return None
    return sum(weights[c] * v for c, v in scores.items() if v is not None) / weight


@atomic
def close(rnd: EvaluationRound, actor: Actor, *, despite_missing: bool = False) -> list[str]:
    """Score every provider, publish, apply the exit rule. Returns the names suspended."""
    if actor.org_id != rnd.agency_id:
        raise NotFound(_l("Not found."))
    if rnd.status is not RoundStatus.OPEN:
        raise DomainError(_l("This round is closed."))
    missing = [e for e in rnd.entries if e.assessor_score is None and rnd.w_assessor > 0]
    if missing and not despite_missing:
        raise MissingScores([e.provider.name for e in missing])
    # Claim the round: of two officials closing at once only one goes on; the row lock also
    # holds back an assessor's score until this closing is done (see ``score``).
    claimed = db.session.execute(
        update(EvaluationRound)
        .where(EvaluationRound.id == rnd.id, EvaluationRound.status == RoundStatus.OPEN)
        .values(status=RoundStatus.CLOSED, closed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This round was closed meanwhile."))
    db.session.refresh(rnd, ["status", "closed_at"])
    for entry in rnd.entries:  # the scores as they stand now that the round is locked
        db.session.refresh(entry, ["assessor_score"])
    missing = [e for e in rnd.entries if e.assessor_score is None and rnd.w_assessor > 0]
    previous = _previous_round(rnd)
    before = {e.provider_id: e.passed for e in previous.entries} if previous else {}
    raw = measure(rnd, [e.provider_id for e in rnd.entries])
    suspended: list[str] = []
    for entry in rnd.entries:
        scores = component_scores(rnd, raw[entry.provider_id], entry.assessor_score)
        value = total(rnd.weights, scores)
        entry.components = {"scores": scores, "raw": raw[entry.provider_id]}
        entry.score_tenths = None if value is None else round(value * 10)
        entry.passed = None if value is None else round(value * 10) >= rnd.pass_mark * 10
        entry.assessor_missing = entry in missing
        notifications.notify(
            entry.provider_id,
            "evaluation_published",
            "/provider/evaluations",
            round=rnd.name,
            score="—" if entry.score is None else f"{entry.score:.1f}",
        )
        if entry.passed is False and before.get(entry.provider_id) is False:
            assert previous is not None
            if _suspend(rnd, previous, entry, actor):
                suspended.append(entry.provider.name)
    rnd.missing_scores = len(missing)
    audit.record(
        actor,
        "evaluation.closed",
        "evaluation_round",
        rnd.id,
        passed=sum(1 for e in rnd.entries if e.passed),
        failed=sum(1 for e in rnd.entries if e.passed is False),
        missing_scores=len(missing),
        suspended=suspended,
    )
    return suspended


def _previous_round(rnd: EvaluationRound) -> EvaluationRound | None:
    return db.session.scalar(
        select(EvaluationRound)
        .where(
            EvaluationRound.agency_id == rnd.agency_id,
            EvaluationRound.status == RoundStatus.CLOSED,
            EvaluationRound.period_end < rnd.period_start,
        )
        .order_by(EvaluationRound.period_end.desc())
        .limit(1)
    )


def _suspend(
    rnd: EvaluationRound, previous: EvaluationRound, entry: EvaluationEntry, actor: Actor
) -> bool:
    membership = pool.membership_in(rnd.agency_id, entry.provider_id)
    if membership is None or membership.status is not PoolStatus.ADMITTED:
        return False
    if previous.closed_at is not None and pool.admitted_since(membership) > previous.closed_at:
        return False  # admitted again after that round: its failure was already answered
    reason = str(
        _l(
            "Exit rule: failed two consecutive evaluations (%(previous)s, %(current)s). "
            "You may apply again from %(day)s.",
            previous=previous.name,
            current=rnd.name,
            day=(local_today() + timedelta(days=rnd.waiting_days)).isoformat(),
        )
    )
    pool.suspend_by_exit_rule(
        membership, reason, local_today() + timedelta(days=rnd.waiting_days), actor
    )
    entry.suspended = True  # the provider is told by the pool (``pool.decide``)
    return True


RESULT_ORDERS = ("score", "verdict", "provider")


def sorted_results(rnd: EvaluationRound, order: str = "score") -> list[EvaluationEntry]:
    """A closed round's results in the order asked: by score (highest first, no score
    last), by verdict (failed first, then passed, then no verdict; by score within), or by
    provider name. An unknown order is by score."""

    def by_score(e: EvaluationEntry) -> tuple[bool, int]:
        return (e.score_tenths is None, -(e.score_tenths or 0))

    entries = sorted(rnd.entries, key=lambda e: e.provider.name)
    if order == "provider":
        return entries
    entries.sort(key=by_score)
    if order == "verdict":
        rank = {False: 0, True: 1, None: 2}
        entries.sort(key=lambda e: rank[e.passed])
    return entries


# Providers and the public


def results_of(provider: Organisation) -> list[EvaluationEntry]:
    """A provider's published results (closed rounds only)."""
    stmt = (
        select(EvaluationEntry)
        .join(EvaluationRound)
        .where(
            EvaluationEntry.provider_id == provider.id,
            EvaluationRound.status == RoundStatus.CLOSED,
        )
        .order_by(EvaluationRound.period_end.desc())
    )
    return list(db.session.scalars(stmt))
