"""The case library (案例库): met outcome contracts whose enterprises consent, anonymised.

Why here, in outcomes: consent is asked when a contract is settled as met, which is an
outcomes service, and a lower floor cannot call a higher one; a case is made from the
contract, its order and its invoices, all at or below this floor. Oversight (above) may read
cases; the catalogue (below) learns only how many cases a package is in, through
``catalog.case_counts``.

What a case keeps, and what it leaves out so that it does not name the enterprise:

- its industry and size tier, and its region at city level (the district is dropped; where
  the city is unknown to the platform, the province);
- the bundle: the packages of the contract's order (linked to their pages);
- the metric's baseline → achieved value and the days from go-live (the window's start) to
  the last counted measurement;
- the total cost as the sum of the order's invoices (gross, void ones left out) rounded to
  the nearest ¥1,000, and the voucher's share of it in basis points (from the invoices'
  voucher parts, exact integers), never the amounts themselves;
- never the enterprise's name, address, contact, credit code or an order number.

The figures are copied when consent is given (a settled contract no longer changes); revoking
takes the case out of the library at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, Region
from marketplace.catalog import case_counts
from marketplace.db import atomic, db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import ratio_bp
from marketplace.orders.models import LineStatus, OrderLine
from marketplace.outcomes.models import COUNTED, Case, CasePackage, ContractStatus, OutcomeContract
from marketplace.payments import services as payments
from marketplace.payments.models import InvoiceStatus
from marketplace.security import Actor

COST_STEP_FEN = 100_000  # costs are shown rounded to ¥1,000
REASON_MAX = 500
QUERY_MAX = 100
PER_PAGE = 30

CONSENT_ASKED = "case_consent_asked"
notifications.register_kinds(
    {
        CONSENT_ASKED: _l(
            "The outcome contract for %(title)s met its target. May it appear as an anonymised"
            " case in the public case library? Answer on the contract's page; you can revoke"
            " your consent at any time."
        ),
    },
    group="outcomes",
)


def connect() -> None:
    """The package page counts the cases a package is in."""
    case_counts.count_cases_with(cases_with_package)


# --- consent ---------------------------------------------------------------------------------


def ask_consent(contract: OutcomeContract) -> None:
    """Called when a contract is settled as met: the enterprise is asked (and the question
    waits on its to-do list until it answers)."""
    notifications.notify(
        contract.enterprise_id, CONSENT_ASKED, f"/contracts/{contract.id}", title=contract.title
    )


def case_of(contract: OutcomeContract) -> Case | None:
    return db.session.scalar(select(Case).where(Case.contract_id == contract.id))


@atomic
def decide(contract: OutcomeContract, consent: bool, actor: Actor) -> Case:
    """The enterprise's yes or no, with who and when. Yes (again) copies the case's figures;
    no after yes revokes: the case leaves the library."""
    if contract.status is not ContractStatus.MET:
        raise DomainError(_l("Only a contract whose target was met can become a case."))
    case = case_of(contract)
    now = utcnow()
    before = case.consent if case is not None else None
    if case is None:
        case = Case(contract_id=contract.id, consent=False, decided_at=now)
        db.session.add(case)
    case.decided_by_id = actor.user_id
    case.decided_at = now
    if consent:
        with db.session.no_autoflush:  # a consenting row needs its figures when it is written
            case.consent = False
            _copy_figures(case, contract)
        case.consent = True
        case.revoked_at = None
        action = "case.consented"
    elif before:
        case.consent = False
        case.revoked_at = now
        action = "case.revoked"
    else:
        case.consent = False
        action = "case.declined"
    db.session.flush()
    audit.record(actor, action, "contract", contract.id, case_id=case.id)
    return case


def _region_level(org: Organisation) -> str | None:
    """The enterprise's city (or, if the platform does not know the city, its province):
    never the district, which with an industry and a size could point at one firm."""
    if not org.region_code:
        return None
    code = org.region_code
    city, province = code[:4] + "00", code[:2] + "0000"
    known = set(db.session.scalars(select(Region.code).where(Region.code.in_([city, province]))))
    if city in known and city != province:
        return city
    return province if province in known else None


def _copy_figures(case: Case, contract: OutcomeContract) -> None:
    line = db.session.get(OrderLine, contract.order_line_id)
    assert line is not None and contract.achieved_value is not None
    enterprise = contract.enterprise
    live = [
        ln
        for ln in line.order.lines
        if ln.status not in (LineStatus.REJECTED, LineStatus.CANCELLED) or ln.id == line.id
    ]
    total = voucher = 0
    for invoices in payments.invoices_of_lines([ln.id for ln in live]).values():
        for invoice in invoices:
            if invoice.status is not InvoiceStatus.VOID:
                total += invoice.gross_fen
                voucher += invoice.voucher_fen
    counted = [m.period_end for m in contract.measurements if m.status in COUNTED]
    case.industry_code = enterprise.industry_code
    tier = enterprise.size_tier
    case.size_tier = tier.value if tier is not None else None
    case.region_code = _region_level(enterprise)
    case.metric_code = contract.metric_code
    case.better = contract.better
    case.baseline_value = contract.baseline_value
    case.achieved_value = contract.achieved_value
    case.days_to_result = (
        max((max(counted) - contract.window_start).days, 0)
        if counted and contract.window_start
        else None
    )
    case.total_cost_fen = (total + COST_STEP_FEN // 2) // COST_STEP_FEN * COST_STEP_FEN
    case.voucher_share_bp = ratio_bp(voucher, total) if total else None
    seen: set[int] = set()
    packages: list[CasePackage] = []
    for ln in live:
        if ln.package_id is None or ln.package_id in seen:
            continue
        seen.add(ln.package_id)
        packages.append(
            CasePackage(
                package_id=ln.package_id,
                position=len(packages),
                title=ln.title,
                category_code=ln.category_code,
            )
        )
    case.packages = packages


# --- benchmarks (标杆) -------------------------------------------------------------------------


def benchmark_reason(text: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise DomainError(
            _l("Say why this case is a benchmark; the reason is shown with it."), field="reason"
        )
    if len(reason) > REASON_MAX:
        raise DomainError(_l("At most %(n)d characters.", n=REASON_MAX), field="reason")
    return reason


@atomic
def mark_benchmark(case: Case, reason: str, actor: Actor) -> None:
    """An official of an agency overseeing the contract (checked by the view) marks it."""
    reason = benchmark_reason(reason)
    if not case.consent:
        raise DomainError(_l("This case is not in the library."))
    case.benchmark = True
    case.benchmark_reason = reason
    case.benchmark_by_id = actor.user_id
    case.benchmark_at = utcnow()
    audit.record(actor, "case.benchmarked", "contract", case.contract_id, reason=reason)


@atomic
def unmark_benchmark(case: Case, actor: Actor) -> None:
    if not case.benchmark:
        raise DomainError(_l("This case is not marked as a benchmark."))
    case.benchmark = False
    case.benchmark_reason = None
    case.benchmark_by_id = None
    case.benchmark_at = None
    audit.record(actor, "case.unbenchmarked", "contract", case.contract_id)


# --- the library -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    text: str = ""
    category: str | None = None
    industry: str | None = None
    metric: str | None = None
    package_id: int | None = None
    benchmark: bool = False


def _published() -> Select[Case]:
    return select(Case).where(Case.consent.is_(True))


def _filtered(filters: Filters) -> Select[Case]:
    stmt = _published()
    if filters.industry:
        stmt = stmt.where(Case.industry_code == filters.industry)
    if filters.metric:
        stmt = stmt.where(Case.metric_code == filters.metric)
    if filters.benchmark:
        stmt = stmt.where(Case.benchmark.is_(True))
    packages = select(CasePackage.case_id)
    if filters.category:
        stmt = stmt.where(
            Case.id.in_(packages.where(CasePackage.category_code == filters.category))
        )
    if filters.package_id is not None:
        stmt = stmt.where(Case.id.in_(packages.where(CasePackage.package_id == filters.package_id)))
    for word in filters.text.lower().split()[:5]:
        stmt = stmt.where(
            Case.id.in_(
                packages.where(func.lower(CasePackage.title).contains(word, autoescape=True))
            )
        )
    return stmt


def library(filters: Filters, page: int = 1) -> tuple[list[Case], int]:
    """One page of published cases, benchmarks first, newest next, and how many match.
    Three queries whatever the number of cases: count, cases (with metric and industry),
    and their packages."""
    stmt = _filtered(filters)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(
        stmt.options(selectinload(Case.packages))
        .order_by(Case.benchmark.desc(), Case.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return list(rows), total


def region_names(cases: list[Case]) -> dict[str, Region]:
    codes = {c.region_code for c in cases if c.region_code}
    if not codes:
        return {}
    return {r.code: r for r in db.session.scalars(select(Region).where(Region.code.in_(codes)))}


def public_case(case_id: int) -> Case:
    case = db.session.scalar(
        _published().where(Case.id == case_id).options(selectinload(Case.packages))
    )
    if case is None:
        raise NotFound(_l("Not found."))
    return case


def case_for_benchmark(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or not case.consent:
        raise NotFound(_l("Not found."))
    return case


def cases_with_package(package_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(CasePackage)
            .join(Case, Case.id == CasePackage.case_id)
            .where(CasePackage.package_id == package_id, Case.consent.is_(True))
        )
        or 0
    )


def met_without_answer(enterprise_id: int) -> list[tuple[int, str, datetime]]:
    """Met contracts of the enterprise not yet answered: (id, title, settled at)."""
    answered = select(Case.contract_id)
    return [
        (cid, title, settled or utcnow())
        for cid, title, settled in db.session.execute(
            select(OutcomeContract.id, OutcomeContract.title, OutcomeContract.settled_at).where(
                OutcomeContract.enterprise_id == enterprise_id,
                OutcomeContract.status == ContractStatus.MET,
                OutcomeContract.id.not_in(answered),
            )
        )
    ]
