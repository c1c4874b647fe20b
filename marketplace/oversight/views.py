"""Oversight pages for agency officials: market concentration per programme."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import services as catalog
from marketplace.db import db
from marketplace.errors import DomainError
from marketplace.forms import Form
from marketplace.oversight import concentration
from marketplace.rendering import render
from marketplace.security import current_actor, requires
from marketplace.vouchers import services as vouchers

bp = Blueprint("oversight", __name__)


@bp.get("/agency/programmes/<id:programme_id>/concentration")
@requires(OrgKind.AGENCY)
def concentration_page(programme_id: int) -> ResponseReturnValue:
    p = vouchers.programme_for(current_user.org, programme_id)
    locale = str(get_locale())
    names = {c.code: c.name(locale) for c in catalog.categories()}
    alerts = concentration.alerts(p)
    providers = {
        o.id: o.name
        for o in db.session.query(Organisation).filter(
            Organisation.id.in_({a.provider_id for a in alerts})
        )
    }
    return render(
        "oversight/concentration.html",
        p=p,
        markets=concentration.markets(p),
        alerts=alerts,
        providers=providers,
        category_name=lambda code: {
            concentration.ALL: _("All categories"),
            concentration.INTEGRATION: _("Integration fees"),
        }.get(code, names.get(code, code)),
        hhi_limit=concentration.HHI_LIMIT,
        form=Form(),
    )


@bp.post("/agency/programmes/<id:programme_id>/concentration/<any(scan, threshold):action>")
@requires(OrgKind.AGENCY, owner=True)
def concentration_action(programme_id: int, action: str) -> ResponseReturnValue:
    p = vouchers.programme_for(current_user.org, programme_id)
    form = Form()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("This action is not possible in the current state."))
        if action == "threshold":
            try:
                percent = Decimal(request.form.get("threshold", "").strip())
            except InvalidOperation:
                raise DomainError(_("Enter a share from 0.01 to 100.")) from None
            concentration.set_threshold(p, int(percent * 100), current_actor())
        raised, cleared = concentration.scan(p, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(
            _(
                "Checked: %(raised)d new alerts, %(cleared)d cleared.",
                raised=raised,
                cleared=cleared,
            ),
            "success",
        )
    return redirect(url_for("oversight.concentration_page", programme_id=p.id))
