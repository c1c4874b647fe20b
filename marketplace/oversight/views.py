"""Oversight pages for agency officials: market concentration per programme."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import Blueprint, Response, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional

from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import services as catalog
from marketplace.db import db
from marketplace.errors import DomainError
from marketplace.forms import Form
from marketplace.money import format_fen
from marketplace.oversight import (
    audit_search,
    charts,
    concentration,
    dashboard,
    modes,
    transparency,
)
from marketplace.pool import services as pool
from marketplace.rendering import page_number, render
from marketplace.security import current_actor, public, requires
from marketplace.vouchers import services as vouchers

bp = Blueprint("oversight", __name__)


@bp.get("/transparency")
@public
def transparency_page() -> ResponseReturnValue:
    agencies = pool.agencies()
    chosen = request.args.get("agency", type=int)
    agency = next((a for a in agencies if a.id == chosen), agencies[0] if agencies else None)
    return render(
        "oversight/transparency.html",
        agencies=agencies,
        agency=agency,
        members=transparency.members(agency) if agency else [],
        programmes=transparency.programmes(agency) if agency else [],
        hhi_limit=concentration.HHI_LIMIT,
    )


@bp.get("/agency/programmes/<id:programme_id>/burn")
@requires(OrgKind.AGENCY)
def burn_page(programme_id: int) -> ResponseReturnValue:
    p = vouchers.programme_for(current_user.org, programme_id)
    months = dashboard.burn(p)
    chart = charts.bars(
        [m.month for m in months],
        [
            (_("Issued"), [m.issued_fen for m in months]),
            (_("Redeemed"), [m.redeemed_fen for m in months]),
            (_("Settled"), [m.settled_fen for m in months]),
        ],
        _("Voucher money by month"),
        value_text=format_fen,
    )
    return render("oversight/burn.html", p=p, months=months, chart=chart)


@bp.get("/agency/programmes/<id:programme_id>/burn.csv")
@requires(OrgKind.AGENCY)
def burn_csv(programme_id: int) -> ResponseReturnValue:
    p = vouchers.programme_for(current_user.org, programme_id)
    body = "\ufeff" + dashboard.as_csv(p, dashboard.burn(p))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="programme-{p.id}-by-month.csv"'},
    )


@bp.get("/agency/modes")
@requires(OrgKind.AGENCY)
def modes_page() -> ResponseReturnValue:
    return render(
        "oversight/modes.html",
        everywhere=modes.compare(),
        mine=modes.compare(current_user.org),
    )


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
        min_orders=concentration.MIN_ORDERS_FOR_ALERT,
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


class AuditForm(Form):
    class Meta:
        csrf = False  # a search (GET) form

    actor = StringField(_l("Actor (name or e-mail)"), validators=[Optional(), Length(max=100)])
    organisation = StringField(
        _l("Organisation (name or credit code)"), validators=[Optional(), Length(max=200)]
    )
    action = StringField(
        _l("Action (e.g. settlement, voucher.revoked)"), validators=[Optional(), Length(max=60)]
    )
    object_type = StringField(_l("Object type"), validators=[Optional(), Length(max=40)])
    object_id = StringField(_l("Object id"), validators=[Optional(), Length(max=64)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])


def _audit_query() -> tuple[AuditForm, audit_search.Query | None]:
    form = AuditForm(request.args)
    if request.args and not form.validate():
        return form, None
    return form, audit_search.Query(
        actor=form.actor.data or "",
        organisation=form.organisation.data or "",
        action=form.action.data or "",
        object_type=form.object_type.data or "",
        object_id=form.object_id.data or "",
        since=form.since.data,
        until=form.until.data,
    )


@bp.get("/agency/audit")
@requires(OrgKind.AGENCY)
def audit_trail() -> ResponseReturnValue:
    form, query = _audit_query()
    page = page_number()
    entries = audit_search.search(current_user.org, query, page) if query else []
    users, orgs = audit_search.who(entries)
    return render(
        "oversight/audit.html",
        form=form,
        entries=entries,
        users=users,
        orgs=orgs,
        page=page,
        args={k: v for k, v in request.args.items() if k != "page"},
        status=200 if query else 422,
    )


@bp.get("/agency/audit.csv")
@requires(OrgKind.AGENCY)
def audit_csv() -> ResponseReturnValue:
    _form, query = _audit_query()
    if query is None:
        return redirect(url_for("oversight.audit_trail") + "?" + request.query_string.decode())
    body = "\ufeff" + audit_search.as_csv(current_user.org, query)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
