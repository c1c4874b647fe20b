"""The landing page and each role's dashboard. Later domains add their panels here."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from marketplace import audit
from marketplace.accounts import services as accounts
from marketplace.accounts.models import OrgKind
from marketplace.catalog import curated_bundles
from marketplace.catalog import services as catalog
from marketplace.home.todos import todo_list
from marketplace.orders import aftercare
from marketplace.orders import services as orders
from marketplace.orders.models import LineStatus
from marketplace.oversight import concentration
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
    elif org.kind is OrgKind.PROVIDER:
        context.update(
            memberships=pool.memberships_of(org),
            agencies=pool.agencies(),
            package_counts=catalog.package_counts(org),
            waiting_lines=orders.count_lines(org, LineStatus.PLACED),
            open_tickets=aftercare.open_ticket_count(org),
            bundles=curated_bundles.integrator_bundles(org),
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
