"""Advisors (数字化顾问): their pool applications, the agencies' decisions, and on-site
diagnosis requests from the enterprise's request to the advisor's findings and the rating.

The pool pages of advisors live here rather than in ``pool``: the agency's list shows each
advisor's rating, which comes from the visits of this domain (above the pool's).
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts.models import OrgKind
from marketplace.db import local_today
from marketplace.diagnosis import forms, visits
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import services as diagnoses
from marketplace.diagnosis.models import VISIT_MACHINE, VisitStatus
from marketplace.errors import DomainError, NotFound
from marketplace.forms import attach_error, choices
from marketplace.pool import advisors as pool
from marketplace.pool import services as pools
from marketplace.pool.forms import DecisionForm
from marketplace.pool.models import ADVISOR_POOL_MACHINE, PoolStatus
from marketplace.pool.views import decision
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, requires

bp = Blueprint("advisors", __name__)


# The advisor's pools


@bp.get("/advisor/pools")
@requires(OrgKind.ADVISOR)
def advisor_pools() -> ResponseReturnValue:
    return render(
        "diagnosis/advisor_pools.html",
        agencies=pools.agencies(),
        memberships={m.agency_id: m for m in pool.memberships_of(current_user.org)},
    )


@bp.route("/advisor/pools/apply/<id:agency_id>", methods=["GET", "POST"])
@requires(OrgKind.ADVISOR, owner=True)
def advisor_apply(agency_id: int) -> ResponseReturnValue:
    org = current_user.org
    agency = next((a for a in pools.agencies() if a.id == agency_id), None)
    if agency is None:
        raise NotFound(_("Not found."))
    form = forms.AdvisorApplicationForm()
    if request.method == "GET":
        form.contact_name.data = org.contact_name
        form.contact_phone.data = org.contact_phone
        form.contact_email.data = org.contact_email
        form.expertise.data = org.description
    page = partial(render, "diagnosis/advisor_apply.html", form=form, agency=agency)
    if not form.validate_on_submit():
        return page(status=INVALID if form.is_submitted() else 200)
    qualification = pool.AdvisorQualification(
        years_of_experience=form.years_of_experience.data,
        expertise=form.expertise.data or "",
        certifications=form.certifications.data or "",
        contact_name=form.contact_name.data,
        contact_phone=form.contact_phone.data,
        contact_email=form.contact_email.data,
    )
    try:
        pool.apply(org, agency.id, qualification, current_actor())
    except DomainError as error:
        attach_error(form, error)
        return page(status=INVALID)
    flash(_("Your application to %(agency)s has been sent.", agency=agency.name), "success")
    return redirect(url_for("advisors.advisor_pools"))


# The agency's advisors


@bp.get("/agency/advisors")
@requires(OrgKind.AGENCY)
def agency_advisors() -> ResponseReturnValue:
    value = request.args.get("status", "")
    status = PoolStatus(value) if value in PoolStatus._value2member_map_ else None
    rows = pool.queue(current_user.org, status)
    return render(
        "diagnosis/agency_advisors.html",
        rows=rows,
        ratings=visits.ratings([m.advisor_id for m in rows]),
        current=status.value if status else "",
        statuses=list(PoolStatus),
    )


@bp.route("/agency/advisors/<id:membership_id>", methods=["GET", "POST"])
@requires(OrgKind.AGENCY)
def agency_advisor(membership_id: int) -> ResponseReturnValue:
    m = pool.membership_for_agency(current_user.org, membership_id)
    events = ADVISOR_POOL_MACHINE.events(m.status, OrgKind.AGENCY.value)
    form = DecisionForm(events)
    page = partial(
        render,
        "diagnosis/agency_advisor.html",
        m=m,
        form=form,
        events=events,
        rating=visits.ratings([m.advisor_id]).get(m.advisor_id),
    )
    then = url_for("advisors.agency_advisor", membership_id=m.id)
    return decision(m, m.advisor.name, pool.decide, form, page, then)


# The enterprise asks for an on-site diagnosis, follows it and rates the advisor


def _request_page(
    d: object, form: forms.VisitRequestForm, status: int = 200
) -> ResponseReturnValue:
    offered = visits.choices(current_user.org)
    form.membership_id.choices = choices(
        (c.membership.id, c.membership.advisor.name) for c in offered
    )
    return render("diagnosis/visit_request.html", d=d, form=form, offered=offered, status=status)


@bp.route("/diagnosis/<id:diagnosis_id>/visits/new", methods=["GET", "POST"])
@requires(OrgKind.ENTERPRISE)
def request_visit(diagnosis_id: int) -> ResponseReturnValue:
    d = diagnoses.get(current_user.org, diagnosis_id)
    form = forms.VisitRequestForm()
    if request.method == "GET":
        return _request_page(d, form)
    if not form.validate_on_submit():
        return _request_page(d, form, INVALID)
    try:
        visit = visits.request(
            d,
            form.membership_id.data,
            form.preferred_date.data,
            form.note.data or "",
            current_actor(),
        )
    except DomainError as error:
        attach_error(form, error)
        return _request_page(d, form, INVALID)
    flash(
        _("Your request was sent to %(advisor)s.", advisor=visit.advisor.name),
        "success",
    )
    return redirect(url_for("advisors.enterprise_visit", visit_id=visit.id))


def _enterprise_visit_page(
    visit_id: int, form: forms.RatingForm, status: int = 200
) -> ResponseReturnValue:
    visit = visits.visit_for_enterprise(current_user.org, visit_id)
    return render(
        "diagnosis/visit.html",
        v=visit,
        form=form,
        dimensions=qn.DIMENSIONS,
        can_rate="rate" in VISIT_MACHINE.events(visit.status, OrgKind.ENTERPRISE.value),
        status=status,
    )


@bp.get("/diagnosis/visits/<id:visit_id>")
@requires(OrgKind.ENTERPRISE)
def enterprise_visit(visit_id: int) -> ResponseReturnValue:
    return _enterprise_visit_page(visit_id, forms.RatingForm())


@bp.post("/diagnosis/visits/<id:visit_id>/rating")
@requires(OrgKind.ENTERPRISE)
def rate_visit(visit_id: int) -> ResponseReturnValue:
    visit = visits.visit_for_enterprise(current_user.org, visit_id)
    form = forms.RatingForm()
    if not form.validate_on_submit():
        return _enterprise_visit_page(visit.id, form, INVALID)
    try:
        visits.rate(visit, form.rating.data, form.comment.data or "", current_actor())
    except DomainError as error:
        attach_error(form, error)
        return _enterprise_visit_page(visit.id, form, INVALID)
    flash(
        _("Thank you: your rating of %(advisor)s is recorded.", advisor=visit.advisor.name),
        "success",
    )
    return redirect(url_for("advisors.enterprise_visit", visit_id=visit.id))


# The advisor's workspace


@bp.get("/advisor/visits")
@requires(OrgKind.ADVISOR)
def advisor_visits() -> ResponseReturnValue:
    value = request.args.get("status", "")
    status = VisitStatus(value) if value in VisitStatus._value2member_map_ else None
    return render(
        "diagnosis/advisor_visits.html",
        rows=visits.visits_of_advisor(current_user.org, status),
        current=status.value if status else "",
        statuses=list(VisitStatus),
        today=local_today(),
    )


def _advisor_visit_page(
    visit_id: int,
    decision: forms.VisitDecisionForm | None = None,
    findings: forms.Form | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    visit = visits.visit_for_advisor(current_user.org, visit_id)
    return render(
        "diagnosis/advisor_visit.html",
        v=visit,
        decision=decision or forms.VisitDecisionForm(),
        findings=findings or forms.findings_form(),
        dimensions=qn.DIMENSIONS,
        scores=visit.diagnosis.dimension_scores,
        status=status,
    )


@bp.get("/advisor/visits/<id:visit_id>")
@requires(OrgKind.ADVISOR)
def advisor_visit(visit_id: int) -> ResponseReturnValue:
    return _advisor_visit_page(visit_id)


@bp.post("/advisor/visits/<id:visit_id>/decision")
@requires(OrgKind.ADVISOR)
def decide_visit(visit_id: int) -> ResponseReturnValue:
    visit = visits.visit_for_advisor(current_user.org, visit_id)
    form = forms.VisitDecisionForm()
    if not form.validate_on_submit():
        return _advisor_visit_page(visit.id, decision=form, status=INVALID)
    try:
        if form.decision.data == "accept":
            visits.accept(visit, current_actor())
        else:
            visits.decline(visit, form.reason.data or "", current_actor())
    except DomainError as error:
        attach_error(form, error)
        return _advisor_visit_page(visit.id, decision=form, status=INVALID)
    flash(_("The request is now: %(status)s.", status=visit.status.label), "success")
    return redirect(url_for("advisors.advisor_visit", visit_id=visit.id))


@bp.post("/advisor/visits/<id:visit_id>/findings")
@requires(OrgKind.ADVISOR)
def record_findings(visit_id: int) -> ResponseReturnValue:
    visit = visits.visit_for_advisor(current_user.org, visit_id)
    form = forms.findings_form()
    if not form.validate_on_submit():
        return _advisor_visit_page(visit.id, findings=form, status=INVALID)
    given = [
        visits.FindingInput(
            dimension=code,
            text=form[f"finding_{code}"].data or "",
            score_adjustment=form[f"adjust_{code}"].data,
            priority=form[f"priority_{code}"].data or None,
        )
        for code in qn.DIMENSIONS
    ]
    try:
        visits.record_findings(visit, given, form["recommendations"].data or "", current_actor())
    except DomainError as error:
        attach_error(form, error)
        return _advisor_visit_page(visit.id, findings=form, status=INVALID)
    flash(_("The findings are recorded and are now part of the diagnosis report."), "success")
    return redirect(url_for("advisors.advisor_visit", visit_id=visit.id))
