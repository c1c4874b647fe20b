"""What waits in vouchers: an enterprise's vouchers about to expire with money left; an
official's voucher applications to decide, settlements, voucher batches and claw-backs waiting
for a second official (never the official's own proposals: four eyes), approved settlements
whose transfer is to be recorded, and held redemptions to review. And the reminder to the
holder before a voucher with money left expires."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import joinedload

from marketplace import notifications, todos
from marketplace.accounts.models import Organisation, User
from marketplace.db import db, local_today
from marketplace.money import format_fen
from marketplace.todos import Todo
from marketplace.vouchers import admission, cap_holds
from marketplace.vouchers.models import (
    AVAILABLE,
    ApplicationStatus,
    CapHold,
    CapHoldStatus,
    ClawBack,
    ClawBackStatus,
    FlagStatus,
    IssueRun,
    Reservation,
    RiskFlag,
    RunStatus,
    Settlement,
    SettlementStatus,
    Voucher,
    VoucherApplication,
    VoucherProgramme,
    VoucherStatus,
)

VOUCHER_EXPIRING = "voucher_expiring"
notifications.register_kinds(
    {
        VOUCHER_EXPIRING: _l(
            "Voucher %(code)s (%(programme)s) still has %(amount)s and can be spent until"
            " %(by)s: order before then, or the rest expires."
        ),
    },
    deadline=[VOUCHER_EXPIRING],
    group="money",
)


def _expiring(within_days: int, today: date) -> list[ColumnElement[bool]]:
    """Active vouchers with money left whose programme's redeem-by date is near."""
    return [
        Voucher.status == VoucherStatus.ACTIVE,
        AVAILABLE > 0,
        VoucherProgramme.redeem_by >= today,
        VoucherProgramme.redeem_by <= today + timedelta(days=within_days),
    ]


def for_enterprise(enterprise: Organisation, within_days: int) -> list[Todo]:
    today = local_today()
    stmt = (
        select(Voucher)
        .join(VoucherProgramme, VoucherProgramme.id == Voucher.programme_id)
        .where(Voucher.enterprise_id == enterprise.id, *_expiring(within_days, today))
    )
    return [
        Todo(
            "voucher_expiring",
            _l("Spend the voucher before it expires"),
            f"{v.code} · {v.programme.name} · {format_fen(v.available_fen)}",
            f"/vouchers/{v.id}",
            v.issued_at,
            v.programme.redeem_by,
        )
        for v in db.session.scalars(stmt)
    ]


def _in_agency(stmt: Select[Any], programme_id: Any, agency: Organisation, *where: Any) -> Any:
    """``stmt``'s rows in the agency's programmes (by ``programme_id``) that meet ``where``."""
    return stmt.join(VoucherProgramme, VoucherProgramme.id == programme_id).where(
        VoucherProgramme.agency_id == agency.id, *where
    )


def _todos(stmt: Select[Any], item: Callable[[Any], Todo]) -> list[Todo]:
    return [item(row) for row in db.session.scalars(stmt)]


def _for_a_second_official(model: Any, proposed: Any, agency: Organisation, official: User) -> Any:
    """The agency's ``proposed`` rows of ``model`` waiting for an official who did not propose
    them (four eyes)."""
    return _in_agency(
        select(model),
        model.programme_id,
        agency,
        model.status == proposed,
        model.proposed_by_id.is_distinct_from(official.id),
    )


def for_official(agency: Organisation, official: User) -> list[Todo]:
    found = _todos(
        _in_agency(
            select(VoucherApplication),
            VoucherApplication.programme_id,
            agency,
            VoucherApplication.status == ApplicationStatus.PENDING,
        ),
        lambda a: Todo(
            "voucher_application",
            _l("Decide the voucher application"),
            f"{a.enterprise.name} · {a.programme.name}",
            f"/agency/programmes/{a.programme_id}",
            a.created_at,
        ),
    )
    settlements = _in_agency(
        select(Settlement),
        Settlement.programme_id,
        agency,
        Settlement.status.in_((SettlementStatus.DRAFT, SettlementStatus.APPROVED)),
    )
    for s in db.session.scalars(settlements):
        if s.status is SettlementStatus.DRAFT:
            if s.created_by_id == official.id:
                continue  # the proposer waits for a second official
            kind, action = "settlement_draft", _l("Approve or cancel the settlement")
        else:
            kind, action = "settlement_approved", _l("Record the settlement's bank transfer")
        found.append(
            Todo(
                kind,
                action,
                f"{s.number} · {s.provider.name} · {format_fen(s.total_fen)}",
                f"/settlements/{s.id}",
                s.approved_at or s.created_at,
            )
        )
    found += _todos(
        _for_a_second_official(IssueRun, RunStatus.PROPOSED, agency, official).options(
            joinedload(IssueRun.programme)
        ),
        lambda run: Todo(
            "batch_proposed",
            _l("Approve or cancel the voucher batch"),
            f"{run.programme.name} · {run.count} · {format_fen(run.total_fen)}",
            f"/agency/programmes/{run.programme_id}/runs/{run.id}",
            run.created_at,
        ),
    )
    found += _todos(
        _for_a_second_official(ClawBack, ClawBackStatus.PROPOSED, agency, official),
        lambda c: Todo(
            "clawback_proposed",
            _l("Approve or reject the claw-back"),
            f"{c.programme.name} · {format_fen(c.amount_fen)}",
            "/agency/risk-flags",
            c.created_at,
        ),
    )
    found += _todos(
        _in_agency(
            select(CapHold),
            CapHold.programme_id,
            agency,
            CapHold.status == CapHoldStatus.PENDING,
            cap_holds.still_reserved(),
        ),
        lambda h: Todo(
            "cap_hold",
            _l("Approve or decline the order held by a share cap"),
            f"{h.order_number} · {h.provider.name} · {format_fen(h.amount_fen)}",
            f"/agency/programmes/{h.programme_id}/cap-holds",
            h.created_at,
        ),
    )
    # Held redemptions nobody proposed a claw-back of yet (one proposed waits above).
    proposed = exists().where(
        ClawBack.reservation_id == RiskFlag.reservation_id,
        ClawBack.status == ClawBackStatus.PROPOSED,
    )
    found += _todos(
        _in_agency(
            select(RiskFlag).join(Reservation, Reservation.id == RiskFlag.reservation_id),
            Reservation.programme_id,
            agency,
            RiskFlag.status == FlagStatus.OPEN,
            ~proposed,
        ),
        lambda flag: Todo(
            "risk_flag",
            _l("Review the redemption held by a risk flag"),
            f"{flag.reason.label} · {format_fen(flag.reservation.amount_fen)}",
            "/agency/risk-flags",
            flag.created_at,
        ),
    )
    return found


# --- the reminder before a voucher with money left expires ----------------------------------


def due_for_expiry_reminder(within_days: int, today: date | None = None) -> list[int]:
    today = today or local_today()
    stmt = (
        select(Voucher.id)
        .join(VoucherProgramme, VoucherProgramme.id == Voucher.programme_id)
        .where(
            *_expiring(within_days, today),
            todos.not_reminded(VOUCHER_EXPIRING, Voucher.id, VoucherProgramme.redeem_by),
        )
    )
    return list(db.session.scalars(stmt.order_by(Voucher.id)))


def remind_expiry(voucher_id: int, within_days: int, today: date | None = None) -> bool:
    today = today or local_today()
    voucher = db.session.get(Voucher, voucher_id)
    if voucher is None or voucher.available_fen <= 0:
        return False
    redeem_by = voucher.programme.redeem_by
    if not today <= redeem_by <= today + timedelta(days=within_days):
        return False
    return todos.remind_once(
        VOUCHER_EXPIRING,
        voucher.id,
        voucher.enterprise_id,
        redeem_by,
        f"/vouchers/{voucher.id}",
        code=voucher.code,
        programme=voucher.programme.name,
        amount=format_fen(voucher.available_fen),
    )


# --- package admission (issue 22) -----------------------------------------------------------


def for_admission_decider(org: Organisation) -> list[Todo]:
    """One item per programme with package versions waiting for ``org``'s decision."""
    return [
        Todo(
            "admission_waiting",
            _l("Decide on the package versions waiting for admission"),
            f"{programme.name} · {len(waiting)}",
            f"/admissions?programme={programme.id}",
            waiting[0].since,
        )
        for programme, waiting in admission.waiting_by_programme(org).items()
    ]


def for_provider(provider: Organisation) -> list[Todo]:
    """The provider's current package versions a programme did not admit: change them."""
    return [
        Todo(
            "admission_rejected",
            _l("Change the package a voucher programme did not admit"),
            f"{a.programme.name} · {a.reason}",
            f"/provider/packages/{package.id}",
            a.decided_at,
        )
        for a, package in admission.rejected_current(provider)
    ]
