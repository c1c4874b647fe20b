"""The landing page and each role's dashboard. Later domains add their panels here."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, url_for
from flask_login import current_user

from marketplace import audit
from marketplace.accounts import services as accounts
from marketplace.accounts.models import OrgKind
from marketplace.rendering import render
from marketplace.security import public, requires

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("home.dashboard"))
    return render("home/index.html", counts=accounts.count_by_kind())


@bp.get("/dashboard")
@requires()
def dashboard() -> Response:
    org = current_user.org
    context: dict[str, object] = {"org": org, "recent": audit.entries_for_org(org.id, limit=8)}
    if org.kind is OrgKind.PLATFORM:
        context["counts"] = accounts.count_by_kind()
    return render(f"home/dashboard_{org.kind.value}.html", **context)


@bp.get("/healthz")
@public
def healthz() -> Response:
    from marketplace.db import db
    from sqlalchemy import text

    db.session.execute(text("SELECT 1"))
    return Response("ok", mimetype="text/plain")
