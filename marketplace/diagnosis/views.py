"""An enterprise diagnoses itself and sees its history and recommendations.

Taking the recommended bundle creates a bundle, which belongs to orders: that route
(``journey.take_recommendation``) lives there.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts.forms import ConfirmForm
from marketplace.accounts.models import OrgKind
from marketplace.diagnosis import forms, sharing, visits
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import report as reports
from marketplace.diagnosis import services as service
from marketplace.diagnosis.models import Diagnosis
from marketplace.errors import DomainError
from marketplace.forms import attach_error, checked, flashed
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, requires

bp = Blueprint("diagnosis", __name__)


@bp.get("/diagnosis")
@requires(OrgKind.ENTERPRISE)
def diagnoses() -> ResponseReturnValue:
    return render("diagnosis/diagnoses.html", rows=service.history(current_user.org))


@bp.route("/diagnosis/new", methods=["GET", "POST"])
@requires(OrgKind.ENTERPRISE)
def new_diagnosis() -> ResponseReturnValue:
    form = forms.diagnosis_form()
    context: dict[str, Any] = {"form": form, "questions": qn.QUESTIONS, "dimensions": qn.DIMENSIONS}
    if not form.validate_on_submit():
        return render(
            "diagnosis/diagnosis_form.html", **context, status=422 if form.is_submitted() else 200
        )
    answers = {q.code: form[q.code].data for q in qn.QUESTIONS}
    try:
        d = service.diagnose(
            current_user.org,
            answers,
            list(form["pain_points"].data or []),
            form["budget"].data,
            current_actor(),
        )
    except DomainError as error:
        attach_error(form, error)
        return render("diagnosis/diagnosis_form.html", **context, status=422)
    return redirect(url_for("diagnosis.diagnosis", diagnosis_id=d.id))


@bp.get("/diagnosis/<id:diagnosis_id>")
@requires(OrgKind.ENTERPRISE)
def diagnosis(diagnosis_id: int) -> ResponseReturnValue:
    org = current_user.org
    d = service.get(org, diagnosis_id)
    previous = next((p for p in service.history(org) if p.id < d.id), None)
    return render(
        "diagnosis/diagnosis.html",
        d=d,
        explained=qn.explain(d.answers, d.dimension_scores),
        weakest=service.weakest_dimensions(d),
        previous=previous,
        visits=visits.visits_of_diagnosis(d),
        dimensions=qn.DIMENSIONS,
        pain_points=qn.PAIN_POINTS,
        budgets=qn.BUDGETS,
    )


# The report: peers, reasons and a roadmap, printable and shared with agencies


def _report_context(d: Diagnosis) -> dict[str, Any]:
    return {
        "d": d,
        "report": reports.build(d, str(get_locale())),
        "dimensions": qn.DIMENSIONS,
        "pain_points": qn.PAIN_POINTS,
        "budgets": qn.BUDGETS,
        "min_peers": reports.MIN_PEERS,
    }


def _share_form(d: Diagnosis) -> forms.ShareForm:
    form = forms.ShareForm()
    form.agency_id.choices = [(a.id, a.name) for a in sharing.eligible_agencies(d.enterprise)]
    return form


def _owner_report(d: Diagnosis, form: forms.ShareForm, status: int = 200) -> ResponseReturnValue:
    return render(
        "diagnosis/report.html",
        **_report_context(d),
        owner=True,
        form=form,
        shares=sharing.shares_of(d),
        status=status,
    )


@bp.get("/diagnosis/<id:diagnosis_id>/report")
@requires(OrgKind.ENTERPRISE)
def report(diagnosis_id: int) -> ResponseReturnValue:
    d = service.get(current_user.org, diagnosis_id)
    return _owner_report(d, _share_form(d))


@bp.post("/diagnosis/<id:diagnosis_id>/report/shares")
@requires(OrgKind.ENTERPRISE)
def share_report(diagnosis_id: int) -> ResponseReturnValue:
    d = service.get(current_user.org, diagnosis_id)
    form = _share_form(d)
    if not form.validate_on_submit():
        return _owner_report(d, form, INVALID)
    try:
        shared = sharing.share(d, form.agency_id.data, current_actor())
    except DomainError as error:
        attach_error(form, error)
        return _owner_report(d, form, INVALID)
    flash(_("The report is shared with %(agency)s.", agency=shared.agency.name), "success")
    return redirect(url_for("diagnosis.report", diagnosis_id=d.id, _anchor="share"))


@bp.post("/diagnosis/<id:diagnosis_id>/report/shares/<id:share_id>/revoke")
@requires(OrgKind.ENTERPRISE)
def revoke_report_share(diagnosis_id: int, share_id: int) -> ResponseReturnValue:
    d = service.get(current_user.org, diagnosis_id)
    with flashed():
        checked(ConfirmForm())
        revoked = sharing.revoke(d, share_id, current_actor())
        flash(_("%(agency)s no longer sees the report.", agency=revoked.agency.name), "success")
    return redirect(url_for("diagnosis.report", diagnosis_id=d.id, _anchor="share"))


@bp.get("/agency/diagnosis-reports")
@requires(OrgKind.AGENCY)
def shared_reports() -> ResponseReturnValue:
    return render(
        "diagnosis/shared_reports.html", shares=sharing.shared_with_agency(current_user.org)
    )


@bp.get("/agency/diagnosis-reports/<id:diagnosis_id>")
@requires(OrgKind.AGENCY)
def shared_report(diagnosis_id: int) -> ResponseReturnValue:
    d = sharing.shared_with(current_user.org, diagnosis_id, current_actor())
    return render("diagnosis/report.html", **_report_context(d), owner=False)
