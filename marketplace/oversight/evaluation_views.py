"""Evaluation pages: officials open and close rounds, assessors score, providers read results."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from marketplace.accounts.models import OrgKind
from marketplace.errors import DomainError
from marketplace.forms import attach_error, choices
from marketplace.oversight import evaluation
from marketplace.oversight.forms import AssignForm, CloseForm, RoundForm, ScoreForm
from marketplace.oversight.models import COMPONENT_LABELS, COMPONENTS, RoundStatus
from marketplace.pool import services as pool
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, requires

bp = Blueprint("evaluation", __name__)


def _agency_names() -> dict[int, str]:
    return {a.id: a.name for a in pool.agencies()}


def _assessor_choices(blank: bool) -> list[SelectChoice]:
    found = [(a.id, a.name) for a in evaluation.assessors()]
    return choices([(0, _("Assign later")), *found] if blank else found)


@bp.get("/agency/evaluations")
@requires(OrgKind.AGENCY)
def rounds() -> ResponseReturnValue:
    org = current_user.org
    return render(
        "oversight/evaluations.html",
        rounds=evaluation.rounds_of(org),
        current=evaluation.current_round(org),
    )


@bp.route("/agency/evaluations/new", methods=["GET", "POST"])
@requires(OrgKind.AGENCY, owner=True)
def new_round() -> ResponseReturnValue:
    form = RoundForm()
    form.assessor.choices = _assessor_choices(blank=True)
    if form.validate_on_submit():
        terms = evaluation.Terms(
            name=form.name.data or "",
            period_start=form.period_start.data,
            period_end=form.period_end.data,
            pass_mark=form.pass_mark.data,
            weights=form.weights(),
            savings_target_fen=form.savings_target.data or 0,
            waiting_days=form.waiting_days.data,
        )
        try:
            rnd = evaluation.open_round(
                current_user.org, terms, form.assessor.data or None, current_actor()
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("The round is open: assessors can enter their scores."), "success")
            return redirect(url_for("evaluation.round_page", round_id=rnd.id))
    return render(
        "oversight/evaluation_new.html",
        form=form,
        components=COMPONENTS,
        status=INVALID if form.is_submitted() else 200,
    )


@bp.get("/agency/evaluations/<id:round_id>")
@requires(OrgKind.AGENCY)
def round_page(round_id: int) -> ResponseReturnValue:
    rnd = evaluation.round_for(current_user.org, round_id)
    assign = AssignForm()
    assign.assessor.choices = _assessor_choices(blank=False)
    order = request.args.get("sort", "score")
    order = order if order in evaluation.RESULT_ORDERS else "score"
    return render(
        "oversight/evaluation.html",
        rnd=rnd,
        order=order,
        results=evaluation.sorted_results(rnd, order),
        components=COMPONENTS,
        labels=COMPONENT_LABELS,
        assign=assign,
        close_form=CloseForm(),
        missing=[e for e in rnd.entries if e.assessor_score is None],
    )


@bp.post("/agency/evaluations/<id:round_id>/entries/<id:entry_id>/assessor")
@requires(OrgKind.AGENCY, owner=True)
def assign(round_id: int, entry_id: int) -> ResponseReturnValue:
    rnd = evaluation.round_for(current_user.org, round_id)
    form = AssignForm()
    form.assessor.choices = _assessor_choices(blank=False)
    try:
        if not form.validate_on_submit():
            raise DomainError(_("Choose an assessor from the list."))
        evaluation.assign(rnd, entry_id, form.assessor.data, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Assessor assigned."), "success")
    return redirect(url_for("evaluation.round_page", round_id=rnd.id))


@bp.post("/agency/evaluations/<id:round_id>/close")
@requires(OrgKind.AGENCY, owner=True)
def close(round_id: int) -> ResponseReturnValue:
    rnd = evaluation.round_for(current_user.org, round_id)
    form = CloseForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("This action is not possible in the current state."))
        suspended = evaluation.close(
            rnd, current_actor(), despite_missing=bool(form.despite_missing.data)
        )
    except evaluation.MissingScores as warning:
        flash(str(warning.message), "warning")
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The results are published to the providers."), "success")
        if suspended:
            flash(
                _(
                    "Suspended by the exit rule (two consecutive failed rounds): %(names)s.",
                    names=", ".join(suspended),
                ),
                "warning",
            )
    return redirect(url_for("evaluation.round_page", round_id=rnd.id))


# Assessors


@bp.get("/assessor/evaluations")
@requires(OrgKind.ASSESSOR)
def assignments() -> ResponseReturnValue:
    """The entries assigned to this assessor, filtered by their rounds' status (open or
    closed; all without a filter)."""
    value = request.args.get("status", "")
    status = RoundStatus(value) if value in RoundStatus._value2member_map_ else None
    return render(
        "oversight/assignments.html",
        entries=evaluation.assignments(current_user.org, status),
        counts=evaluation.assignment_counts(current_user.org),
        current=status.value if status else "",
        agency_names=_agency_names(),
    )


@bp.route("/assessor/evaluations/<id:entry_id>", methods=["GET", "POST"])
@requires(OrgKind.ASSESSOR)
def score(entry_id: int) -> ResponseReturnValue:
    entry = evaluation.entry_for_assessor(current_user.org, entry_id)
    form = ScoreForm(obj=None)
    if not form.is_submitted() and entry.assessor_score is not None:
        form.score.data = entry.assessor_score
        form.comment.data = entry.assessor_comment
    if form.validate_on_submit():
        try:
            evaluation.score(entry, form.score.data, form.comment.data or "", current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Score saved."), "success")
            return redirect(url_for("evaluation.assignments"))
    return render(
        "oversight/score.html",
        entry=entry,
        evidence=evaluation.evidence(entry),
        components=COMPONENTS,
        labels=COMPONENT_LABELS,
        form=form,
        status=INVALID if form.is_submitted() else 200,
    )


# Providers


@bp.get("/provider/evaluations")
@requires(OrgKind.PROVIDER)
def results() -> ResponseReturnValue:
    return render(
        "oversight/results.html",
        entries=evaluation.results_of(current_user.org),
        agency_names=_agency_names(),
        components=COMPONENTS,
        labels=COMPONENT_LABELS,
    )
