"""Four eyes (四眼原则): public money moves only when one person proposed it and another
person of the same organisation approved it, each decision with a note on record.

Every proposal table (a settlement, a payout, a claw-back, a large voucher batch) keeps the
same columns: its proposer, ``approved_by_id``, ``approval_note`` and ``approved_at``. The
database refuses an approver who is the proposer and an approval without a note
(``checks``); the service refuses them first with a clear message (``second_pair``) and
moves the row with one conditional UPDATE from its proposed state, so of two officials
approving at the same moment exactly one gets through.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint

from marketplace.errors import DomainError
from marketplace.security import Actor


def checks(proposer_column: str = "proposed_by_id") -> tuple[CheckConstraint, CheckConstraint]:
    """The two CHECK constraints every proposal table carries (names as in the migrations)."""
    return (
        CheckConstraint(
            f"approved_by_id IS NULL OR approved_by_id <> {proposer_column}",
            name="approver_not_proposer",
        ),
        CheckConstraint(
            "approved_by_id IS NULL OR approval_note IS NOT NULL", name="approval_has_note"
        ),
    )


def second_pair(
    *,
    proposed_by_id: int | None,
    org_id: int,
    actor: Actor,
    note: str,
    own: Any = None,
) -> str:
    """Check that ``actor`` may approve a proposal of organisation ``org_id`` that
    ``proposed_by_id`` made, with ``note``; return the note stripped, or raise.

    ``own`` is the message for the proposer trying to approve their own proposal (a
    default names no object)."""
    if actor.org_id != org_id:
        raise DomainError(_l("Only an official of the same organisation can approve this."))
    if actor.user_id is None or actor.user_id == proposed_by_id:
        raise DomainError(
            own or _l("You proposed this; another official of your organisation must approve it.")
        )
    note = note.strip()
    if not note:
        raise DomainError(_l("Write a note on what you checked before approving."), field="note")
    return note
