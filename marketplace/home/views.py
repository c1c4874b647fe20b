"""The landing page and each role's dashboard. Later domains add their panels here."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text

from marketplace import audit
from marketplace.accounts import services as accounts
from marketplace.accounts.models import OrgKind
from marketplace.db import db
from marketplace.rendering import render
from marketplace.security import public, requires

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def index() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("home.dashboard"))
    return render("home/index.html", counts=accounts.count_by_kind())


@bp.get("/dashboard")
@requires()
def dashboard() -> ResponseReturnValue:
    org = current_user.org
    counts = accounts.count_by_kind() if org.kind is OrgKind.PLATFORM else {}
    return render(
        f"home/dashboard_{org.kind.value}.html",
        org=org,
        counts=counts,
        recent=audit.entries_for_org(org.id, limit=8),
    )


@bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:

    db.session.execute(text("SELECT 1"))
    return Response("ok", mimetype="text/plain")
