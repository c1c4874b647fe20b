"""Issuing vouchers: who is eligible, batch issue to every eligible enterprise, one by credit
code, a CSV list, and enterprises' applications.

Every issue draws on the budget with one conditional UPDATE (``issued + total <= budget``) and
writes one ledger entry per voucher; a one-time key per form makes a resubmission harmless.

Four eyes on large batches: a batch or list whose total is above the programme's threshold
is stored as a proposal (its exact holders, no voucher, no budget taken); another official of
the agency approves it, with a note, and only then is it issued, through the same path as a
batch issued at once. If anything changed since the proposal the approval is refused and
stores nothing; the proposal can be cancelled (with a reason) and proposed again.
"""

from __future__ import annotations

import secrets
from base64 import b32encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from marketplace import audit, four_eyes, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import UTCDateTime, add_unique, atomic, db, local_today, move_status, utcnow
from marketplace.diagnosis import services as diagnosis
from marketplace.errors import DomainError, NotFound
from marketplace.money import format_fen
from marketplace.security import Actor
from marketplace.vouchers.models import (
    ApplicationStatus,
    EntryKind,
    IssueRun,
    ProgrammeStatus,
    RunItem,
    RunStatus,
    Voucher,
    VoucherApplication,
    VoucherEntry,
    VoucherProgramme,
    VoucherStatus,
)


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
        conditions.append(diagnosis.diagnosed(Organisation.id))
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
        diagnosis.has_diagnosis(org.id) if has_diagnosis is None else has_diagnosis
    ):
        reasons.append("diagnosis")
    return reasons


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


def new_code() -> str:
    """``ZXQ-XXXX-XXXX-XXXX-XXXX``: 80 random bits in Crockford-free base32 (no padding)."""
    raw = b32encode(secrets.token_bytes(10)).decode()
    return "ZXQ-" + "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _claim_run(
    programme: VoucherProgramme, key: str, kind: str, actor: Actor
) -> tuple[IssueRun, bool]:
    """The run for this one-time key: ``(run, True)`` when it was already applied."""
    if not key or len(key) > 64:
        raise DomainError(_l("This form has expired. Reload the page and try again."))
    existing = db.session.scalar(select(IssueRun).where(IssueRun.key == key))
    if existing is None:
        run = IssueRun(programme_id=programme.id, key=key, kind=kind, created_by_id=actor.user_id)
        if add_unique(run):
            return run, False
        # the same form, submitted twice at once: the first one won
        existing = db.session.scalar(select(IssueRun).where(IssueRun.key == key))
        if existing is None:
            raise DomainError(_l("This form is already being processed. Reload the page."))
    if existing.programme_id != programme.id or existing.kind != kind:
        raise DomainError(_l("This form has expired. Reload the page and try again."))
    return existing, True


def check_issuable(programme: VoucherProgramme) -> None:
    if programme.status is not ProgrammeStatus.OPEN:
        raise DomainError(_l("Vouchers are issued only while the programme is open."))
    today = local_today()
    if today < programme.issue_from:
        raise DomainError(_l("Issuing starts on %(date)s.", date=programme.issue_from.isoformat()))
    if today > programme.redeem_by:
        raise DomainError(_l("The programme's redeem-by date has passed."))


def check_shown(shown_fen: int | None, actual_fen: int) -> None:
    """The amount the official confirmed on the page is the one to move, or nothing moves."""
    if shown_fen is not None and shown_fen != actual_fen:
        raise DomainError(
            _l(
                "The amount is %(actual)s, not the %(shown)s you confirmed. Reload the page"
                " and check it.",
                actual=format_fen(actual_fen),
                shown=format_fen(shown_fen),
            )
        )


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
    programme: VoucherProgramme,
    holders: Sequence[tuple[int, int]],
    run: IssueRun,
    actor: Actor,
    notice: str = "voucher_issued",
) -> int:
    """Issue one voucher to each ``(enterprise_id, seq)``: one budget update, one multi-row
    insert of vouchers and one INSERT … SELECT for their ledger entries. Each holder is told
    (``notice``): its voucher's code, value and the date to use it by."""
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
    run.count = len(holders)
    run.total_fen = total
    _tell_holders(programme, run, notice)
    return len(holders)


def _tell_holders(programme: VoucherProgramme, run: IssueRun, notice: str) -> None:
    issued = db.session.execute(
        select(Voucher.id, Voucher.enterprise_id, Voucher.code)
        .where(Voucher.run_id == run.id)
        .order_by(Voucher.id)
    )
    amount = format_fen(programme.face_value_fen)
    by = programme.redeem_by.isoformat()
    for voucher_id, enterprise_id, code in issued:
        notifications.notify(
            enterprise_id,
            notice,
            f"/vouchers/{voucher_id}",
            code=code,
            amount=amount,
            programme=programme.name,
            by=by,
        )


@atomic
def issue_batch(
    programme: VoucherProgramme,
    key: str,
    actor: Actor,
    note: str = "",
    shown_total_fen: int | None = None,
) -> IssueRun:
    """One voucher to every eligible enterprise that holds none of this programme yet; above
    the programme's approval threshold, a proposal of exactly these enterprises instead.
    ``shown_total_fen``: the total the official confirmed (refused if the batch's differs)."""
    run, done = _claim_run(programme, key, "batch", actor)
    if done:
        return run
    check_issuable(programme)
    ids = db.session.scalars(
        select(Organisation.id)
        .where(*eligibility_filter(programme), _without_voucher(programme))
        .order_by(Organisation.id)
    ).all()
    if not ids:
        raise DomainError(_l("No eligible enterprise is waiting for a voucher."))
    holders = [(i, 1) for i in ids]
    check_shown(shown_total_fen, len(holders) * programme.face_value_fen)
    if programme.needs_approval(len(holders) * programme.face_value_fen):
        _propose(programme, holders, run, note, actor)
        return run
    _issue(programme, holders, run, actor)
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


def _propose(
    programme: VoucherProgramme,
    holders: Sequence[tuple[int, int]],
    run: IssueRun,
    note: str,
    actor: Actor,
) -> None:
    """Store ``run`` as a proposal of exactly ``holders``: no voucher, no budget taken."""
    note = note.strip()
    if not note:
        raise DomainError(
            _l(
                "This batch is above %(threshold)s and needs another official's approval:"
                " write a note for them on what it is for.",
                threshold=format_fen(programme.batch_approval_threshold_fen),
            ),
            field="note",
        )
    if len(note) > 1000:
        raise DomainError(_l("At most 1,000 characters."), field="note")
    total = len(holders) * programme.face_value_fen
    if total > programme.remaining_fen:
        raise DomainError(
            _l(
                "The budget left (%(left)s) does not cover these vouchers (%(total)s).",
                left=format_fen(programme.remaining_fen),
                total=format_fen(total),
            )
        )
    run.status = RunStatus.PROPOSED
    run.proposed_by_id = actor.user_id
    run.proposal_note = note
    run.count = len(holders)
    run.total_fen = total
    db.session.flush()
    db.session.execute(
        insert(RunItem),
        [{"run_id": run.id, "enterprise_id": e, "seq": seq} for e, seq in holders],
    )
    notifications.notify(
        programme.agency_id,
        "voucher_batch_proposed",
        f"/agency/programmes/{programme.id}/runs/{run.id}",
        count=run.count,
        amount=format_fen(total),
        programme=programme.name,
    )
    audit.record(
        actor,
        "vouchers.batch_proposed",
        "programme",
        programme.id,
        run_id=run.id,
        kind=run.kind,
        count=run.count,
        total_fen=run.total_fen,
        note=note,
    )


def _move_run(run: IssueRun, *also: Any, **values: object) -> None:
    changed = _l("This batch changed meanwhile. Reload the page and try again.")
    move_status(run, RunStatus.PROPOSED, *also, changed=changed, **values)


def _names(ids: Iterable[int], limit: int = 3) -> str:
    ids = sorted(ids)
    names = db.session.scalars(
        select(Organisation.name).where(Organisation.id.in_(ids[:limit])).order_by(Organisation.id)
    ).all()
    return "、".join(names) + ("…" if len(ids) > limit else "")


def _changes_since_proposal(programme: VoucherProgramme, run: IssueRun) -> list[Any]:
    """What makes a proposal's holders no longer the batch to issue: enterprises that got a
    voucher of this programme meanwhile, or that are no longer eligible."""
    items = select(RunItem.enterprise_id).where(RunItem.run_id == run.id)
    changes: list[Any] = []
    holding = set(
        db.session.scalars(
            select(Voucher.enterprise_id)
            .where(Voucher.programme_id == programme.id, Voucher.enterprise_id.in_(items))
            .distinct()
        )
    )
    if holding:
        changes.append(
            _l(
                "%(n)d of its enterprises got a voucher of this programme meanwhile (%(names)s)",
                n=len(holding),
                names=_names(holding),
            )
        )
    eligible = set(
        db.session.scalars(
            select(Organisation.id).where(
                Organisation.id.in_(items), and_(*eligibility_filter(programme))
            )
        )
    )
    gone = set(db.session.scalars(items)) - eligible - holding
    if gone:
        changes.append(
            _l(
                "%(n)d of its enterprises are no longer eligible (%(names)s)",
                n=len(gone),
                names=_names(gone),
            )
        )
    return changes


@atomic
def approve_batch(run: IssueRun, shown_total_fen: int, note: str, actor: Actor) -> None:
    """The second pair of eyes: an official of the agency other than the proposer approves a
    proposed batch, with a note, for the total their page showed; then exactly its stored
    holders are issued, as a batch issued at once would be (budget, vouchers, ledger).

    The database holds the same rule (CHECK approver_not_proposer), and one conditional
    UPDATE from 'proposed' lets exactly one of two officials approving at once through. If
    anything changed since the proposal (holders, eligibility, budget, the programme
    closed), the approval is refused and stores nothing."""
    programme = run.programme
    if run.status is RunStatus.CANCELLED:
        raise DomainError(_l("This batch was cancelled; it cannot be approved."))
    if run.status is not RunStatus.PROPOSED:
        raise DomainError(_l("This batch is already approved and issued."))
    note = four_eyes.second_pair(
        proposed_by_id=run.proposed_by_id,
        org_id=programme.agency_id,
        actor=actor,
        note=note,
        own=_l("You proposed this batch; another official of your agency must approve it."),
    )
    if len(note) > 1000:
        raise DomainError(_l("At most 1,000 characters."), field="note")
    if shown_total_fen != run.total_fen:
        raise DomainError(
            _l("The batch's total is not the one you saw. Reload the page and check it.")
        )
    _move_run(
        run,
        IssueRun.total_fen == shown_total_fen,
        IssueRun.proposed_by_id.is_distinct_from(actor.user_id),
        status=RunStatus.ISSUED,
        approved_by_id=actor.user_id,
        approval_note=note,
        approved_at=utcnow(),
    )
    check_issuable(programme)
    changes = _changes_since_proposal(programme, run)
    if changes:
        raise DomainError(
            _l(
                "The batch changed since it was proposed: %(changes)s. Cancel this proposal"
                " and propose the batch again.",
                # joined when shown, in the reader's language
                changes=LazyString(lambda: "; ".join(str(c) for c in changes)),
            )
        )
    holders = db.session.execute(
        select(RunItem.enterprise_id, RunItem.seq)
        .where(RunItem.run_id == run.id)
        .order_by(RunItem.enterprise_id)
    ).all()
    proposed = (run.count, run.total_fen)
    _issue(programme, [(e, seq) for e, seq in holders], run, actor)
    if (run.count, run.total_fen) != proposed:  # the face value is frozen once open
        raise DomainError(_l("This batch changed meanwhile. Reload the page and try again."))
    db.session.flush()
    audit.record(
        actor,
        "vouchers.batch_approved",
        "programme",
        programme.id,
        run_id=run.id,
        kind=run.kind,
        count=run.count,
        total_fen=run.total_fen,
        proposed_by=run.proposed_by_id,
        note=note,
    )
    audit.record(
        actor,
        "vouchers.issued",
        "programme",
        programme.id,
        kind=run.kind,
        count=run.count,
        total_fen=run.total_fen,
    )


@atomic
def cancel_batch(run: IssueRun, reason: str, actor: Actor) -> None:
    """Withdraw (the proposer) or reject (another official) a proposed batch, saying why.
    Nothing was issued or taken from the budget; the batch can be proposed again."""
    if actor.org_id != run.programme.agency_id:
        raise DomainError(_l("Only an official of the same organisation can do this."))
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a reason for cancelling the batch."), field="reason")
    if len(reason) > 1000:
        raise DomainError(_l("At most 1,000 characters."), field="reason")
    if run.status is not RunStatus.PROPOSED:
        raise DomainError(_l("Only a batch waiting for approval can be cancelled."))
    _move_run(
        run,
        status=RunStatus.CANCELLED,
        cancelled_by_id=actor.user_id,
        cancel_reason=reason,
        cancelled_at=utcnow(),
    )
    audit.record(
        actor,
        "vouchers.batch_cancelled",
        "programme",
        run.programme_id,
        run_id=run.id,
        count=run.count,
        total_fen=run.total_fen,
        proposed_by=run.proposed_by_id,
        reason=reason,
    )


def run_for(programme: VoucherProgramme, run_id: int) -> IssueRun:
    run = db.session.get(IssueRun, run_id)
    if run is None or run.programme_id != programme.id:
        raise NotFound(_l("Not found."))
    return run


def proposals_of(programme: VoucherProgramme) -> list[IssueRun]:
    """The programme's batches waiting for a second official's approval, oldest first."""
    stmt = (
        select(IssueRun)
        .where(IssueRun.programme_id == programme.id, IssueRun.status == RunStatus.PROPOSED)
        .options(selectinload(IssueRun.proposed_by))
        .order_by(IssueRun.id)
    )
    return list(db.session.scalars(stmt))


def recent_batches(programme: VoucherProgramme, limit: int = 10) -> list[IssueRun]:
    """The programme's latest batches and lists, issued or cancelled, newest first."""
    stmt = (
        select(IssueRun)
        .where(
            IssueRun.programme_id == programme.id,
            IssueRun.kind.in_(["batch", "csv"]),
            IssueRun.status != RunStatus.PROPOSED,
        )
        .options(
            selectinload(IssueRun.proposed_by),
            selectinload(IssueRun.approved_by),
            selectinload(IssueRun.cancelled_by),
        )
        .order_by(IssueRun.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def proposed_holders(run: IssueRun, limit: int = 500) -> list[Organisation]:
    """The enterprises a proposed batch names (the first ``limit``), for the approver."""
    stmt = (
        select(Organisation)
        .join(RunItem, RunItem.enterprise_id == Organisation.id)
        .where(RunItem.run_id == run.id)
        .order_by(Organisation.id)
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


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
    programme: VoucherProgramme,
    credit_code: str,
    key: str,
    actor: Actor,
    notice: str = "voucher_issued",
    shown_fen: int | None = None,
) -> tuple[IssueRun, Voucher]:
    """One voucher to the enterprise with ``credit_code``; ``shown_fen``: the face value the
    official confirmed."""
    run, done = _claim_run(programme, key, "single", actor)
    if not done:
        check_issuable(programme)
        check_shown(shown_fen, programme.face_value_fen)
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
        _issue(programme, [(org.id, _next_seq(programme, org.id))], run, actor, notice)
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


def classify(
    programme: VoucherProgramme, rows: Sequence[CsvRow]
) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """What importing ``rows`` would do now, row by row, and the holders it would issue to:
    issued (with the enterprise and the amount), not eligible (why), unknown code, duplicate.
    Reads only; the dry run and the import both use it."""
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
                select(Organisation.id).where(
                    Organisation.id.in_([o.id for o in orgs.values()]),
                    diagnosis.diagnosed(Organisation.id),
                )
            )
        )
    seen: set[str] = set()
    report: list[dict[str, Any]] = []
    holders: list[tuple[int, int]] = []
    for row in rows:
        entry: dict[str, Any] = {"line": row.line, "credit_code": row.credit_code, "name": row.name}
        org = orgs.get(row.credit_code)
        if org is not None:
            entry["enterprise"] = org.name
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
                entry["enterprise_id"] = org.id
                entry["amount_fen"] = programme.face_value_fen
                holders.append((org.id, 1))
        seen.add(row.credit_code)
        report.append(entry)
    return report, holders


@atomic
def import_csv(
    programme: VoucherProgramme,
    raw: bytes,
    key: str,
    actor: Actor,
    note: str = "",
    expected: Sequence[int] | None = None,
) -> IssueRun:
    """Issue one voucher to each eligible enterprise of the list, with a report per row:
    issued, not eligible (why), unknown code, duplicate. A list whose total is above the
    programme's approval threshold is proposed instead (the report says what it would do).

    ``expected``: the enterprises a dry run showed would get a voucher; when the list now
    gives any other holders, nothing is issued (the preview no longer holds)."""
    run, done = _claim_run(programme, key, "csv", actor)
    if done:
        return run
    check_issuable(programme)
    rows = parse_csv(raw)
    report, holders = classify(programme, rows)
    if expected is not None and sorted(e for e, _seq in holders) != sorted(expected):
        raise DomainError(
            _l(
                "Who would get a voucher changed since the dry run (an enterprise got a voucher"
                " or its eligibility changed). Nothing was issued: upload the list again."
            )
        )
    run.report = report
    if programme.needs_approval(len(holders) * programme.face_value_fen):
        _propose(programme, holders, run, note, actor)
        return run
    _issue(programme, holders, run, actor)
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
    if not add_unique(application):
        raise DomainError(_l("You already applied; the agency is deciding."))
    notifications.notify(
        programme.agency_id,
        "voucher_applied",
        f"/agency/programmes/{programme.id}",
        enterprise=enterprise.name,
        programme=programme.name,
    )
    audit.record(actor, "voucher.applied", "programme", programme.id, application_id=application.id)
    return application


@atomic
def decide_application(
    application: VoucherApplication,
    approve: bool,
    reason: str,
    actor: Actor,
    shown_fen: int | None = None,
) -> None:
    """Approve (a voucher is issued: ``shown_fen`` is the face value the official confirmed)
    or reject (with a reason) an enterprise's application."""
    if application.status is not ApplicationStatus.PENDING:
        raise DomainError(_l("This application has already been decided."))
    if approve:
        check_shown(shown_fen, application.programme.face_value_fen)
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
            notice="voucher_application_approved",
        )
        db.session.execute(
            update(VoucherApplication)
            .where(VoucherApplication.id == application.id)
            .values(voucher_id=voucher.id)
            .execution_options(synchronize_session=False)
        )
    else:
        notifications.notify(
            application.enterprise_id,
            "voucher_application_rejected",
            "/vouchers",
            programme=programme.name,
            reason=reason,
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
