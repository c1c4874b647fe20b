"""Oversight pages for agency officials: statistics, market concentration, modes, the audit
trail; and the public transparency page."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms import DateField, DecimalField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from marketplace.accounts import services as accounts
from marketplace.accounts.models import Organisation, OrgKind, SizeTier
from marketplace.catalog import services as catalog
from marketplace.db import db, local_today
from marketplace.diagnosis import questionnaire as qn
from marketplace.errors import DomainError, NotFound
from marketplace.forms import Form, choices
from marketplace.money import format_fen
from marketplace.orders.models import Severity
from marketplace.oversight import (
    audit_search,
    charts,
    concentration,
    dashboard,
    modes,
    radar,
    simulator,
    stats,
    track_record,
    transparency,
    usage_kpi,
    usage_monitoring,
)
from marketplace.pool import services as pool
from marketplace.rendering import csv_download, page_number, render
from marketplace.security import MAX_ID, current_actor, public, requires
from marketplace.vouchers import figures, programmes
from marketplace.vouchers.models import ProgrammeMode

bp = Blueprint("oversight", __name__)


@bp.get("/track-record/how")
@public
def track_record_how() -> ResponseReturnValue:
    """How the track records on package and provider pages are computed (one section each)."""
    return render("oversight/track_record_how.html", min_cases=track_record.MIN_CASES)


@bp.get("/transparency")
@public
def transparency_page() -> ResponseReturnValue:
    agencies = pool.agencies()
    chosen = request.args.get("agency", type=int)
    agency = next((a for a in agencies if a.id == chosen), None) or transparency.most_active(
        agencies
    )
    return render(
        "oversight/transparency.html",
        agencies=agencies,
        agency=agency,
        members=transparency.members(agency) if agency else [],
        programmes=transparency.programmes(agency) if agency else [],
        rounds=transparency.rounds(agency) if agency else [],
        hhi_limit=concentration.HHI_LIMIT,
        today=local_today(),
    )


@bp.get("/agency/programmes/<id:programme_id>/burn")
@requires(OrgKind.AGENCY)
def burn_page(programme_id: int) -> ResponseReturnValue:
    p = programmes.programme_for(current_user.org, programme_id)
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
    return render("oversight/burn.html", p=p, months=months, chart=chart, f=figures.of(p))


@bp.get("/agency/programmes/<id:programme_id>/burn.csv")
@requires(OrgKind.AGENCY)
def burn_csv(programme_id: int) -> ResponseReturnValue:
    p = programmes.programme_for(current_user.org, programme_id)
    return csv_download(
        dashboard.as_csv(p, dashboard.burn(p), figures.of(p)), f"programme-{p.id}-by-month.csv"
    )


@bp.get("/agency/programmes/<id:programme_id>/usage")
@requires(OrgKind.AGENCY)
def usage_page(programme_id: int) -> ResponseReturnValue:
    """Whether the usage subscriptions the programme's vouchers pay towards are used."""
    p = programmes.programme_for(current_user.org, programme_id)
    return render(
        "oversight/usage.html",
        p=p,
        m=usage_monitoring.monitoring(p),
        kpis=usage_kpi.for_programme(p.id),
        disagree=usage_kpi.DISAGREE_POINTS,
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
    p = programmes.programme_for(current_user.org, programme_id)
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
        routing=concentration.by_routing_integrator(p),
        alerts=alerts,
        providers=providers,
        category_name=lambda code: {
            concentration.ALL: _("All categories"),
            concentration.INTEGRATION: _("Integration fees"),
        }.get(code, names.get(code, code)),
        hhi_limit=concentration.HHI_LIMIT,
        min_orders=current_app.config["CONCENTRATION_MIN_ORDERS"],
        form=Form(),
    )


@bp.post("/agency/programmes/<id:programme_id>/concentration/<any(scan, threshold):action>")
@requires(OrgKind.AGENCY, owner=True)
def concentration_action(programme_id: int, action: str) -> ResponseReturnValue:
    p = programmes.programme_for(current_user.org, programme_id)
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


CAP_RANGE = _l("Enter a share from 0.01 to 100, or leave it empty for no cap.")


class SimulatorForm(Form):
    """What to project: a mode and proposed caps (a GET form; empty is no cap)."""

    class Meta:
        csrf = False

    mode = SelectField(_l("Mode"))
    provider_cap = DecimalField(
        _l("Largest share of the voucher money one provider may hold (per cent)"),
        places=2,
        validators=[
            Optional(),
            NumberRange(min=Decimal("0.01"), max=Decimal(100), message=CAP_RANGE),
        ],
    )
    integration_fee_cap = DecimalField(
        _l("Largest share of a curated bundle its integration fee may be (per cent)"),
        places=2,
        validators=[
            Optional(),
            NumberRange(min=Decimal("0.01"), max=Decimal(100), message=CAP_RANGE),
        ],
    )


def _percent(bp: int | None) -> Decimal | None:
    return None if bp is None else Decimal(bp) / 100


@bp.get("/agency/programmes/<id:programme_id>/simulator")
@requires(OrgKind.AGENCY)
def simulator_page(programme_id: int) -> ResponseReturnValue:
    """The programme's figures now and projected under the other mode (or the one chosen)
    and the proposed caps, with the assumptions stated."""
    p = programmes.programme_for(current_user.org, programme_id)
    other = ProgrammeMode.OPEN if p.mode is ProgrammeMode.INTEGRATOR else ProgrammeMode.INTEGRATOR
    form = SimulatorForm(request.args)
    form.mode.choices = choices((m.value, m.label) for m in ProgrammeMode)
    status = 200
    if "mode" not in request.args:
        form.mode.data = other.value
    if not request.args:
        form.provider_cap.data = _percent(p.provider_cap_bp)
        form.integration_fee_cap.data = _percent(p.integration_fee_cap_bp)
    elif not form.validate():
        status = 422
    floor = p.hybrid_fee_floor_bp
    if status == 200:
        scenario = simulator.Scenario(
            form.mode.data or other.value,
            None if form.provider_cap.data is None else int(form.provider_cap.data * 100),
            None
            if form.integration_fee_cap.data is None
            else int(form.integration_fee_cap.data * 100),
            floor,
        )
    else:
        scenario = simulator.Scenario(other.value, hybrid_fee_floor_bp=floor)
    lines = simulator.facts(p)
    admitted = simulator.admitted_by_category(p)
    integrators = [i.id for i in p.integrators]
    projection = simulator.project(lines, scenario, admitted, integrators)
    # the third column: hybrid mode under the same caps, at the programme's fee floor
    hybrid = simulator.project(
        lines, replace(scenario, mode=simulator.HYBRID), admitted, integrators
    )
    parties = [projection.current.largest_party_id]
    for shown in (projection.projected, hybrid.projected):
        if shown is not None:
            parties.append(shown.largest_party_id)
    notes = [simulator.NOTES[n] for n in projection.notes]
    notes += [simulator.NOTES[n] for n in hybrid.notes if n not in projection.notes]
    return render(
        "oversight/simulator.html",
        p=p,
        form=form,
        projection=projection,
        hybrid=hybrid,
        floor_pct=_percent(floor),
        orders=len({line.order_id for line in lines}),
        mode_label=ProgrammeMode(scenario.mode).label,
        names=simulator.names(parties),
        assumptions=simulator.ASSUMPTIONS,
        notes=notes,
        status=status,
    )


class AuditForm(Form):
    class Meta:
        csrf = False  # a search (GET) form

    actor = StringField(_l("Actor (name or e-mail)"), validators=[Optional(), Length(max=100)])
    organisation = StringField(
        _l("Organisation acting or acted on (name or credit code)"),
        validators=[Optional(), Length(max=200)],
    )
    action = StringField(
        _l("Action (its name or code, e.g. settlement, voucher.revoked)"),
        validators=[Optional(), Length(max=60)],
    )
    # An unknown kind finds nothing rather than failing: a link may name a kind since renamed.
    object_type = SelectField(_l("Object type"), validate_choice=False)
    object_name = StringField(
        _l("Object (number or name)"), validators=[Optional(), Length(max=120)]
    )
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])


def _period_in_order(form: AuditForm | StatsForm) -> bool:
    """A period from ``since`` to ``until`` that ends before it starts is said, next to its
    end, rather than silently finding nothing."""
    if form.since.data and form.until.data and form.since.data > form.until.data:
        form.until.errors = [*form.until.errors, _("The period must end after it starts.")]
        return False
    return True


def _audit_query() -> tuple[AuditForm, audit_search.Query | None]:
    form = AuditForm(request.args)
    form.object_type.choices = choices([("", _("All")), *audit_search.kind_choices()])
    if request.args and not form.validate():
        return form, None
    if not _period_in_order(form):
        return form, None
    return form, audit_search.Query(
        actor=form.actor.data or "",
        organisation=form.organisation.data or "",
        action=form.action.data or "",
        object_type=form.object_type.data or "",
        object_name=form.object_name.data or "",
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
        objects=audit_search.objects(entries),
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
    return csv_download(audit_search.as_csv(current_user.org, query), "audit.csv")


# Statistics


class StatsForm(Form):
    class Meta:
        csrf = False  # a filter (GET) form, kept in the URL

    programme = SelectField(_l("Programme"), coerce=int, validators=[Optional()])
    since = DateField(_l("Period from"), validators=[Optional()])
    until = DateField(_l("Period until"), validators=[Optional()])
    industry = SelectField(_l("Industry"), validators=[Optional()])
    region = SelectField(_l("Region"), validators=[Optional()])
    category = SelectField(_l("Category"), validators=[Optional()])


def _stats_filters() -> tuple[StatsForm, stats.Filters | None, dict[str, dict[str, str]]]:
    locale = str(get_locale())
    org = current_user.org
    names = {
        "programme": {str(p.id): p.name for p in programmes.programmes_of(org)},
        "industry": {i.code: i.name(locale) for i in accounts.industries()},
        "region": {r.code: r.name(locale) for r in accounts.regions()},
        "category": {
            **{c.code: c.name(locale) for c in catalog.categories()},
            stats.INTEGRATION: _("Integration fees"),
        },
        "size": {t.value: t.label for t in SizeTier},
        "severity": {s.value: s.label for s in Severity},
        "result": {
            "met": _("Target met"),
            "missed": _("Target missed"),
            "in_progress": _("In progress"),
        },
    }
    chosen = request.args.get("programme", type=int)
    if chosen:
        if not 1 <= chosen <= MAX_ID:
            raise NotFound(_("Not found."))
        programmes.programme_for(org, chosen)  # another agency's programme: 404
    form = StatsForm(request.args)
    form.programme.choices = choices(
        [(0, _("All programmes")), *((int(k), v) for k, v in names["programme"].items())]
    )
    for name in ("industry", "region", "category"):
        getattr(form, name).choices = choices([("", _("All")), *names[name].items()])
    if not form.validate():
        return form, None, names
    if not _period_in_order(form):
        return form, None, names
    return (
        form,
        stats.Filters(
            programme_id=form.programme.data or None,
            since=form.since.data,
            until=form.until.data,
            industry=form.industry.data or None,
            region=form.region.data or None,
            category=form.category.data or None,
        ),
        names,
    )


def _section_titles() -> dict[str, str]:
    return {
        "money": _("Budget: issued, reserved, redeemed, settled"),
        "burn": _("Voucher money by month"),
        "enterprises_industry": _("Enterprises served by industry"),
        "enterprises_size": _("Enterprises served by size"),
        "enterprises_region": _("Enterprises served by region"),
        "orders_category": _("Order lines by category"),
        "lead_times": _("Median days from order to go-live and to acceptance"),
        "outcomes": _("Outcome contracts"),
        "tickets": _("Support tickets and SLA breaches"),
        "maturity": _("Diagnosis maturity before and after (enterprises with a second diagnosis)"),
    }


def _label_of(section: str, names: dict[str, dict[str, str]]) -> dict[str, str]:
    kind = {
        "enterprises_industry": "industry",
        "enterprises_size": "size",
        "enterprises_region": "region",
        "orders_category": "category",
        "lead_times": "category",
        "outcomes": "result",
        "tickets": "severity",
    }.get(section)
    found = dict(names.get(kind, {})) if kind else {}
    found["all"] = _("All")
    return found


def _chart(table: stats.Table, title: str, labels: dict[str, str]) -> Markup | None:
    if not table.rows:
        return None
    heads = [labels.get(str(r[0]), str(r[0])) for r in table.rows]
    column_names = _column_titles()
    numeric = [i for i, c in enumerate(table.columns) if i > 0]
    if table.key == "money":
        numeric = [2, 3, 4, 5]  # the budget would dwarf the rest; it is in the table
    money = any(table.columns[i].endswith("_fen") for i in numeric)
    series = [
        (column_names.get(table.columns[i], table.columns[i]), [int(r[i] or 0) for r in table.rows])
        for i in numeric
        if table.columns[i].endswith("_fen") == money
    ]
    return charts.bars(heads, series, title, value_text=format_fen if money else _plain)


def _plain(value: object) -> str:
    return str(value)


def _column_titles() -> dict[str, str]:
    return {
        "programme": _("Programme"),
        "budget_fen": _("Budget"),
        "issued_fen": _("Issued"),
        "reserved_fen": _("Reserved"),
        "redeemed_fen": _("Redeemed"),
        "settled_fen": _("Settled"),
        "month": _("Month"),
        "industry": _("Industry"),
        "size": _("Size"),
        "region": _("Region"),
        "enterprises": _("Enterprises"),
        "category": _("Category"),
        "order_lines": _("Order lines"),
        "committed_fen": _("Committed"),
        "median_days_to_go_live": _("Median days to go-live"),
        "median_days_to_acceptance": _("Median days to acceptance"),
        "result": _("Result"),
        "contracts": _("Contracts"),
        "success_fees_fen": _("Success fees"),
        "severity": _("Severity"),
        "tickets": _("Tickets"),
        "sla_breaches": _("SLA breaches"),
        "level": _("Maturity level"),
        "enterprises_first_diagnosis": _("At the first diagnosis"),
        "enterprises_latest_diagnosis": _("At the latest diagnosis"),
    }


@bp.get("/agency/dashboard")
@requires(OrgKind.AGENCY)
def dashboard_page() -> ResponseReturnValue:
    form, filters, names = _stats_filters()
    titles = _section_titles()
    sections = []
    computed_at = None
    if filters is not None:
        computed_at, tables = stats.cached_sections(
            current_user.org, filters, current_app.config["STATS_CACHE_SECONDS"]
        )
        for key, table in tables.items():
            labels = _label_of(key, names)
            sections.append(
                {
                    "key": key,
                    "title": titles[key],
                    "table": table,
                    "labels": labels,
                    "chart": _chart(table, titles[key], labels),
                }
            )
    return render(
        "oversight/dashboard.html",
        form=form,
        sections=sections,
        columns=_column_titles(),
        query=request.query_string.decode(),
        alerts=concentration.open_alerts(current_user.org.id),
        computed_at=computed_at,
        category_names={**names["category"], concentration.ALL: _("All categories")},
        status=200 if filters is not None else 422,
    )


@bp.get("/agency/dashboard/<section>.csv")
@requires(OrgKind.AGENCY)
def dashboard_csv(section: str) -> ResponseReturnValue:
    if section not in stats.SECTIONS:
        raise NotFound(_("Not found."))
    _form, filters, names = _stats_filters()
    if filters is None:  # the page says what is wrong with the filters
        return redirect(url_for("oversight.dashboard_page") + "?" + request.query_string.decode())
    computed_at, tables = stats.cached_sections(
        current_user.org, filters, current_app.config["STATS_CACHE_SECONDS"]
    )
    # The snapshot the page showed (the same key): its time in the name and Last-Modified.
    response = csv_download(
        stats.as_csv(tables[section], _label_of(section, names)),
        f"{section}-{computed_at:%Y%m%d-%H%M%S}.csv",
    )
    response.last_modified = computed_at
    return response


# The demand radar


class RadarForm(Form):
    class Meta:
        csrf = False  # a filter (GET) form, kept in the URL

    industry = SelectField(_l("Industry"), validators=[Optional()])
    district = SelectField(_l("District"), validators=[Optional()])


def _radar_filters() -> tuple[RadarForm, radar.Filters | None, dict[str, dict[str, str]]]:
    locale = str(get_locale())
    names = {
        "industry": {i.code: i.name(locale) for i in accounts.industries()},
        "district": {r.code: r.name(locale) for r in accounts.regions()},
        "category": {c.code: c.name(locale) for c in catalog.categories()},
        "dimension": {d: str(t) for d, t in qn.DIMENSIONS.items()},
        "pain_point": {p: str(t) for p, (t, _codes) in qn.PAIN_POINTS.items()},
    }
    form = RadarForm(request.args)
    form.industry.choices = choices([("", _("All")), *names["industry"].items()])
    form.district.choices = choices([("", _("All")), *names["district"].items()])
    if not form.validate():
        return form, None, names
    return (
        form,
        radar.Filters(industry=form.industry.data or None, district=form.district.data or None),
        names,
    )


@bp.get("/agency/demand")
@requires(OrgKind.AGENCY)
def radar_page() -> ResponseReturnValue:
    form, filters, names = _radar_filters()
    found = radar.radar(current_user.org, filters) if filters is not None else None
    return render(
        "oversight/radar.html",
        form=form,
        filters=filters,
        radar=found,
        names=names,
        thin=radar.THIN,
        query=request.query_string.decode(),
        status=200 if filters is not None else 422,
    )


@bp.get("/agency/demand.csv")
@requires(OrgKind.AGENCY)
def radar_csv() -> ResponseReturnValue:
    _form, filters, names = _radar_filters()
    if filters is None:  # the page says what is wrong with the filters
        return redirect(url_for("oversight.radar_page") + "?" + request.query_string.decode())
    found, _reasons = radar.cells(current_user.org, filters)
    return csv_download(
        radar.as_csv(found, names["industry"], names["district"]), "demand-radar.csv"
    )
