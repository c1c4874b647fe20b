"""Outcome-contract pages for enterprises, providers, agency officials and assessors."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from marketplace import files
from marketplace.accounts.models import OrgKind
from marketplace.db import db
from marketplace.errors import DomainError, NotFound
from marketplace.forms import attach_error
from marketplace.orders.models import OrderLine
from marketplace.outcomes import access, cases, forms, line_records, usage
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import Measurement
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, requires

bp = Blueprint("outcomes", __name__)

EVERYONE = (OrgKind.ENTERPRISE, OrgKind.PROVIDER, OrgKind.AGENCY, OrgKind.ASSESSOR)


@bp.get("/contracts")
@requires(*EVERYONE)
def contracts() -> ResponseReturnValue:
    return render("outcomes/contracts.html", rows=outcomes.contracts_for(current_user.org))


def _page(contract_id: int, status: int = 200, **forms_: object) -> ResponseReturnValue:
    contract = outcomes.contract_for(current_user.org, contract_id)
    return render(
        "outcomes/contract.html",
        c=contract,
        line=db.session.get(OrderLine, contract.order_line_id),
        fee_text=outcomes.fee_text(contract),
        low_high=outcomes.metric_range(contract),
        baseline_form=forms_.get("baseline_form") or forms.BaselineForm(),
        measurement_form=forms_.get("measurement_form") or forms.MeasurementForm(),
        reason_form=forms.ReasonForm(),
        case=cases.case_of(contract),
        consent_form=forms.ConsentForm(),
        status=status,
    )


@bp.get("/contracts/<id:contract_id>")
@requires(*EVERYONE)
def contract(contract_id: int) -> ResponseReturnValue:
    return _page(contract_id)


@bp.post("/contracts/<id:contract_id>/baseline")
@requires(OrgKind.PROVIDER, owner=True)
def propose_baseline(contract_id: int) -> ResponseReturnValue:
    c = outcomes.contract_for(current_user.org, contract_id)
    if c.provider_id != current_user.org_id:
        raise NotFound(_("Not found."))
    form = forms.BaselineForm()
    if form.validate_on_submit():
        upload = form.evidence_file.data  # a werkzeug FileStorage, or None
        file = None
        if upload is not None and upload.filename:
            with upload.stream:  # large uploads are spooled to a temporary file: close it
                file = outcomes.EvidenceFile(upload.filename, upload.stream.read())
        try:
            outcomes.propose_baseline(
                c,
                form.value.data,
                form.period_start.data,
                form.period_end.data,
                form.evidence.data,
                current_actor(),
                file,
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Baseline proposed. The enterprise agrees or disputes it."), "success")
            return redirect(url_for("outcomes.contract", contract_id=c.id))
    return _page(contract_id, INVALID, baseline_form=form)


@bp.get("/contracts/<id:contract_id>/evidence")
@requires(*EVERYONE)
def evidence(contract_id: int) -> ResponseReturnValue:
    """The baseline's evidence file: for the parties, the overseeing agencies, the assessors
    and the enterprise's grantees (logged); see ``access``."""
    file = access.evidence_for(current_user.org, contract_id, current_actor())
    return files.download(file.name, file.content_type, file.data)


evidence.writes_on_read = True  # type: ignore[attr-defined]  # a grantee's opening is logged


@bp.get("/agency/order-lines/<id:line_id>")
@requires(OrgKind.AGENCY)
def agency_line(line_id: int) -> ResponseReturnValue:
    """An order line its vouchers paid towards, read-only: the record behind a risk decision."""
    return render(
        "outcomes/agency_line.html", record=line_records.agency_line(current_user.org, line_id)
    )


@bp.post("/contracts/<id:contract_id>/baseline/<any(agree, dispute):decision>")
@requires(OrgKind.ENTERPRISE, owner=True)
def decide_baseline(contract_id: int, decision: str) -> ResponseReturnValue:
    c = outcomes.contract_for(current_user.org, contract_id)
    if c.enterprise_id != current_user.org_id:
        raise NotFound(_("Not found."))
    form = forms.ReasonForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("This action is not possible in the current state."))
        if decision == "agree":
            line = db.session.get(OrderLine, c.order_line_id)
            assert line is not None
            outcomes.agree_baseline(c, line, current_actor())
        else:
            outcomes.dispute_baseline(c, form.reason.data or "", current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Decision recorded."), "success")
    return redirect(url_for("outcomes.contract", contract_id=c.id))


@bp.post("/contracts/<id:contract_id>/measurements")
@requires(OrgKind.PROVIDER)
def submit(contract_id: int) -> ResponseReturnValue:
    c = outcomes.contract_for(current_user.org, contract_id)
    if c.provider_id != current_user.org_id:
        raise NotFound(_("Not found."))
    form = forms.MeasurementForm()
    if form.validate_on_submit():
        reading = outcomes.Reading(
            form.external_id.data,
            form.period_start.data,
            form.period_end.data,
            form.value.data,
            form.note.data or "",
        )
        try:
            _m, created = outcomes.submit(c, reading, current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(
                _("Measurement stored. The enterprise confirms or disputes it.")
                if created
                else _("This measurement was already stored."),
                "success",
            )
            return redirect(url_for("outcomes.contract", contract_id=c.id))
    return _page(contract_id, INVALID, measurement_form=form)


@bp.post("/measurements/<id:measurement_id>/<any(confirm, dispute, verify, reject):decision>")
@requires(OrgKind.ENTERPRISE, OrgKind.ASSESSOR, owner=True)
def decide_measurement(measurement_id: int, decision: str) -> ResponseReturnValue:
    m = db.session.get(Measurement, measurement_id)
    if m is None:
        raise NotFound(_("Not found."))
    c = outcomes.contract_for(current_user.org, m.contract_id)
    is_enterprise = c.enterprise_id == current_user.org_id
    if is_enterprise != (decision in ("confirm", "dispute")):
        raise NotFound(_("Not found."))
    form = forms.ReasonForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("This action is not possible in the current state."))
        reason = form.reason.data or ""
        if decision == "confirm":
            outcomes.confirm(m, current_actor())
        elif decision == "dispute":
            outcomes.dispute(m, reason, current_actor())
        else:
            outcomes.verify(m, decision == "verify", reason, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Decision recorded."), "success")
    return redirect(url_for("outcomes.contract", contract_id=c.id))


@bp.post("/contracts/<id:contract_id>/settle")
@requires(OrgKind.AGENCY, owner=True)
def settle(contract_id: int) -> ResponseReturnValue:
    c = outcomes.contract_for(current_user.org, contract_id)
    try:
        outcomes.settle(c, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Settled: %(status)s.", status=c.status.label), "success")
    return redirect(url_for("outcomes.contract", contract_id=c.id))


# --- usage of usage plans -------------------------------------------------------------------


@bp.get("/usage/lines/<id:line_id>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def usage_line(line_id: int) -> ResponseReturnValue:
    line = usage.usage_line_for(current_user.org, line_id)
    plan = usage.plan_of(line)
    statements = usage.statements_of(line)
    unit = plan.usage_unit.label if plan.usage_unit else ""
    return render(
        "outcomes/usage.html",
        line=line,
        plan=plan,
        records=usage.records_of(line),
        statements=statements,
        lines_text={
            s.id: [usage.statement_text(row, unit) for row in s.computation] for s in statements
        },
        disputable=usage.disputable,
        is_enterprise=line.order.enterprise_id == current_user.org_id,
        dispute_days=usage.dispute_days(),
        reason_form=forms.ReasonForm(),
        resolve_form=forms.ResolveForm(),
    )


@bp.post("/usage/records/<id:record_id>/dispute")
@requires(OrgKind.ENTERPRISE)
def dispute_usage(record_id: int) -> ResponseReturnValue:
    record = usage.record_for(current_user.org, record_id)
    form = forms.ReasonForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("This action is not possible in the current state."))
        usage.dispute(record, form.reason.data or "", current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Disputed. The provider decides; the month waits for it."), "success")
    return redirect(url_for("outcomes.usage_line", line_id=record.order_line_id))


@bp.post("/usage/records/<id:record_id>/resolve")
@requires(OrgKind.PROVIDER)
def resolve_usage(record_id: int) -> ResponseReturnValue:
    record = usage.record_for(current_user.org, record_id)
    form = forms.ResolveForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("Choose to accept or reject the dispute."))
        usage.resolve(record, form.decision.data == "accept", form.note.data or "", current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Decision recorded."), "success")
    return redirect(url_for("outcomes.usage_line", line_id=record.order_line_id))
