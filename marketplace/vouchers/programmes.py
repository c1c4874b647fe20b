"""Voucher programmes (转型券项目): their rules, opening and closing, budget and validity, and the
figures of what has become of the budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    func,
    select,
    update,
)
from sqlalchemy.orm import selectinload

from marketplace import audit
from marketplace.accounts.models import Industry, Organisation, Region, SizeTier
from marketplace.catalog.models import Category, PlanKind
from marketplace.db import atomic, db, local_today
from marketplace.errors import DomainError, NotFound
from marketplace.money import BASIS_POINTS, format_fen
from marketplace.security import Actor
from marketplace.vouchers.models import (
    DEFAULT_BATCH_APPROVAL_THRESHOLD_FEN,
    DEFAULT_HYBRID_FEE_FLOOR_BP,
    MAX_BUDGET_FEN,
    MAX_COOLING_OFF_DAYS,
    ProgrammeMode,
    ProgrammeStatus,
    Voucher,
    VoucherApplication,
    VoucherProgramme,
    VoucherStatus,
)


def agencies_of(enterprise_id: int) -> set[int]:
    """The agencies whose programmes the enterprise holds a voucher of or applied to (a data
    grant's reason to see its data)."""
    held = (
        select(VoucherProgramme.agency_id)
        .join(Voucher, Voucher.programme_id == VoucherProgramme.id)
        .where(Voucher.enterprise_id == enterprise_id)
    )
    applied = (
        select(VoucherProgramme.agency_id)
        .join(VoucherApplication, VoucherApplication.programme_id == VoucherProgramme.id)
        .where(VoucherApplication.enterprise_id == enterprise_id)
    )
    return set(db.session.scalars(held.union(applied)))


@dataclass(frozen=True)
class Rules:
    name: str
    mode: ProgrammeMode
    budget_fen: int
    face_value_fen: int
    rate_bp: int
    cap_fen: int
    issue_from: date
    redeem_by: date
    industry_codes: list[str] = field(default_factory=list)
    size_tiers: list[str] = field(default_factory=list)
    region_codes: list[str] = field(default_factory=list)
    min_revenue_fen: int | None = None
    max_revenue_fen: int | None = None
    diagnosis_required: bool = False
    category_codes: list[str] = field(default_factory=list)
    plan_kinds: list[str] = field(default_factory=list)
    covers_success_fees: bool = False
    batch_approval_threshold_fen: int = DEFAULT_BATCH_APPROVAL_THRESHOLD_FEN
    # hybrid mode: the least share of the integration fee kept whatever is swapped
    hybrid_fee_floor_bp: int = DEFAULT_HYBRID_FEE_FLOOR_BP
    # vouchers are redeemed only this many days after delivery starts (0: at acceptance)
    cooling_off_days: int = 0


def _validate(rules: Rules) -> None:
    """Every rule checked, with the field to blame. Integrators are appointed apart, with
    how they were chosen (``appointments.appoint``)."""
    if not rules.name.strip():
        raise DomainError(_l("Name the programme."), field="name")
    if not 0 < rules.budget_fen <= MAX_BUDGET_FEN:
        raise DomainError(_l("Enter a budget above zero."), field="budget")
    if rules.face_value_fen <= 0:
        raise DomainError(_l("Enter a face value above zero."), field="face_value")
    if rules.face_value_fen > rules.budget_fen:
        raise DomainError(_l("The face value cannot exceed the budget."), field="face_value")
    if not 1 <= rules.rate_bp <= BASIS_POINTS:
        raise DomainError(_l("Enter a subsidy rate from 0.01 to 100."), field="rate")
    if rules.cap_fen > MAX_BUDGET_FEN:
        raise DomainError(_l("Enter a smaller amount."), field="cap")
    if rules.cap_fen < rules.face_value_fen:
        raise DomainError(
            _l("The cap per enterprise must be at least one face value."), field="cap"
        )
    if not 0 <= rules.batch_approval_threshold_fen <= MAX_BUDGET_FEN:
        raise DomainError(
            _l("Enter an amount from zero up to the largest budget."),
            field="batch_approval_threshold",
        )
    if rules.redeem_by < rules.issue_from:
        raise DomainError(_l("The redeem-by date must not be before issuing starts."), "redeem_by")
    if rules.redeem_by < local_today():
        raise DomainError(_l("The redeem-by date is in the past."), field="redeem_by")
    low, high = rules.min_revenue_fen, rules.max_revenue_fen
    for amount, name in ((low, "min_revenue"), (high, "max_revenue")):
        if amount is not None and amount > MAX_BUDGET_FEN * 100:
            raise DomainError(_l("Enter a smaller amount."), field=name)
    if (low is not None and low < 0) or (high is not None and high < 0):
        raise DomainError(_l("The amount cannot be negative."), field="min_revenue")
    if low is not None and high is not None and low > high:
        raise DomainError(
            _l("The lowest revenue must not be above the highest."), field="max_revenue"
        )
    _known(Industry.code, rules.industry_codes, "industry_codes")
    _known(Region.code, rules.region_codes, "region_codes")
    _known(Category.code, rules.category_codes, "category_codes")
    if not set(rules.size_tiers) <= {t.value for t in SizeTier}:
        raise DomainError(_l("Choose from the list."), field="size_tiers")
    if not set(rules.plan_kinds) <= {k.value for k in PlanKind}:
        raise DomainError(_l("Choose from the list."), field="plan_kinds")
    if not 0 <= rules.hybrid_fee_floor_bp <= BASIS_POINTS:
        raise DomainError(_l("Enter a percentage from 0 to 100."), field="hybrid_fee_floor")
    if not 0 <= rules.cooling_off_days <= MAX_COOLING_OFF_DAYS:
        raise DomainError(
            _l("Enter whole days from 0 to %(n)d.", n=MAX_COOLING_OFF_DAYS),
            field="cooling_off_days",
        )


def _known(code_column: Any, codes: list[str], field_name: str) -> None:
    if not codes:
        return
    found = db.session.scalar(select(func.count()).where(code_column.in_(codes)))
    if found != len(set(codes)):
        raise DomainError(_l("Choose from the list."), field=field_name)


def _apply(programme: VoucherProgramme, rules: Rules) -> None:
    programme.name = rules.name.strip()
    programme.mode = rules.mode
    programme.budget_fen = rules.budget_fen
    programme.face_value_fen = rules.face_value_fen
    programme.rate_bp = rules.rate_bp
    programme.cap_fen = rules.cap_fen
    programme.issue_from = rules.issue_from
    programme.redeem_by = rules.redeem_by
    programme.industry_codes = sorted(set(rules.industry_codes))
    programme.size_tiers = sorted(set(rules.size_tiers))
    programme.region_codes = sorted(set(rules.region_codes))
    programme.min_revenue_fen = rules.min_revenue_fen
    programme.max_revenue_fen = rules.max_revenue_fen
    programme.diagnosis_required = rules.diagnosis_required
    programme.category_codes = sorted(set(rules.category_codes))
    programme.plan_kinds = sorted(set(rules.plan_kinds))
    programme.covers_success_fees = rules.covers_success_fees
    programme.batch_approval_threshold_fen = rules.batch_approval_threshold_fen
    programme.hybrid_fee_floor_bp = rules.hybrid_fee_floor_bp
    programme.cooling_off_days = rules.cooling_off_days


@atomic
def create_programme(agency: Organisation, rules: Rules, actor: Actor) -> VoucherProgramme:
    _validate(rules)
    _unique_name(agency, rules.name)
    programme = VoucherProgramme(
        agency_id=agency.id,
        status=ProgrammeStatus.DRAFT,
        issued_fen=0,
        created_by_id=actor.user_id,
    )
    _apply(programme, rules)
    db.session.add(programme)
    db.session.flush()
    audit.record(actor, "programme.created", "programme", programme.id, name=programme.name)
    return programme


def _unique_name(agency: Organisation, name: str, but: int | None = None) -> None:
    stmt = select(VoucherProgramme.id).where(
        VoucherProgramme.agency_id == agency.id, VoucherProgramme.name == name.strip()
    )
    if but is not None:
        stmt = stmt.where(VoucherProgramme.id != but)
    if db.session.scalar(stmt) is not None:
        raise DomainError(_l("You already have a programme with this name."), field="name")


def rules_frozen(programme: VoucherProgramme) -> bool:
    """Rules freeze at the first voucher issued (revoked ones count: they were issued)."""
    return (
        db.session.scalar(select(Voucher.id).where(Voucher.programme_id == programme.id).limit(1))
        is not None
    )


@atomic
def update_programme(programme: VoucherProgramme, rules: Rules, actor: Actor) -> None:
    """Rules change only while the programme is a draft: nothing can be issued then, and the
    conditional UPDATE below queues this edit behind a concurrent opening."""
    frozen = _l(
        "The rules cannot change once the programme is open; only the budget and the"
        " redeem-by date can."
    )
    if programme.status is not ProgrammeStatus.DRAFT or rules_frozen(programme):
        raise DomainError(frozen)
    still_draft = db.session.execute(
        update(VoucherProgramme)
        .where(
            VoucherProgramme.id == programme.id,
            VoucherProgramme.status == ProgrammeStatus.DRAFT,
        )
        .values(name=VoucherProgramme.name)
        .execution_options(synchronize_session=False)
    )
    if still_draft.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(frozen)
    _validate(rules)
    _unique_name(programme.agency, rules.name, but=programme.id)
    _apply(programme, rules)
    db.session.flush()
    audit.record(actor, "programme.edited", "programme", programme.id)


def open_programme(programme: VoucherProgramme, actor: Actor) -> None:
    if programme.mode is not ProgrammeMode.OPEN and not programme.integrators:
        raise DomainError(_l("Appoint at least one integrator before opening the programme."))
    _set_status(programme, ProgrammeStatus.DRAFT, ProgrammeStatus.OPEN)
    audit.record(actor, "programme.opened", "programme", programme.id)


def close_programme(programme: VoucherProgramme, actor: Actor) -> None:
    """No more issuing. Vouchers already issued stay spendable until their redeem-by date."""
    _set_status(programme, ProgrammeStatus.OPEN, ProgrammeStatus.CLOSED)
    audit.record(actor, "programme.closed", "programme", programme.id)


def _set_status(
    programme: VoucherProgramme, before: ProgrammeStatus, after: ProgrammeStatus
) -> None:
    moved = db.session.execute(
        update(VoucherProgramme)
        .where(VoucherProgramme.id == programme.id, VoucherProgramme.status == before)
        .values(status=after)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("The programme changed meanwhile. Reload the page and try again."))
    db.session.refresh(programme)


def extend_validity(programme: VoucherProgramme, redeem_by: date, actor: Actor) -> None:
    if programme.redeem_by < local_today():
        raise DomainError(
            _l(
                "The redeem-by date has passed and the vouchers have expired; open a new programme."
            ),
            field="redeem_by",
        )
    if redeem_by <= programme.redeem_by:
        raise DomainError(
            _l(
                "Choose a date after the current redeem-by date (%(date)s).",
                date=programme.redeem_by.isoformat(),
            ),
            field="redeem_by",
        )
    before = programme.redeem_by
    programme.redeem_by = redeem_by
    db.session.flush()
    audit.record(
        actor,
        "programme.validity_extended",
        "programme",
        programme.id,
        before=before.isoformat(),
        after=redeem_by.isoformat(),
    )


@atomic
def change_budget(programme: VoucherProgramme, budget_fen: int, actor: Actor) -> None:
    if not 0 < budget_fen <= MAX_BUDGET_FEN:
        raise DomainError(_l("Enter a budget above zero."), field="budget")
    if budget_fen < programme.face_value_fen:
        raise DomainError(_l("The budget cannot be below one face value."), field="budget")
    before = programme.budget_fen
    moved = db.session.execute(
        update(VoucherProgramme)
        .where(VoucherProgramme.id == programme.id, VoucherProgramme.issued_fen <= budget_fen)
        .values(budget_fen=budget_fen)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        db.session.refresh(programme)
        raise DomainError(
            _l(
                "The budget cannot be below what is already issued (%(issued)s).",
                issued=format_fen(programme.issued_fen),
            ),
            field="budget",
        )
    db.session.refresh(programme)
    audit.record(
        actor,
        "programme.budget_changed",
        "programme",
        programme.id,
        before=before,
        after=budget_fen,
    )


@dataclass(frozen=True)
class RuleNames:
    """A programme's eligibility and spending rules in the reader's language, joined for a
    sentence."""

    industries: str
    size_tiers: str
    regions: str
    categories: str
    plan_kinds: str


def rule_names(programme: VoucherProgramme, locale: str) -> RuleNames:
    """The names of the codes a programme's rules hold (three queries, once per page)."""
    industries = {
        i.code: i.name(locale)
        for i in db.session.scalars(
            select(Industry).where(Industry.code.in_(programme.industry_codes))
        )
    }
    regions = {
        r.code: r.name(locale)
        for r in db.session.scalars(select(Region).where(Region.code.in_(programme.region_codes)))
    }
    categories = {
        c.code: c.name(locale)
        for c in db.session.scalars(
            select(Category).where(Category.code.in_(programme.category_codes))
        )
    }
    tiers = {t.value: str(t.label) for t in SizeTier}
    kinds = {k.value: str(k.label) for k in PlanKind}
    sep = "、" if locale == "zh" else ", "

    def joined(codes: list[str], names: dict[str, str]) -> str:
        return sep.join(names.get(code, code) for code in codes)

    return RuleNames(
        industries=joined(programme.industry_codes, industries),
        size_tiers=joined(programme.size_tiers, tiers),
        regions=joined(programme.region_codes, regions),
        categories=joined(programme.category_codes, categories),
        plan_kinds=joined(programme.plan_kinds, kinds),
    )


def programmes_of(agency: Organisation) -> list[VoucherProgramme]:
    stmt = (
        select(VoucherProgramme)
        .where(VoucherProgramme.agency_id == agency.id)
        .order_by(VoucherProgramme.id.desc())
    )
    return list(db.session.scalars(stmt))


def programme_for(agency: Organisation, programme_id: int) -> VoucherProgramme:
    programme = db.session.get(VoucherProgramme, programme_id)
    if programme is None or programme.agency_id != agency.id:
        raise NotFound(_l("Not found."))
    return programme


def vouchers_of_programme(
    programme: VoucherProgramme,
    status: VoucherStatus | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Voucher], int]:
    stmt = select(Voucher).where(Voucher.programme_id == programme.id)
    if status is not None:
        stmt = stmt.where(Voucher.status == status)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(
        stmt.options(selectinload(Voucher.enterprise))
        .order_by(Voucher.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(rows), total
