"""The landing page and each role's dashboard. Later domains add their panels here."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from marketplace import audit, jobs, observability
from marketplace.accounts import grants
from marketplace.accounts import services as accounts
from marketplace.accounts.models import OrgKind
from marketplace.catalog import curated_bundles
from marketplace.catalog import services as catalog
from marketplace.diagnosis import visits
from marketplace.home.todos import todo_list
from marketplace.jobs.models import JobState
from marketplace.orders import aftercare
from marketplace.orders import services as orders
from marketplace.orders.models import LineStatus
from marketplace.oversight import concentration, evaluation
from marketplace.payments import services as payments
from marketplace.pool import advisors as advisor_pool
from marketplace.pool import services as pool
from marketplace.pool.models import PoolStatus
from marketplace.rendering import render
from marketplace.security import public, requires
from marketplace.vouchers import figures, issuing, programmes, risk, spending

bp = Blueprint("home", __name__)

HOME_BUNDLES = 6  # curated bundles shown on the landing page; the rest on /bundles


@bp.get("/")
@public
def index() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("home.dashboard"))
    bundles = curated_bundles.public_bundles()
    return render(
        "home/index.html",
        counts=accounts.count_by_kind(),
        categories=catalog.category_counts(),
        bundles=bundles[:HOME_BUNDLES],
        more_bundles=len(bundles) > HOME_BUNDLES,
        totals={b.id: curated_bundles.bundle_totals(b) for b in bundles[:HOME_BUNDLES]},
    )


@bp.get("/dashboard")
@requires()
def dashboard() -> ResponseReturnValue:
    org = current_user.org
    context: dict[str, Any] = {"todos": todo_list(org, current_user, current_app.config)}
    if org.kind is OrgKind.ENTERPRISE:
        context["vouchers"] = spending.vouchers_of(org)
    elif org.kind is OrgKind.PLATFORM:
        context["counts"] = accounts.count_by_kind()
    elif org.kind is OrgKind.ASSESSOR:
        # what waits, counted from the to-do list itself: the counts and the list agree
        kinds = [t.kind for t in context["todos"]]
        context.update(
            to_verify=kinds.count("measurement_disputed"),
            to_score=kinds.count("evaluation_to_score"),
            rounds=evaluation.assignment_counts(org),
            shared=len(grants.grants_to(org)),
        )
    elif org.kind is OrgKind.PROVIDER:
        context.update(
            memberships=pool.memberships_of(org),
            agencies=pool.agencies(),
            package_counts=catalog.package_counts(org),
            waiting_lines=orders.count_lines(org, LineStatus.PLACED),
            open_tickets=aftercare.open_ticket_count(org),
            bundles=curated_bundles.integrator_bundles(org),
        )
    elif org.kind is OrgKind.ADVISOR:
        kinds = [t.kind for t in context["todos"]]
        context.update(
            to_answer=kinds.count("visit_requested"),
            to_record=kinds.count("visit_findings_due"),
            pools=advisor_pool.memberships_of(org),
            rating=visits.ratings([org.id]).get(org.id),
        )
    elif org.kind is OrgKind.AGENCY:
        context["pending"] = pool.count_in(org, PoolStatus.APPLIED)
        context["admitted"] = pool.count_in(org, PoolStatus.ADMITTED)
        context["programmes"] = shown = programmes.programmes_of(org)[:4]
        context["figures"] = figures.of_programmes(shown)
        context["applications"] = issuing.count_pending_applications(org)
        context["held"] = len(risk.open_flags(org))
        context["alerts"] = concentration.active_alerts(org.id)
    return render(
        f"home/dashboard_{org.kind.value}.html",
        org=org,
        recent=audit.entries_for_org(org.id, limit=8),
        **context,
    )


@bp.get("/admin/overview")
@requires(OrgKind.PLATFORM)
def overview() -> ResponseReturnValue:
    """The platform at a glance: organisations by kind, order lines by state, money in
    motion (each figure from the service that computes it), failed background jobs and the
    health of the database, cache and queue."""
    problems = jobs.problems()
    return render(
        "home/overview.html",
        counts=accounts.count_by_kind(),
        kinds=list(OrgKind),
        lines=orders.lines_by_status(),
        orders=orders.order_count(),
        billing=payments.platform_totals(),
        vouchers=figures.platform_totals(),
        failed=[r for r in problems if r.state is JobState.FAILED],
        retrying=sum(1 for r in problems if r.state is JobState.RETRYING),
        health=observability.readiness(current_app._get_current_object()),  # type: ignore[attr-defined]
    )
