"""Disputes for whoever decides them (the agency, or the platform) and for the two parties:
the case page, escalation at a party's request, the parties' statements and the decision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts.models import Organisation, OrgKind
from marketplace.errors import DomainError
from marketplace.forms import attach_error
from marketplace.orders import disputes, forms
from marketplace.orders import evidence as proofs
from marketplace.orders.models import Dispute, LineEvent
from marketplace.payments import services as payments
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, requires
from marketplace.vouchers import spending

bp = Blueprint("disputes", __name__)


@bp.get("/disputes")
@requires(OrgKind.AGENCY, OrgKind.PLATFORM)
def cases() -> ResponseReturnValue:
    waiting, done = disputes.cases_for(current_user.org)
    return render(
        "orders/disputes.html", waiting=waiting, done=done, days=disputes.escalation_days()
    )


def _case_page(
    dispute: Dispute,
    decision_form: forms.DisputeDecisionForm | None = None,
    statement_form: forms.DisputeStatementForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    org = current_user.org
    line = dispute.line
    context: dict[str, Any] = {
        "d": dispute,
        "line": line,
        "funding": spending.line_funding(line.id),
        "shown": proofs.evidences_on([line.id]).get(line.id, []),
        "invoices": payments.invoices_of_lines([line.id]).get(line.id, []),
        "party": org.id in (dispute.enterprise_id, dispute.provider_id),
        "deciding": disputes.may_decide(dispute, org),
        "escalates_on": disputes.escalates_on(dispute),
        "decision_form": decision_form or forms.DisputeDecisionForm(formdata=None),
        "statement_form": statement_form or forms.DisputeStatementForm(formdata=None),
    }
    return render("orders/dispute.html", status=status, **context)


@bp.get("/disputes/<id:dispute_id>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER, OrgKind.AGENCY, OrgKind.PLATFORM)
def case(dispute_id: int) -> ResponseReturnValue:
    return _case_page(disputes.dispute_for(current_user.org, dispute_id))


def _party_statement(
    dispute_id: int,
    act: Callable[[Dispute, Organisation, str], object],
    done: Callable[[Dispute], str],
) -> ResponseReturnValue:
    """A party's form with its statement: checked, handed to ``act``, then the case page
    (again with the errors, or after a redirect with ``done``'s message)."""
    org = current_user.org
    dispute = disputes.dispute_for(org, dispute_id)
    form = forms.DisputeStatementForm()
    if not form.validate_on_submit():
        return _case_page(dispute, statement_form=form, status=INVALID)
    try:
        act(dispute, org, form.statement.data or "")
    except DomainError as error:
        attach_error(form, error)
        return _case_page(dispute, statement_form=form, status=INVALID)
    flash(done(dispute), "success")
    return redirect(url_for("disputes.case", dispute_id=dispute.id))


@bp.post("/disputes/<id:dispute_id>/escalate")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER, owner=True)
def escalate(dispute_id: int) -> ResponseReturnValue:
    return _party_statement(
        dispute_id,
        lambda d, org, text: disputes.escalate(d, org.kind.value, current_actor(), text),
        lambda d: _("The dispute goes to %(decider)s for a decision.", decider=d.decider_label),
    )


@bp.post("/disputes/<id:dispute_id>/statement")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER, owner=True)
def statement(dispute_id: int) -> ResponseReturnValue:
    return _party_statement(
        dispute_id,
        lambda d, org, text: disputes.state_side(d, org, text, current_actor()),
        lambda _d: _("Your statement is saved."),
    )


@bp.post("/disputes/<id:dispute_id>/decide")
@requires(OrgKind.AGENCY, OrgKind.PLATFORM, owner=True)
def decide(dispute_id: int) -> ResponseReturnValue:
    org = current_user.org
    dispute = disputes.dispute_for(org, dispute_id)
    form = forms.DisputeDecisionForm()
    if not form.validate_on_submit():
        return _case_page(dispute, decision_form=form, status=INVALID)
    try:
        disputes.decide(
            dispute,
            org,
            LineEvent(form.ruling.data),
            form.note.data or "",
            current_actor(),
            amount_fen=form.amount.data,
        )
    except DomainError as error:
        attach_error(form, error)
        return _case_page(disputes.dispute_for(org, dispute_id), decision_form=form, status=INVALID)
    flash(
        _("%(decision)s. Both parties are told.", decision=LineEvent(form.ruling.data).label),
        "success",
    )
    return redirect(url_for("disputes.case", dispute_id=dispute.id))
