"""Importing a CSV list of enterprises in two steps (issue 20): a dry run, then confirmation.

The dry run stores the uploaded bytes with their SHA-256 and the row-by-row report of what
importing them would do now (``issuing.classify``), and issues nothing. Confirming issues
from the stored bytes, never from a new upload, and only when the official confirms the
count and total the report showed and the list still gives exactly the report's holders;
otherwise nothing is issued. A staged list is confirmed at most once.
"""

from __future__ import annotations

import hashlib

from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from marketplace import audit, csvfile
from marketplace.db import atomic, db
from marketplace.errors import DomainError, NotFound
from marketplace.money import format_fen
from marketplace.security import Actor
from marketplace.vouchers import issuing
from marketplace.vouchers.models import IssueRun, StagedImport, VoucherProgramme

RESULT_LABELS = {
    "issued": _l("OK: gets a voucher"),
    "not_eligible": _l("Not eligible"),
    "unknown": _l("Unknown credit code"),
    "duplicate": _l("Duplicate"),
}

CSV_COLUMNS = {
    "row": _l("Row"),
    "credit_code": _l("Unified social credit code"),
    "enterprise": _l("Enterprise"),
    "amount_yuan": _l("Amount (yuan)"),
    "result": _l("Result"),
}


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def result_text(row: dict[str, object]) -> str:
    """A report row's outcome in the reader's language: OK, or the error and why."""
    text = str(RESULT_LABELS.get(str(row.get("result")), row.get("result")))
    reasons = row.get("reasons")
    if isinstance(reasons, list) and reasons:
        return str(_l("%(result)s: %(reasons)s", result=text, reasons=issuing.describe(reasons)))
    return text


@atomic
def stage(programme: VoucherProgramme, raw: bytes, filename: str, actor: Actor) -> StagedImport:
    """The dry run: the file read and checked row by row, kept with its report; nothing
    issued and no budget taken. A file that cannot be read is refused and nothing stored."""
    issuing.check_issuable(programme)
    rows = issuing.parse_csv(raw)
    report, holders = issuing.classify(programme, rows)
    staged = StagedImport(
        programme_id=programme.id,
        created_by_id=actor.user_id,
        filename=filename[:200],
        digest=digest_of(raw),
        raw=raw,
        report=report,
        count=len(holders),
        total_fen=len(holders) * programme.face_value_fen,
    )
    db.session.add(staged)
    db.session.flush()
    audit.record(
        actor,
        "vouchers.import_previewed",
        "programme",
        programme.id,
        staged_id=staged.id,
        rows=len(rows),
        count=staged.count,
        total_fen=staged.total_fen,
        digest=staged.digest,
    )
    return staged


def staged_for(programme: VoucherProgramme, staged_id: int) -> StagedImport:
    staged = db.session.get(StagedImport, staged_id)
    if staged is None or staged.programme_id != programme.id:
        raise NotFound(_l("Not found."))
    return staged


@atomic
def confirm(
    staged: StagedImport,
    digest: str,
    shown_count: int,
    shown_total_fen: int,
    key: str,
    note: str,
    actor: Actor,
) -> IssueRun:
    """Issue exactly the previewed rows (or propose them, above the programme's threshold).
    Refused, storing nothing, when the file, the count or the total are not the ones the
    official saw, when it was already confirmed, or when the holders changed meanwhile."""
    if staged.run_id is not None:
        raise DomainError(_l("This list was already imported."))
    if staged.count == 0:
        raise DomainError(_l("No row of this list gets a voucher; nothing to issue."))
    if (
        digest != staged.digest
        or digest_of(staged.raw) != staged.digest
        or (shown_count, shown_total_fen) != (staged.count, staged.total_fen)
    ):
        raise DomainError(
            _l(
                "This is not the list you previewed (%(n)d vouchers, %(total)s). Reload the"
                " page and check it.",
                n=staged.count,
                total=format_fen(staged.total_fen),
            )
        )
    expected = [int(row["enterprise_id"]) for row in staged.report if row["result"] == "issued"]
    run = issuing.import_csv(staged.programme, staged.raw, key, actor, note, expected=expected)
    if (run.count, run.total_fen) != (staged.count, staged.total_fen):
        raise DomainError(_l("This batch changed meanwhile. Reload the page and try again."))
    # at most once, even when two officials confirm at the same moment
    moved = db.session.execute(
        update(StagedImport)
        .where(StagedImport.id == staged.id, StagedImport.run_id.is_(None))
        .values(run_id=run.id)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This list was already imported."))
    db.session.refresh(staged, ["run_id"])
    return run


def report_csv(staged: StagedImport) -> str:
    """The dry run's report as a CSV file: row, code, enterprise, amount, OK or the error."""
    header = csvfile.header(list(CSV_COLUMNS), CSV_COLUMNS)
    rows: list[list[object]] = [
        [
            row["line"],
            row["credit_code"],
            row.get("enterprise") or row.get("name") or "",
            csvfile.yuan(int(row["amount_fen"])) if row.get("amount_fen") else "",
            result_text(row),
        ]
        for row in staged.report
    ]
    total = [csvfile.total(), "", "", csvfile.yuan(staged.total_fen), ""]
    return csvfile.write([header, *rows, total])
