"""KPI reports on accepted lines, and data grants: the enterprise's grants and access log, and
what a provider or assessor sees under a grant."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts import grants
from marketplace.accounts.models import GrantScope, OrgKind
from marketplace.db import local_today
from marketplace.errors import DomainError, NotFound
from marketplace.forms import FIRST_YEAR, LAST_YEAR, attach_error, choices
from marketplace.orders import services as orders
from marketplace.oversight import granted, kpi, usage_kpi
from marketplace.oversight.forms import GrantForm, KpiDecisionForm, KpiForm
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, requires

bp = Blueprint("data", __name__)


# KPI reports


def _month(text: str) -> date:
    try:
        month = date.fromisoformat(f"{text.strip()}-01")
    except ValueError:
        raise DomainError(_("Enter the month as YYYY-MM, e.g. 2026-10."), field="month") from None
    if not FIRST_YEAR <= month.year <= LAST_YEAR:
        raise DomainError(_("Choose a date from 2000 to 2100."), field="month")
    return month


@bp.route("/order-lines/<id:line_id>/kpi", methods=["GET", "POST"])
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def line_kpis(line_id: int) -> ResponseReturnValue:
    line = orders.line_for(current_user.org, line_id)
    form = KpiForm()
    if request.method == "GET":
        form.month.data = local_today().strftime("%Y-%m")
    if form.validate_on_submit():
        try:
            figures = kpi.Figures(
                month=_month(form.month.data or ""),
                data_coverage_pct=form.data_coverage_pct.data,
                digital_rate_pct=form.digital_rate_pct.data,
                monthly_savings_fen=form.monthly_savings.data or 0,
                note=form.note.data or "",
            )
            kpi.report(line, figures, current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("KPI report saved."), "success")
            return redirect(url_for("data.line_kpis", line_id=line.id))
    return render(
        "oversight/line_kpis.html",
        line=line,
        reports=kpi.reports_on([line.id])[line.id],
        metered=usage_kpi.for_line(line),
        form=form,
        decision=KpiDecisionForm(),
        status=INVALID if form.is_submitted() else 200,
    )


@bp.post("/kpi-reports/<id:report_id>/<any(confirm, reject):decision>")
@requires(OrgKind.ENTERPRISE, owner=True)
def decide_kpi(report_id: int, decision: str) -> ResponseReturnValue:
    report = kpi.report_for(current_user.org.id, report_id)
    form = KpiDecisionForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("This action is not possible in the current state."))
        kpi.decide(report, decision == "confirm", form.note.data or "", current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("KPI report confirmed.") if decision == "confirm" else _("KPI report declined."))
    return redirect(url_for("data.line_kpis", line_id=report.line_id))


# The enterprise's grants


@bp.route("/data-grants", methods=["GET", "POST"])
@requires(OrgKind.ENTERPRISE)
def my_grants() -> ResponseReturnValue:
    org = current_user.org
    form = GrantForm()
    form.grantee.choices = choices(
        (o.id, f"{o.name} · {o.kind.label}") for o in grants.grantee_choices(org)
    )
    form.scopes.choices = choices((s.value, s.label) for s in GrantScope)
    if request.method == "GET":
        form.starts_on.data = local_today()
        form.ends_on.data = local_today() + timedelta(days=90)
    if form.is_submitted() and not current_user.is_owner:
        flash(_("Only the organisation's owners can grant access."), "error")
    elif form.validate_on_submit():
        try:
            grants.grant(
                org,
                grants.GrantTerms(
                    grantee_id=form.grantee.data,
                    scopes=frozenset(GrantScope(s) for s in form.scopes.data or []),
                    starts_on=form.starts_on.data,
                    ends_on=form.ends_on.data,
                    purpose=form.purpose.data or "",
                ),
                current_actor(),
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Access granted."), "success")
            return redirect(url_for("data.my_grants"))
    return render(
        "oversight/grants.html",
        form=form,
        grants=grants.grants_of(org),
        log=grants.access_log(org),
        today=local_today(),
        status=INVALID if form.is_submitted() else 200,
    )


@bp.post("/data-grants/<id:grant_id>/revoke")
@requires(OrgKind.ENTERPRISE, owner=True)
def revoke_grant(grant_id: int) -> ResponseReturnValue:
    grant = grants.grant_of(current_user.org, grant_id)
    try:
        grants.revoke(grant, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Access revoked."), "success")
    return redirect(url_for("data.my_grants"))


# What others shared with a provider or an assessor


@bp.get("/shared-data")
@requires(OrgKind.PROVIDER, OrgKind.AGENCY, OrgKind.ASSESSOR)
def shared_with_me() -> ResponseReturnValue:
    return render("oversight/shared.html", grants=grants.grants_to(current_user.org))


@bp.get("/shared-data/<id:enterprise_id>/<scope>")
@requires(OrgKind.PROVIDER, OrgKind.AGENCY, OrgKind.ASSESSOR)
def shared_scope(enterprise_id: int, scope: str) -> ResponseReturnValue:
    try:
        chosen = GrantScope(scope)
    except ValueError:
        raise NotFound(_("Not found.")) from None
    grant, data = granted.open_scope(current_user.org, enterprise_id, chosen, current_actor())
    return render("oversight/shared_scope.html", grant=grant, scope=chosen, data=data)


shared_scope.writes_on_read = True  # type: ignore[attr-defined]  # the access log
