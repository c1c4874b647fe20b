"""An enterprise diagnoses itself and sees its history and recommendations.

Taking the recommended bundle creates a bundle, which belongs to orders: that route
(``journey.take_recommendation``) lives there.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from marketplace.accounts.models import OrgKind
from marketplace.diagnosis import forms
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import services as service
from marketplace.errors import DomainError
from marketplace.forms import attach_error
from marketplace.rendering import render
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
        dimensions=qn.DIMENSIONS,
        pain_points=qn.PAIN_POINTS,
        budgets=qn.BUDGETS,
    )
