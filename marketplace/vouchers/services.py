"""Voucher programmes, issuing, spending and the ledger.

Every change of money is a conditional UPDATE (``… WHERE balance >= :amount``, row count
checked) followed by an append-only ``VoucherEntry``; nothing reads a balance and writes it
back. Services flush but never commit: the request (or command) commits once, or rolls back.
"""

from __future__ import annotations

import secrets
from base64 import b32encode
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    case,
    column,
    exists,
    func,
    insert,
    literal,
    select,
    table,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from marketplace import audit
from marketplace.accounts.models import Industry, Organisation, OrgKind, Region, SizeTier
from marketplace.catalog.models import Category, PlanKind
from marketplace.db import UTCDateTime, atomic, db, local_today, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import format_fen
from marketplace.payments import services as payments
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers.models import (
    MAX_BUDGET_FEN,
    ApplicationStatus,
    EntryKind,
    FlagStatus,
    IssueRun,
    ProgrammeMode,
    ProgrammeStatus,
    Reservation,
    ReservationStatus,
    RiskFlag,
    RiskReason,
    Voucher,
    VoucherApplication,
    VoucherEntry,
    VoucherProgramme,
    VoucherStatus,
)

BASIS = 10_000

# The orders domain sits above this one; its diagnoses table is read by name only.
_diagnoses = table("diagnoses", column("enterprise_id"))

AVAILABLE = (
    Voucher.face_value_fen
    - Voucher.reserved_fen
    - Voucher.redeemed_fen
    - Voucher.expired_fen
    - Voucher.clawed_back_fen
    - Voucher.revoked_fen
)


def subsidy_for(amount_fen: int, rate_bp: int) -> int:
    """The rate's share of an amount, rounded down to the fen: public money never rounds up."""
    return amount_fen * rate_bp // BASIS


def new_code() -> str:
    """``ZXQ-XXXX-XXXX-XXXX-XXXX``: 80 random bits in Crockford-free base32 (no padding)."""
    raw = b32encode(secrets.token_bytes(10)).decode()
    return "ZXQ-" + "-".join(raw[i : i + 4] for i in range(0, 16, 4))


# --- programmes -------------------------------------------------------------------------


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
    integrator_ids: list[int] = field(default_factory=list)


def _validate(rules: Rules, agency: Organisation) -> list[Organisation]:
    """Every rule checked, with the field to blame; returns the appointed integrators."""
    if not rules.name.strip():
        raise DomainError(_l("Name the programme."), field="name")
    if not 0 < rules.budget_fen <= MAX_BUDGET_FEN:
        raise DomainError(_l("Enter a budget above zero."), field="budget")
    if rules.face_value_fen <= 0:
        raise DomainError(_l("Enter a face value above zero."), field="face_value")
    if rules.face_value_fen > rules.budget_fen:
        raise DomainError(_l("The face value cannot exceed the budget."), field="face_value")
    if not 1 <= rules.rate_bp <= BASIS:
        raise DomainError(_l("Enter a subsidy rate from 0.01 to 100."), field="rate")
    if rules.cap_fen > MAX_BUDGET_FEN:
        raise DomainError(_l("Enter a smaller amount."), field="cap")
    if rules.cap_fen < rules.face_value_fen:
        raise DomainError(
            _l("The cap per enterprise must be at least one face value."), field="cap"
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
    integrators: list[Organisation] = []
    if rules.integrator_ids:
        integrators = list(
            db.session.scalars(
                select(Organisation)
                .join(PoolMembership, PoolMembership.provider_id == Organisation.id)
                .where(
                    Organisation.id.in_(rules.integrator_ids),
                    Organisation.provider_type == "integrator",
                    PoolMembership.agency_id == agency.id,
                    PoolMembership.status == PoolStatus.ADMITTED,
                )
            )
        )
        if len(integrators) != len(set(rules.integrator_ids)):
            raise DomainError(
                _l("Appoint integrators admitted to your pool."), field="integrator_ids"
            )
    return integrators


def _known(code_column: Any, codes: list[str], field_name: str) -> None:
    if not codes:
        return
    found = db.session.scalar(select(func.count()).where(code_column.in_(codes)))
    if found != len(set(codes)):
        raise DomainError(_l("Choose from the list."), field=field_name)


def _apply(programme: VoucherProgramme, rules: Rules, integrators: list[Organisation]) -> None:
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
    programme.integrators = integrators if rules.mode is ProgrammeMode.INTEGRATOR else []


@atomic
def create_programme(agency: Organisation, rules: Rules, actor: Actor) -> VoucherProgramme:
    integrators = _validate(rules, agency)
    _unique_name(agency, rules.name)
    programme = VoucherProgramme(
        agency_id=agency.id,
        status=ProgrammeStatus.DRAFT,
        issued_fen=0,
        created_by_id=actor.user_id,
    )
    _apply(programme, rules, integrators)
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
    integrators = _validate(rules, programme.agency)
    _unique_name(programme.agency, rules.name, but=programme.id)
    _apply(programme, rules, integrators)
    db.session.flush()
    audit.record(actor, "programme.edited", "programme", programme.id)


def open_programme(programme: VoucherProgramme, actor: Actor) -> None:
    if programme.mode is ProgrammeMode.INTEGRATOR and not programme.integrators:
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


# --- eligibility ------------------------------------------------------------------------


def eligibility_filter(programme: VoucherProgramme) -> list[ColumnElement[bool]]:
    """The programme's eligibility as SQL over ``organisations`` (set-based issuing)."""
    conditions: list[ColumnElement[bool]] = [Organisation.kind == OrgKind.ENTERPRISE]
    if programme.industry_codes:
        conditions.append(Organisation.industry_code.in_(programme.industry_codes))
    if programme.region_codes:
        conditions.append(Organisation.region_code.in_(programme.region_codes))
    if programme.size_tiers:
        conditions.append(Organisation.size_tier.in_(programme.size_tiers))
    if programme.min_revenue_fen is not None:
        conditions.append(Organisation.annual_revenue_fen >= programme.min_revenue_fen)
    if programme.max_revenue_fen is not None:
        conditions.append(Organisation.annual_revenue_fen <= programme.max_revenue_fen)
    if programme.diagnosis_required:
        conditions.append(exists().where(_diagnoses.c.enterprise_id == Organisation.id))
    return conditions


# Why an enterprise may not receive a programme's vouchers: codes stored in reports, shown in
# the reader's language.
INELIGIBLE = {
    "not_enterprise": _l("not an enterprise"),
    "industry": _l("industry not covered"),
    "region": _l("region not covered"),
    "size_tier": _l("size tier not covered"),
    "revenue_low": _l("revenue below the minimum"),
    "revenue_high": _l("revenue above the maximum"),
    "diagnosis": _l("no diagnosis done"),
    "holds_voucher": _l("already holds a voucher of this programme"),
}


def describe(codes: Iterable[str]) -> str:
    return "; ".join(str(INELIGIBLE.get(code, code)) for code in codes)


def ineligibility(
    programme: VoucherProgramme, org: Organisation, has_diagnosis: bool | None = None
) -> list[str]:
    """Why an organisation may not receive this programme's vouchers (empty: it may), as
    codes of ``INELIGIBLE``. The same rules as ``eligibility_filter``, one by one."""
    if org.kind is not OrgKind.ENTERPRISE:
        return ["not_enterprise"]
    reasons = []
    if programme.industry_codes and org.industry_code not in programme.industry_codes:
        reasons.append("industry")
    if programme.region_codes and org.region_code not in programme.region_codes:
        reasons.append("region")
    tier = org.size_tier
    if programme.size_tiers and (tier is None or tier.value not in programme.size_tiers):
        reasons.append("size_tier")
    revenue = org.annual_revenue_fen or 0
    if programme.min_revenue_fen is not None and revenue < programme.min_revenue_fen:
        reasons.append("revenue_low")
    if programme.max_revenue_fen is not None and revenue > programme.max_revenue_fen:
        reasons.append("revenue_high")
    if programme.diagnosis_required and not (
        _has_diagnosis(org.id) if has_diagnosis is None else has_diagnosis
    ):
        reasons.append("diagnosis")
    return reasons


def _has_diagnosis(org_id: int) -> bool:
    stmt = select(literal(1)).where(_diagnoses.c.enterprise_id == org_id).limit(1)
    return db.session.scalar(stmt) is not None


def _without_voucher(programme: VoucherProgramme) -> ColumnElement[bool]:
    return ~exists().where(
        Voucher.programme_id == programme.id, Voucher.enterprise_id == Organisation.id
    )


@dataclass(frozen=True)
class Preview:
    count: int
    total_fen: int
    remaining_fen: int
    sample: list[Organisation]
    by_size: list[tuple[str, int]]

    @property
    def fits(self) -> bool:
        return 0 < self.total_fen <= self.remaining_fen


def preview_batch(programme: VoucherProgramme) -> Preview:
    """Who would get a voucher now (eligible, holding none of this programme) and how much."""
    where = [*eligibility_filter(programme), _without_voucher(programme)]
    count = db.session.scalar(select(func.count(Organisation.id)).where(*where)) or 0
    tier = Organisation.size_tier
    by_size = db.session.execute(
        select(tier, func.count(Organisation.id)).where(*where).group_by(tier).order_by(tier)
    ).all()
    sample = list(
        db.session.scalars(select(Organisation).where(*where).order_by(Organisation.id).limit(20))
    )
    return Preview(
        count=count,
        total_fen=count * programme.face_value_fen,
        remaining_fen=programme.remaining_fen,
        sample=sample,
        by_size=[(str(t), n) for t, n in by_size],
    )


# --- issuing ----------------------------------------------------------------------------


def _claim_run(
    programme: VoucherProgramme, key: str, kind: str, actor: Actor
) -> tuple[IssueRun, bool]:
    """The run for this one-time key: ``(run, True)`` when it was already applied."""
    if not key or len(key) > 64:
        raise DomainError(_l("This form has expired. Reload the page and try again."))
    existing = db.session.scalar(select(IssueRun).where(IssueRun.key == key))
    if existing is None:
        run = IssueRun(programme_id=programme.id, key=key, kind=kind, created_by_id=actor.user_id)
        try:  # added inside the savepoint: a failed INSERT rolls back only that
            with db.session.begin_nested():
                db.session.add(run)
                db.session.flush()
            return run, False
        except IntegrityError:  # the same form, submitted twice at once: the first one won
            existing = db.session.scalar(select(IssueRun).where(IssueRun.key == key))
            if existing is None:
                raise DomainError(
                    _l("This form is already being processed. Reload the page.")
                ) from None
    if existing.programme_id != programme.id or existing.kind != kind:
        raise DomainError(_l("This form has expired. Reload the page and try again."))
    return existing, True


def _check_issuable(programme: VoucherProgramme) -> None:
    if programme.status is not ProgrammeStatus.OPEN:
        raise DomainError(_l("Vouchers are issued only while the programme is open."))
    today = local_today()
    if today < programme.issue_from:
        raise DomainError(_l("Issuing starts on %(date)s.", date=programme.issue_from.isoformat()))
    if today > programme.redeem_by:
        raise DomainError(_l("The programme's redeem-by date has passed."))


def _take_budget(programme: VoucherProgramme, total_fen: int) -> None:
    """Draw ``total_fen`` from the budget, or refuse: one conditional UPDATE, never more."""
    moved = db.session.execute(
        update(VoucherProgramme)
        .where(
            VoucherProgramme.id == programme.id,
            VoucherProgramme.status == ProgrammeStatus.OPEN,
            VoucherProgramme.issued_fen + total_fen <= VoucherProgramme.budget_fen,
        )
        .values(issued_fen=VoucherProgramme.issued_fen + total_fen)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(programme, ["issued_fen", "status", "budget_fen"])
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        if programme.status is not ProgrammeStatus.OPEN:
            raise DomainError(_l("Vouchers are issued only while the programme is open."))
        raise DomainError(
            _l(
                "The budget left (%(left)s) does not cover these vouchers (%(total)s).",
                left=format_fen(programme.remaining_fen),
                total=format_fen(total_fen),
            )
        )


def _issue(
    programme: VoucherProgramme, holders: Sequence[tuple[int, int]], run: IssueRun, actor: Actor
) -> int:
    """Issue one voucher to each ``(enterprise_id, seq)``: one budget update, one multi-row
    insert of vouchers and one INSERT … SELECT for their ledger entries."""
    if not holders:
        return 0
    total = len(holders) * programme.face_value_fen
    _take_budget(programme, total)
    now = utcnow()
    rows = [
        {
            "code": new_code(),
            "programme_id": programme.id,
            "enterprise_id": enterprise_id,
            "run_id": run.id,
            "seq": seq,
            "face_value_fen": programme.face_value_fen,
            "cap_fen": programme.cap_fen,
            "reserved_fen": 0,
            "redeemed_fen": 0,
            "settled_fen": 0,
            "expired_fen": 0,
            "clawed_back_fen": 0,
            "revoked_fen": 0,
            "status": VoucherStatus.ACTIVE,
            "issued_at": now,
        }
        for enterprise_id, seq in holders
    ]
    try:
        with db.session.begin_nested():
            db.session.execute(insert(Voucher), rows)
    except IntegrityError as exc:  # someone issued to the same enterprise at the same moment
        raise DomainError(
            _l("Vouchers were issued to some of these enterprises meanwhile. Try again.")
        ) from exc
    db.session.execute(
        insert(VoucherEntry).from_select(
            ["voucher_id", "kind", "amount_fen", "actor_user_id", "note", "at"],
            select(
                Voucher.id,
                literal(EntryKind.ISSUE.value),
                Voucher.face_value_fen,
                literal(actor.user_id),
                literal(""),
                literal(now, UTCDateTime()),
            ).where(Voucher.run_id == run.id),
        )
    )
    run.count += len(holders)
    run.total_fen += total
    return len(holders)


@atomic
def issue_batch(programme: VoucherProgramme, key: str, actor: Actor) -> IssueRun:
    """One voucher to every eligible enterprise that holds none of this programme yet."""
    run, done = _claim_run(programme, key, "batch", actor)
    if done:
        return run
    _check_issuable(programme)
    ids = db.session.scalars(
        select(Organisation.id)
        .where(*eligibility_filter(programme), _without_voucher(programme))
        .order_by(Organisation.id)
    ).all()
    if not ids:
        raise DomainError(_l("No eligible enterprise is waiting for a voucher."))
    _issue(programme, [(i, 1) for i in ids], run, actor)
    db.session.flush()
    audit.record(
        actor,
        "vouchers.issued",
        "programme",
        programme.id,
        kind="batch",
        count=run.count,
        total_fen=run.total_fen,
    )
    return run


def _next_seq(programme: VoucherProgramme, enterprise_id: int) -> int:
    held = db.session.scalar(
        select(func.coalesce(func.max(Voucher.seq), 0)).where(
            Voucher.programme_id == programme.id, Voucher.enterprise_id == enterprise_id
        )
    )
    seq = (held or 0) + 1
    if seq * programme.face_value_fen > programme.cap_fen:
        raise DomainError(
            _l(
                "This enterprise already holds the most this programme allows (%(cap)s).",
                cap=format_fen(programme.cap_fen),
            )
        )
    return seq


@atomic
def issue_one(
    programme: VoucherProgramme, credit_code: str, key: str, actor: Actor
) -> tuple[IssueRun, Voucher]:
    run, done = _claim_run(programme, key, "single", actor)
    if not done:
        _check_issuable(programme)
        org = db.session.scalar(
            select(Organisation).where(Organisation.credit_code == credit_code.strip().upper())
        )
        if org is None or org.kind is not OrgKind.ENTERPRISE:
            raise DomainError(_l("No enterprise has this credit code."), field="credit_code")
        reasons = ineligibility(programme, org)
        if reasons:
            raise DomainError(
                _l("Not eligible: %(reasons)s.", reasons=describe(reasons)), field="credit_code"
            )
        _issue(programme, [(org.id, _next_seq(programme, org.id))], run, actor)
        audit.record(
            actor, "vouchers.issued", "programme", programme.id, kind="single", enterprise_id=org.id
        )
    voucher = db.session.scalars(select(Voucher).where(Voucher.run_id == run.id)).one()
    return run, voucher


MAX_CSV_ROWS = 5_000
MAX_CSV_BYTES = 1_000_000
CODE_HEADERS = {"credit_code", "统一社会信用代码", "信用代码", "code"}
NAME_HEADERS = {"name", "企业名称", "名称", "enterprise"}


@dataclass(frozen=True)
class CsvRow:
    line: int
    credit_code: str
    name: str


def parse_csv(raw: bytes) -> list[CsvRow]:
    """Rows of a CSV list of enterprises: a header naming the credit-code and name columns,
    UTF-8 (with or without BOM) or GBK, at most ``MAX_CSV_ROWS`` rows."""
    import csv
    import io

    if len(raw) > MAX_CSV_BYTES:
        raise DomainError(
            _l("The file is too large (at most %(n)d rows).", n=MAX_CSV_ROWS), field="file"
        )
    for encoding in ("utf-8-sig", "gbk"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError(_l("Save the file as UTF-8 or GBK text (CSV)."), field="file")
    if "\x00" in text:
        raise DomainError(_l("Save the file as UTF-8 or GBK text (CSV)."), field="file")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise DomainError(_l("The file is empty."), field="file") from None
    code_at = next((i for i, h in enumerate(header) if h in CODE_HEADERS), None)
    name_at = next((i for i, h in enumerate(header) if h in NAME_HEADERS), None)
    if code_at is None or name_at is None:
        raise DomainError(
            _l(
                "The first row must name the columns: credit_code and name (统一社会信用代码, 企业名称)."
            ),
            field="file",
        )
    rows: list[CsvRow] = []
    try:
        for number, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_CSV_ROWS:
                raise DomainError(
                    _l("The file has more than %(n)d rows; split it.", n=MAX_CSV_ROWS), field="file"
                )
            rows.append(CsvRow(number, _cell(record, code_at).upper(), _cell(record, name_at)))
    except csv.Error:
        raise DomainError(_l("The file is not a readable CSV."), field="file") from None
    if not rows:
        raise DomainError(_l("The file has no rows below its header."), field="file")
    return rows


def _cell(record: list[str], at: int) -> str:
    return record[at].strip() if at < len(record) else ""


@atomic
def import_csv(programme: VoucherProgramme, raw: bytes, key: str, actor: Actor) -> IssueRun:
    """Issue one voucher to each eligible enterprise of the list, with a report per row:
    issued, not eligible (why), unknown code, duplicate."""
    run, done = _claim_run(programme, key, "csv", actor)
    if done:
        return run
    _check_issuable(programme)
    rows = parse_csv(raw)
    codes = {row.credit_code for row in rows}
    orgs = {
        org.credit_code: org
        for org in db.session.scalars(
            select(Organisation).where(
                Organisation.credit_code.in_(codes), Organisation.kind == OrgKind.ENTERPRISE
            )
        )
    }
    holding = set(
        db.session.scalars(
            select(Voucher.enterprise_id).where(
                Voucher.programme_id == programme.id,
                Voucher.enterprise_id.in_([o.id for o in orgs.values()]),
            )
        )
    )
    diagnosed: set[int] = set()
    if programme.diagnosis_required and orgs:
        diagnosed = set(
            db.session.scalars(
                select(_diagnoses.c.enterprise_id).where(
                    _diagnoses.c.enterprise_id.in_([o.id for o in orgs.values()])
                )
            )
        )
    seen: set[str] = set()
    report: list[dict[str, Any]] = []
    holders: list[tuple[int, int]] = []
    for row in rows:
        entry: dict[str, Any] = {"line": row.line, "credit_code": row.credit_code, "name": row.name}
        org = orgs.get(row.credit_code)
        if row.credit_code in seen:
            entry["result"] = "duplicate"
        elif org is None:
            entry["result"] = "unknown"
        elif org.id in holding:
            entry["result"] = "duplicate"
            entry["reasons"] = ["holds_voucher"]
        else:
            reasons = ineligibility(programme, org, has_diagnosis=org.id in diagnosed)
            if reasons:
                entry["result"] = "not_eligible"
                entry["reasons"] = reasons
            else:
                entry["result"] = "issued"
                entry["enterprise"] = org.name
                holders.append((org.id, 1))
        seen.add(row.credit_code)
        report.append(entry)
    _issue(programme, holders, run, actor)
    run.report = report
    db.session.flush()
    audit.record(
        actor,
        "vouchers.issued",
        "programme",
        programme.id,
        kind="csv",
        rows=len(rows),
        count=run.count,
        total_fen=run.total_fen,
    )
    return run


@atomic
def apply_for(
    programme: VoucherProgramme, enterprise: Organisation, note: str, actor: Actor
) -> VoucherApplication:
    if programme.status is not ProgrammeStatus.OPEN:
        raise DomainError(_l("This programme is not taking applications."))
    reasons = ineligibility(programme, enterprise)
    if reasons:
        raise DomainError(_l("Not eligible: %(reasons)s.", reasons=describe(reasons)))
    _next_seq(programme, enterprise.id)  # refuses when the cap is reached
    application = VoucherApplication(
        programme_id=programme.id,
        enterprise_id=enterprise.id,
        status=ApplicationStatus.PENDING,
        note=note.strip()[:1000],
    )
    try:  # added inside the savepoint: a failed INSERT rolls back only that
        with db.session.begin_nested():
            db.session.add(application)
            db.session.flush()
    except IntegrityError:
        raise DomainError(_l("You already applied; the agency is deciding.")) from None
    audit.record(actor, "voucher.applied", "programme", programme.id, application_id=application.id)
    return application


@atomic
def decide_application(
    application: VoucherApplication, approve: bool, reason: str, actor: Actor
) -> None:
    if application.status is not ApplicationStatus.PENDING:
        raise DomainError(_l("This application has already been decided."))
    reason = reason.strip()
    if not approve and not reason:
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    moved = db.session.execute(
        update(VoucherApplication)
        .where(
            VoucherApplication.id == application.id,
            VoucherApplication.status == ApplicationStatus.PENDING,
        )
        .values(
            status=ApplicationStatus.APPROVED if approve else ApplicationStatus.REJECTED,
            reason=reason,
            decided_by_id=actor.user_id,
            decided_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This application has already been decided."))
    programme = application.programme
    if approve:
        assert application.enterprise.credit_code is not None
        _run, voucher = issue_one(
            # ":" never appears in a form's key, so no form can take this one
            programme,
            application.enterprise.credit_code,
            f"application:{application.id}",
            actor,
        )
        db.session.execute(
            update(VoucherApplication)
            .where(VoucherApplication.id == application.id)
            .values(voucher_id=voucher.id)
            .execution_options(synchronize_session=False)
        )
    db.session.refresh(application)
    audit.record(
        actor,
        "voucher.application_approved" if approve else "voucher.application_rejected",
        "programme",
        programme.id,
        application_id=application.id,
        reason=reason,
    )


def count_pending_applications(agency: Organisation) -> int:
    stmt = (
        select(func.count(VoucherApplication.id))
        .join(VoucherProgramme, VoucherProgramme.id == VoucherApplication.programme_id)
        .where(
            VoucherProgramme.agency_id == agency.id,
            VoucherApplication.status == ApplicationStatus.PENDING,
        )
    )
    return int(db.session.scalar(stmt) or 0)


def pending_applications(programme: VoucherProgramme) -> list[VoucherApplication]:
    stmt = (
        select(VoucherApplication)
        .where(
            VoucherApplication.programme_id == programme.id,
            VoucherApplication.status == ApplicationStatus.PENDING,
        )
        .order_by(VoucherApplication.id)
    )
    return list(db.session.scalars(stmt))


@atomic
def revoke(voucher: Voucher, reason: str, actor: Actor) -> None:
    """Take back a voucher nothing of which is reserved or redeemed; its value returns to the
    programme's budget."""
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    left = AVAILABLE
    moved = db.session.execute(
        update(Voucher)
        .where(
            Voucher.id == voucher.id,
            Voucher.status == VoucherStatus.ACTIVE,
            Voucher.reserved_fen == 0,
            Voucher.redeemed_fen == 0,
            left > 0,
        )
        .values(
            status=VoucherStatus.REVOKED,
            revoked_fen=Voucher.revoked_fen + left,
            revoke_reason=reason,
        )
        .returning(Voucher.revoked_fen)
        .execution_options(synchronize_session=False)
    ).scalar()
    if moved is None:
        db.session.refresh(voucher)
        if voucher.status is not VoucherStatus.ACTIVE:
            raise DomainError(_l("Only an active voucher can be revoked."))
        raise DomainError(
            _l("This voucher is in use (reserved or redeemed) and cannot be revoked.")
        )
    amount = int(moved)
    returned = db.session.execute(
        update(VoucherProgramme)
        .where(VoucherProgramme.id == voucher.programme_id, VoucherProgramme.issued_fen >= amount)
        .values(issued_fen=VoucherProgramme.issued_fen - amount)
        .execution_options(synchronize_session=False)
    )
    assert returned.rowcount == 1  # type: ignore[attr-defined]
    ledger_entry(voucher.id, EntryKind.REVOKE, amount, actor, note=reason)
    db.session.refresh(voucher)
    db.session.refresh(voucher.programme)
    audit.record(actor, "voucher.revoked", "voucher", voucher.id, reason=reason, amount_fen=amount)


def ledger_entry(
    voucher_id: int,
    kind: EntryKind,
    amount_fen: int,
    actor: Actor,
    reservation_id: int | None = None,
    settlement_id: int | None = None,
    note: str = "",
) -> None:
    db.session.add(
        VoucherEntry(
            voucher_id=voucher_id,
            kind=kind,
            amount_fen=amount_fen,
            reservation_id=reservation_id,
            settlement_id=settlement_id,
            actor_user_id=actor.user_id,
            note=note,
        )
    )


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


def vouchers_of(enterprise: Organisation) -> list[Voucher]:
    stmt = (
        select(Voucher)
        .where(Voucher.enterprise_id == enterprise.id)
        .order_by(Voucher.status, Voucher.id.desc())
    )
    return list(db.session.scalars(stmt))


def voucher_for(org: Organisation, voucher_id: int) -> Voucher:
    """A voucher its holder or its programme's agency may see; anyone else: not found."""
    voucher = db.session.get(Voucher, voucher_id)
    if voucher is None or org.id not in (voucher.enterprise_id, voucher.programme.agency_id):
        raise NotFound(_l("Not found."))
    return voucher


def entries_of(voucher: Voucher) -> list[VoucherEntry]:
    stmt = (
        select(VoucherEntry).where(VoucherEntry.voucher_id == voucher.id).order_by(VoucherEntry.id)
    )
    return list(db.session.scalars(stmt))


def open_programmes_for(enterprise: Organisation) -> list[tuple[VoucherProgramme, list[str]]]:
    """Open programmes, each with the reasons this enterprise is not eligible (if any)."""
    stmt = select(VoucherProgramme).where(VoucherProgramme.status == ProgrammeStatus.OPEN)
    return [
        (p, ineligibility(p, enterprise))
        for p in db.session.scalars(stmt.order_by(VoucherProgramme.id))
    ]


def applications_of(enterprise: Organisation) -> list[VoucherApplication]:
    stmt = (
        select(VoucherApplication)
        .where(VoucherApplication.enterprise_id == enterprise.id)
        .order_by(VoucherApplication.id.desc())
    )
    return list(db.session.scalars(stmt))


# --- spending ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LineClaim:
    """What the orders domain tells vouchers about one line it is about to order."""

    key: int
    provider_id: int
    amount_fen: int
    plan_kind: str
    category_code: str | None  # None for an integration fee
    integrator_id: int | None = None  # the curated bundle's integrator, when ordered whole
    is_integration: bool = False
    success_fee: bool = False  # an outcome contract's fee, paid only where the rules allow


@dataclass
class Share:
    voucher: Voucher
    amount_fen: int


@dataclass
class LineSubsidy:
    claim: LineClaim
    programme: VoucherProgramme | None = None
    shares: list[Share] = field(default_factory=list)

    @property
    def subsidy_fen(self) -> int:
        return sum(s.amount_fen for s in self.shares)

    @property
    def copay_fen(self) -> int:
        return self.claim.amount_fen - self.subsidy_fen


def spendable(enterprise_id: int, today: date | None = None) -> list[Voucher]:
    today = today or local_today()
    stmt = (
        select(Voucher)
        .join(VoucherProgramme, VoucherProgramme.id == Voucher.programme_id)
        .where(
            Voucher.enterprise_id == enterprise_id,
            Voucher.status == VoucherStatus.ACTIVE,
            AVAILABLE > 0,
            VoucherProgramme.status != ProgrammeStatus.DRAFT,
            VoucherProgramme.redeem_by >= today,
        )
        .options(selectinload(Voucher.programme).selectinload(VoucherProgramme.integrators))
        .order_by(VoucherProgramme.redeem_by, Voucher.id)
    )
    return list(db.session.scalars(stmt))


def _admitted(agency_ids: Iterable[int], provider_ids: Iterable[int]) -> dict[int, set[int]]:
    """Which of these providers each agency's pool admits (not the whole pool: a thousand
    rows for every checkout at 100x)."""
    admitted: dict[int, set[int]] = defaultdict(set)
    rows = db.session.execute(
        select(PoolMembership.agency_id, PoolMembership.provider_id).where(
            PoolMembership.agency_id.in_(list(agency_ids)),
            PoolMembership.provider_id.in_(list(provider_ids)),
            PoolMembership.status == PoolStatus.ADMITTED,
        )
    )
    for agency_id, provider_id in rows:
        admitted[agency_id].add(provider_id)
    return admitted


def _used_under_cap(enterprise_id: int, programme_ids: Iterable[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(Voucher.programme_id, func.sum(Voucher.reserved_fen + Voucher.redeemed_fen))
        .where(
            Voucher.enterprise_id == enterprise_id, Voucher.programme_id.in_(list(programme_ids))
        )
        .group_by(Voucher.programme_id)
    )
    return {pid: int(used or 0) for pid, used in rows}


def applies(programme: VoucherProgramme, claim: LineClaim, admitted: set[int]) -> bool:
    """Whether a programme's vouchers may pay towards this line."""
    if programme.plan_kinds and claim.plan_kind not in programme.plan_kinds:
        return False
    if claim.success_fee and not programme.covers_success_fees:
        return False
    if programme.mode is ProgrammeMode.INTEGRATOR:
        appointed = {i.id for i in programme.integrators}
        if claim.integrator_id is None or claim.integrator_id not in appointed:
            return False
        return (
            claim.is_integration
            or not programme.category_codes
            or (claim.category_code in programme.category_codes)
        )
    if claim.is_integration or claim.provider_id not in admitted:
        return False
    return not programme.category_codes or claim.category_code in programme.category_codes


def plan(enterprise_id: int, claims: Sequence[LineClaim]) -> list[LineSubsidy]:
    """Which vouchers pay how much of each line: per line the one programme that pays most,
    drawing on its vouchers that expire first. A line's subsidy is the smallest of rate ×
    amount, the vouchers' available balance and what is left under the enterprise's cap."""
    vouchers = spendable(enterprise_id)
    result = [LineSubsidy(claim) for claim in claims]
    if not vouchers:
        return result
    programmes = {v.programme_id: v.programme for v in vouchers}
    admitted = _admitted(
        {p.agency_id for p in programmes.values()}, {c.provider_id for c in claims}
    )
    used = _used_under_cap(enterprise_id, programmes)
    cap_left = {pid: p.cap_fen - used.get(pid, 0) for pid, p in programmes.items()}
    left = {v.id: v.available_fen for v in vouchers}
    for line in result:
        claim = line.claim
        best: tuple[int, VoucherProgramme] | None = None
        for programme in programmes.values():
            if not applies(programme, claim, admitted[programme.agency_id]):
                continue
            pool = sum(left[v.id] for v in vouchers if v.programme_id == programme.id)
            could = min(
                subsidy_for(claim.amount_fen, programme.rate_bp), pool, cap_left[programme.id]
            )
            if could > 0 and (best is None or could > best[0]):
                best = (could, programme)
        if best is None:
            continue
        want, programme = best
        line.programme = programme
        for voucher in vouchers:
            if want == 0:
                break
            if voucher.programme_id != programme.id or left[voucher.id] == 0:
                continue
            take = min(want, left[voucher.id])
            line.shares.append(Share(voucher, take))
            left[voucher.id] -= take
            want -= take
        cap_left[programme.id] -= line.subsidy_fen
    return result


def reserve(
    subsidies: Sequence[LineSubsidy], line_ids: dict[int, int], enterprise_id: int, actor: Actor
) -> int:
    """Set the planned amounts aside for the order lines (``claim.key`` → order line id).

    Each amount is one conditional UPDATE; if a balance no longer covers it, the whole
    checkout fails (the caller's transaction rolls back) rather than reserving less than the
    enterprise was shown."""
    total = 0
    for line in subsidies:
        for share in line.shares:
            moved = db.session.execute(
                update(Voucher)
                .where(
                    Voucher.id == share.voucher.id,
                    Voucher.enterprise_id == enterprise_id,
                    Voucher.status == VoucherStatus.ACTIVE,
                    share.amount_fen <= AVAILABLE,
                )
                .values(reserved_fen=Voucher.reserved_fen + share.amount_fen)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise DomainError(
                    _l(
                        "A voucher's balance changed while you were ordering. Review the"
                        " subsidy and order again."
                    )
                )
            reservation = Reservation(
                voucher_id=share.voucher.id,
                programme_id=share.voucher.programme_id,
                order_line_id=line_ids[line.claim.key],
                provider_id=line.claim.provider_id,
                enterprise_id=enterprise_id,
                amount_fen=share.amount_fen,
                line_amount_fen=line.claim.amount_fen,
                is_integration=line.claim.is_integration,
                for_success_fee=line.claim.success_fee,
                status=ReservationStatus.RESERVED,
            )
            db.session.add(reservation)
            db.session.flush()
            ledger_entry(
                share.voucher.id, EntryKind.RESERVE, share.amount_fen, actor, reservation.id
            )
            audit.record(
                actor,
                "vouchers.reserved",
                "voucher",
                share.voucher.id,
                amount_fen=share.amount_fen,
                order_line_id=reservation.order_line_id,
            )
            total += share.amount_fen
    for line in subsidies:
        for share in line.shares:
            db.session.expire(share.voucher)
    return total


def reservations_for_lines(line_ids: Sequence[int]) -> dict[int, list[Reservation]]:
    found: dict[int, list[Reservation]] = defaultdict(list)
    if not line_ids:
        return found
    stmt = (
        select(Reservation)
        .where(Reservation.order_line_id.in_(list(line_ids)))
        .order_by(Reservation.id)
    )
    for reservation in db.session.scalars(stmt):
        found[reservation.order_line_id].append(reservation)
    return found


def move_reservation(
    reservation: Reservation,
    before: ReservationStatus,
    after: ReservationStatus,
    *where: ColumnElement[bool],
    **values: Any,
) -> bool:
    moved = db.session.execute(
        update(Reservation)
        .where(Reservation.id == reservation.id, Reservation.status == before, *where)
        .values(status=after, **values)
        .execution_options(synchronize_session=False)
    )
    return moved.rowcount == 1  # type: ignore[attr-defined]


def _unreserve(reservation: Reservation, actor: Actor, note: str) -> int:
    if not move_reservation(reservation, ReservationStatus.RESERVED, ReservationStatus.RELEASED):
        return 0
    moved = db.session.execute(
        update(Voucher)
        .where(Voucher.id == reservation.voucher_id, Voucher.reserved_fen >= reservation.amount_fen)
        .values(reserved_fen=Voucher.reserved_fen - reservation.amount_fen)
        .execution_options(synchronize_session=False)
    )
    assert moved.rowcount == 1  # type: ignore[attr-defined]
    ledger_entry(
        reservation.voucher_id,
        EntryKind.RELEASE,
        reservation.amount_fen,
        actor,
        reservation.id,
        note=note,
    )
    return reservation.amount_fen


def pay_success_fee(claim: LineClaim, line_id: int, enterprise_id: int, actor: Actor) -> int:
    """A met contract's success fee: the vouchers' share (where a programme covers success
    fees) is reserved and, the result being verified, redeemed at once. Returns the share."""
    subsidies = plan(enterprise_id, [claim])
    if not subsidies[0].subsidy_fen:
        return 0
    reserve(subsidies, {claim.key: line_id}, enterprise_id, actor)
    share = 0
    for reservation in reservations_for_lines([line_id])[line_id]:
        if reservation.for_success_fee and reservation.status is ReservationStatus.RESERVED:
            share += reservation.amount_fen
    redeem_line(line_id, Delivery(utcnow(), None, None), actor, success_fee=True)
    return share


def _bill_shortfall(released: Reservation, actor: Actor) -> None:
    """If an invoice of the line already counted on the money just released, the enterprise
    owes it after all."""
    backed = sum(
        r.amount_fen
        for r in reservations_for_lines([released.order_line_id])[released.order_line_id]
        if r.id != released.id
        and not r.for_success_fee
        and r.status in (ReservationStatus.RESERVED, ReservationStatus.REDEEMED)
    )
    payments.bill_voucher_shortfall(
        released.order_line_id, released.provider_id, released.enterprise_id, backed, actor
    )


def release_line(line_id: int, actor: Actor, note: str = "") -> int:
    """Give back what a rejected or cancelled line had reserved."""
    released = 0
    for reservation in reservations_for_lines([line_id])[line_id]:
        released += _unreserve(reservation, actor, note)
    for reservation in reservations_for_lines([line_id])[line_id]:
        db.session.expire(reservation)
        db.session.expire(reservation.voucher)
    if released:
        audit.record(actor, "vouchers.released", "order_line", line_id, amount_fen=released)
    return released


@dataclass(frozen=True)
class Delivery:
    """Facts about the line's delivery the risk checks need (told by the orders domain)."""

    placed_at: datetime
    delivered_at: datetime | None
    go_live_days: int | None


# Risk rules: delivery in under a quarter of the stated go-live time is implausible; five or
# more redemptions of the same amount for one provider within a week look manufactured.
FAST_DELIVERY_SHARE = 0.25
REPEATED_AMOUNT_COUNT = 5
REPEATED_AMOUNT_WINDOW = timedelta(days=7)


def redeem_line(line_id: int, delivery: Delivery, actor: Actor, success_fee: bool = False) -> int:
    """Acceptance (验收): what the line had reserved is spent. Risk checks may hold it for
    review before it can be settled to the provider."""
    redeemed = 0
    now = utcnow()
    today = local_today()
    for reservation in reservations_for_lines([line_id])[line_id]:
        if reservation.for_success_fee != success_fee:
            continue
        if reservation.voucher.programme.redeem_by < today:  # too late: the money goes back
            _unreserve(reservation, actor, note="redeem-by date passed")
            _bill_shortfall(reservation, actor)
            continue
        if not move_reservation(
            reservation, ReservationStatus.RESERVED, ReservationStatus.REDEEMED, redeemed_at=now
        ):
            continue
        moved = db.session.execute(
            update(Voucher)
            .where(
                Voucher.id == reservation.voucher_id,
                Voucher.reserved_fen >= reservation.amount_fen,
            )
            .values(
                reserved_fen=Voucher.reserved_fen - reservation.amount_fen,
                redeemed_fen=Voucher.redeemed_fen + reservation.amount_fen,
            )
            .execution_options(synchronize_session=False)
        )
        assert moved.rowcount == 1  # type: ignore[attr-defined]
        ledger_entry(
            reservation.voucher_id, EntryKind.REDEEM, reservation.amount_fen, actor, reservation.id
        )
        db.session.expire(reservation)
        db.session.expire(reservation.voucher)
        _flag_risks(reservation, delivery)
        redeemed += reservation.amount_fen
    if redeemed:
        audit.record(actor, "vouchers.redeemed", "order_line", line_id, amount_fen=redeemed)
    return redeemed


def _same(a: str | None, b: str | None, normalise: Any = None) -> bool:
    if not a or not b:
        return False
    normalise = normalise or (lambda s: "".join(s.split()).lower())
    return bool(normalise(a)) and normalise(a) == normalise(b)


def _digits(text: str) -> str:
    digits = "".join(c for c in text if c.isdigit())
    return digits[-11:] if len(digits) >= 7 else ""  # the subscriber number, without +86


def _flag_risks(reservation: Reservation, delivery: Delivery) -> None:
    enterprise, provider = reservation.enterprise, reservation.provider
    found: list[tuple[RiskReason, str]] = []
    if _same(enterprise.contact_phone, provider.contact_phone, _digits):
        found.append((RiskReason.SHARED_PHONE, provider.contact_phone or ""))
    if _same(enterprise.address, provider.address):
        found.append((RiskReason.SHARED_ADDRESS, provider.address or ""))
    if _same(enterprise.legal_representative, provider.legal_representative):
        found.append((RiskReason.SHARED_LEGAL_REPRESENTATIVE, provider.legal_representative or ""))
    if _same(enterprise.bank_account, provider.bank_account):
        found.append((RiskReason.SHARED_BANK_ACCOUNT, provider.bank_account or ""))
    if delivery.go_live_days and delivery.delivered_at is not None:
        took = delivery.delivered_at - delivery.placed_at
        if took < timedelta(days=delivery.go_live_days * FAST_DELIVERY_SHARE):
            hours = int(took.total_seconds() // 3600)
            found.append((RiskReason.FAST_DELIVERY, f"{hours} h / {delivery.go_live_days} d"))
    alike = (
        db.session.scalar(
            select(func.count(Reservation.id)).where(
                Reservation.provider_id == reservation.provider_id,
                Reservation.amount_fen == reservation.amount_fen,
                Reservation.status == ReservationStatus.REDEEMED,
                Reservation.redeemed_at >= utcnow() - REPEATED_AMOUNT_WINDOW,
            )
        )
        or 0
    )
    if alike >= REPEATED_AMOUNT_COUNT:
        found.append(
            (RiskReason.REPEATED_AMOUNTS, f"{alike} × {format_fen(reservation.amount_fen)}")
        )
    for reason, detail in found:
        db.session.add(
            RiskFlag(
                reservation_id=reservation.id, reason=reason, detail=detail, status=FlagStatus.OPEN
            )
        )
    if found:
        db.session.execute(
            update(Reservation)
            .where(Reservation.id == reservation.id)
            .values(held=True)
            .execution_options(synchronize_session=False)
        )


def expire_due(actor: Actor, today: date | None = None) -> tuple[int, int]:
    """After a programme's redeem-by date: release unredeemed reservations, then expire what
    is left of each voucher. Returns (vouchers expired, fen released). Run daily."""
    today = today or local_today()
    due = select(VoucherProgramme.id).where(VoucherProgramme.redeem_by < today)
    released = 0
    stmt = select(Reservation).where(
        Reservation.status == ReservationStatus.RESERVED, Reservation.programme_id.in_(due)
    )
    for reservation in db.session.scalars(stmt).all():
        released += _unreserve(reservation, actor, note="redeem-by date passed")
        _bill_shortfall(reservation, actor)
    rows = db.session.execute(
        update(Voucher)
        .where(
            Voucher.status == VoucherStatus.ACTIVE,
            Voucher.reserved_fen == 0,
            Voucher.programme_id.in_(due),
        )
        .values(status=VoucherStatus.EXPIRED, expired_fen=Voucher.expired_fen + AVAILABLE)
        .returning(Voucher.id, Voucher.expired_fen)
        .execution_options(synchronize_session=False)
    ).all()
    for voucher_id, expired in rows:
        if expired:
            ledger_entry(
                voucher_id, EntryKind.EXPIRE, int(expired), actor, note="redeem-by date passed"
            )
    db.session.expire_all()
    if rows:
        audit.record(
            actor, "vouchers.expired", "voucher", None, count=len(rows), released_fen=released
        )
    return len(rows), released


@dataclass(frozen=True)
class Totals:
    vouchers: int
    holders: int
    issued_fen: int
    reserved_fen: int
    redeemed_fen: int
    settled_fen: int
    expired_fen: int
    clawed_back_fen: int
    available_fen: int
    integration_fen: int  # the part of redeemed money that paid integration fees


def totals(programme: VoucherProgramme) -> Totals:
    row = db.session.execute(
        select(
            func.count(Voucher.id),
            func.count(func.distinct(Voucher.enterprise_id)),
            func.coalesce(func.sum(Voucher.face_value_fen - Voucher.revoked_fen), 0),
            func.coalesce(func.sum(Voucher.reserved_fen), 0),
            func.coalesce(func.sum(Voucher.redeemed_fen), 0),
            func.coalesce(func.sum(Voucher.settled_fen), 0),
            func.coalesce(func.sum(Voucher.expired_fen), 0),
            func.coalesce(func.sum(Voucher.clawed_back_fen), 0),
            func.coalesce(
                func.sum(case((Voucher.status == VoucherStatus.ACTIVE, AVAILABLE), else_=0)), 0
            ),
        ).where(Voucher.programme_id == programme.id)
    ).one()
    integration = db.session.scalar(
        select(func.coalesce(func.sum(Reservation.amount_fen), 0)).where(
            Reservation.programme_id == programme.id,
            Reservation.status == ReservationStatus.REDEEMED,
            Reservation.is_integration.is_(True),
        )
    )
    n, holders, issued, reserved, redeemed, settled, expired, clawed, available = (
        int(x) for x in row
    )
    return Totals(
        vouchers=n,
        holders=holders,
        issued_fen=issued,
        reserved_fen=reserved,
        redeemed_fen=redeemed,
        settled_fen=settled,
        expired_fen=expired,
        clawed_back_fen=clawed,
        available_fen=available,
        integration_fen=int(integration or 0),
    )
