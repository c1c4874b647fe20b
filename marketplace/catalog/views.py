"""The public catalogue, package and bundle pages, the provider's workspace for packages
and curated bundles, delisting by agency officials and categories for the platform admin."""

from __future__ import annotations

import re
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from flask import (
    Blueprint,
    flash,
    get_template_attribute,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup, escape

from marketplace.accounts import services as accounts
from marketplace.accounts.models import Industry, Organisation, OrgKind, ProviderType, SizeTier
from marketplace.catalog import (
    case_counts,
    curated_bundles,
    forms,
    freshness,
    page_extras,
    reviews,
    search,
    services,
    thesaurus,
    track_records,
    voucher_states,
)
from marketplace.catalog.models import Category, Deployment, Package, PlanKind, VersionEvent
from marketplace.db import reads_only
from marketplace.errors import DomainError, NotFound
from marketplace.forms import attach_error, choices
from marketplace.pool import services as pool
from marketplace.rendering import (
    INVALID,
    fragment_requested,
    highlighter,
    page_number,
    render,
)
from marketplace.security import MAX_ID, current_actor, public, requires

bp = Blueprint("catalog", __name__)
workspace = Blueprint("workspace", __name__, url_prefix="/provider")

PER_PAGE = 30


def _locale() -> str:
    return str(get_locale())


# Public pages


def _args_in_use() -> dict[str, Any]:
    """The URL's arguments that say something: a GET form sends every field, empty or not,
    and the default order and the first page need no words either."""
    defaults = {"sort": search.Sort.RELEVANCE.value, "page": "1"}
    kept: dict[str, Any] = {}
    for name in request.args:
        values = [
            v for v in request.args.getlist(name) if v.strip() and v.strip() != defaults.get(name)
        ]
        if values and not name.startswith("_"):  # url_for's own options start with _
            kept[name] = values
    return kept


@bp.get("/catalog")
@public
@reads_only
def index() -> ResponseReturnValue:
    in_use = _args_in_use()
    if in_use != request.args.to_dict(flat=False) and not fragment_requested():
        return redirect(url_for("catalog.index", **in_use))
    # the same on every request: kept per process under their freshness stamps
    categories = freshness.reference("categories", services.categories, [freshness.CATEGORIES])
    industries = freshness.reference("industries", accounts.industries, [freshness.INDUSTRIES])
    agencies = freshness.reference("agencies", pool.agencies, [freshness.AGENCIES])
    query = search.parse(
        request.args.to_dict(),
        categories={c.code for c in categories},
        industries={i.code for i in industries},
        pools={a.id for a in agencies},
        ticked=request.args.getlist("ids"),
    )
    results, last_page = _results(query, categories, agencies)
    if last_page is not None and query.page > last_page:  # the catalogue shrank since the link
        in_use.pop("page")
        if last_page > 1:
            in_use["page"] = [str(last_page)]
        return redirect(url_for("catalog.index", **in_use))
    if fragment_requested():
        response = make_response(results)
        response.vary.add("HX-Request")
        # the address bar shows the search as a link would carry it, without empty fields
        clean: dict[str, Any] = query.url_args()
        response.headers["HX-Push-Url"] = url_for("catalog.index", **clean)
        return response
    return render(
        "catalog/index.html",
        block="results",
        results_html=results,
        filters_html=_filter_panel(query, categories, industries, agencies),
        query=query,
        categories=categories,
    )


# the search box as the kept panel has it, empty (no escaped text can forge its quotes)
_EMPTY_SEARCH_BOX = 'id="f-q" name="q" type="search" value=""'


def _filter_panel(
    query: search.Query,
    categories: list[Category],
    industries: list[Industry],
    agencies: list[Organisation],
) -> Markup:
    """The filter panel, rendered once per language, kind of visitor, filter state and
    reference data, and kept per process; this search's words are filled in per request
    (every uncached search rendered the same 14 categories, industries, pools and choices)."""
    official = current_user.is_authenticated and current_user.org_kind in (
        OrgKind.PLATFORM,
        OrgKind.AGENCY,
    )
    state = sorted(
        (name, tuple(v) if isinstance(v, list) else v)
        for name, v in query.url_args(text="", page=1).items()
    )

    def render_panel() -> str:
        return render_template(
            "catalog/_filters.html",
            query=replace(query, text=""),
            categories=categories,
            industries=industries,
            agencies=agencies,
            sorts=list(search.Sort),
            size_tiers=list(SizeTier),
            plan_kinds=list(PlanKind),
            deployments=list(Deployment),
            provider_types=list(ProviderType),
        )

    scopes = (freshness.CATEGORIES, freshness.INDUSTRIES, freshness.AGENCIES)
    key = (_locale(), official, tuple(state))
    panel = freshness.cached("filters", key, render_panel, scopes)
    filled = f'{_EMPTY_SEARCH_BOX[:-2]}"{escape(query.text)}"'
    return Markup(panel.replace(_EMPTY_SEARCH_BOX, filled, 1))


def _results(
    query: search.Query, categories: list[Category], agencies: list[Organisation]
) -> tuple[Markup, int | None]:
    """The results block and the last page (None when there are more matches than are
    counted), computed once per catalogue state, language, kind of visitor and query (an
    enterprise gets quick-add buttons); its cards are kept one by one as well, so a new
    query renders only the cards this worker has not shown yet."""
    enterprise = current_user.is_authenticated and current_user.org_kind == OrgKind.ENTERPRISE

    def render_results() -> tuple[str, int | None]:
        page = search.page_ids(query, per_page=PER_PAGE)
        total = page.total
        pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
        cards, shown = _cards(
            page, search.highlights(query), set(query.ticked), enterprise, agencies
        )
        html = render_block(
            "catalog/index.html",
            "results",
            cards=cards,
            total=total,
            query=query,
            max_counted=search.MAX_COUNTED,
            nearest=search.suggestions(query, categories) if query.text and not total else [],
            categories=categories,
            pages=pages,
            ticked_elsewhere=[i for i in query.ticked if i not in shown],
        )
        return html, pages if total <= search.MAX_COUNTED else None

    args = sorted(
        (name, tuple(v) if isinstance(v, list) else v) for name, v in query.url_args().items()
    )
    key = (_locale(), enterprise, bool(query.notes), query.price_swapped, tuple(args))
    scopes = (*freshness.catalogue_scopes(query.pool), *freshness.CARD_SCOPES)
    html, last_page = freshness.cached("catalogue", key, render_results, scopes)
    return _with_admission_notes(Markup(html)), last_page


# Stand-ins for what a kept card shows differently in each search (no visitor's text can
# forge them: the template escapes every ``<`` it is given).
_TITLE = Markup("<!--card:title-->")
_SUMMARY = Markup("<!--card:summary-->")
_CHECKED = Markup("<!--card:ticked-->")


def _card_labels(agencies: list[Organisation]) -> SimpleNamespace:
    """What every card says, translated once for every page of them in a language; its links
    built once too (``url_for`` per card was a tenth of a card's rendering); the agencies'
    names for the pool tags."""
    head, _id, tail = url_for("catalog.package", package_id=MAX_ID).partition(str(MAX_ID))
    # the language's translations looked up once (``ngettext`` looks them up on every call)
    translations = get_translations()
    return SimpleNamespace(
        pools={a.id: a.name for a in agencies},
        results_verified=lambda n: (
            translations.ungettext("%(num)d result verified", "%(num)d results verified", n)
            % {"num": n}
        ),
        reviews=lambda n: (
            translations.ungettext("%(num)d review", "%(num)d reviews", n) % {"num": n}
        ),
        package_url=lambda package_id: f"{head}{int(package_id)}{tail}",
        add_url=url_for("journey.add_to_bundle"),
        from_price=_("from %(price)s"),
        by_use=_("pay by use, nothing up front"),
        free_trial=_("Free trial, %(n)d days"),
        paid_trial=_("%(price)s trial, %(n)d days"),
        go_live=_("Go-live in %(n)d days"),
        results_title=_("Pay-for-results contracts whose target verified measurements showed met"),
        compare=_("Compare"),
        add=_("Add to bundle"),
        labels={k: k.label for kinds in (Deployment, PlanKind, ProviderType) for k in kinds},
    )


def _admission_marker(version_id: int) -> Markup:
    return Markup(f"<!--admission:{int(version_id)}-->")


def _cards(
    page: search.Page,
    marks: list[str],
    ticked: set[int],
    enterprise: bool,
    agencies: list[Organisation],
) -> tuple[list[Markup], set[int]]:
    """The package cards of the page's versions, in order, each with this search's words
    marked in its title and summary and its compare box ticked if it is; and their packages."""
    locale = _locale()
    ids = page.ids

    def render_cards(missing: list[int]) -> dict[int, tuple[str, str, str, int]]:
        card = get_template_attribute("catalog/_card.html", "package_card")
        # the same for every page in a language: kept per process until an agency changes
        labels = freshness.cached(
            "card-labels", (locale,), lambda: _card_labels(agencies), (freshness.AGENCIES,)
        )
        markers = (_TITLE, _SUMMARY, _CHECKED, _admission_marker)
        return {
            c.version_id: (
                str(card(c, *markers, enterprise, locale, labels)),
                c.title,
                c.summary,
                c.package_id,
            )
            for c in search.cards(missing, page.cards)
        }

    kept = freshness.cached_each(
        "card", (locale, enterprise), ids, render_cards, freshness.CARD_SCOPES
    )
    marked = highlighter(marks)
    cards = [
        Markup(
            html.replace(_TITLE, marked(title))
            .replace(_SUMMARY, marked(summary))
            .replace(_CHECKED, " checked" if package_id in ticked else "")
        )
        for html, title, summary, package_id in (kept[i] for i in ids if i in kept)
    ]
    return cards, {kept[i][3] for i in ids if i in kept}


ADMISSION_NOTES = re.compile(r"<!--admission:([0-9]+)-->")


def _with_admission_notes(html: Markup) -> Markup:
    """For a signed-in enterprise, each card says which programmes of its vouchers have not
    (yet) admitted the version (待准入 / 未准入), filled in now (one grouped statement for the
    page): which programmes an enterprise holds is its own, and admission decisions change
    nothing the cached cards show. Only an enterprise's cards carry the markers."""
    found = sorted({int(version_id) for version_id in ADMISSION_NOTES.findall(html)})
    if not found:
        return html
    notes = voucher_states.card_notes(current_user.org_id, found)
    shown = get_template_attribute("catalog/_card.html", "admission_notes")
    return Markup(ADMISSION_NOTES.sub(lambda m: str(shown(notes.get(int(m[1]), []))), str(html)))


@bp.route("/admin/thesaurus", methods=["GET", "POST"])
@requires(OrgKind.PLATFORM, OrgKind.AGENCY)
def thesaurus_page() -> ResponseReturnValue:
    """The search thesaurus: officials and the platform admin keep it."""
    form = forms.SynonymForm()
    if form.validate_on_submit():
        try:
            thesaurus.add(form.term.data, form.means.data, current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Added to the thesaurus: searches take it into account at once."), "success")
            return redirect(url_for("catalog.thesaurus_page"))
    status = INVALID if form.is_submitted() else 200
    return render("catalog/thesaurus.html", form=form, rows=thesaurus.entries(), status=status)


@bp.post("/admin/thesaurus/<int:entry_id>/remove")
@requires(OrgKind.PLATFORM, OrgKind.AGENCY)
def thesaurus_remove(entry_id: int) -> ResponseReturnValue:
    thesaurus.remove(entry_id, current_actor())
    flash(_("Removed from the thesaurus."), "success")
    return redirect(url_for("catalog.thesaurus_page"))


@bp.get("/compare")
@public
def compare() -> ResponseReturnValue:
    in_use = _args_in_use()
    ids = search.ticked_ids(request.args.getlist("ids"))
    # back to the catalogue as it was: its filters, page and ticks came with the form
    back = url_for("catalog.index", **in_use)
    if len(ids) < 2:
        flash(_("Tick at least two packages to compare (up to four); your ticks are kept."), "info")
        return redirect(back)
    if len(ids) > 4:
        flash(
            _(
                "Compare takes at most four packages and you ticked %(n)d: untick some and"
                " compare again.",
                n=len(ids),
            ),
            "info",
        )
        return redirect(back)
    if in_use != request.args.to_dict(flat=False):
        return redirect(url_for("catalog.compare", **in_use))
    rows = search.compare(list(ids))
    if len(rows) != len(ids):
        return render(
            "catalog/compare.html",
            rows=[],
            pools={},
            back=back,
            error=_("Some of these packages are not in the catalogue."),
            status=404,
        )
    pools = pool.admitted_pools(sorted({v.package.provider_id for v in rows}))
    records = track_records.of_packages([v.package_id for v in rows])
    return render(
        "catalog/compare.html", rows=rows, pools=pools, records=records, back=back, error=None
    )


@bp.get("/packages/<id:package_id>")
@public
def package(package_id: int) -> ResponseReturnValue:
    pkg = services.public_package(package_id)
    delist_form = None
    if (
        current_user.is_authenticated
        and current_user.org_kind is OrgKind.AGENCY
        and services.may_delist(pkg, current_user.org_id)
    ):
        delist_form = forms.DelistForm()
    return render(
        "catalog/package.html",
        pkg=pkg,
        v=pkg.published_version,
        pools=pool.admitted_pools([pkg.provider_id])[pkg.provider_id],
        reviews=reviews.reviews_of(pkg.id),
        record=track_records.of_packages([pkg.id]).get(pkg.id),
        case_count=case_counts.cases_with(pkg.id),
        standings=voucher_states.standings(pkg.published_version),
        delist_form=delist_form,
        **page_extras.for_package(pkg, pkg.published_version),
    )


@bp.post("/packages/<id:package_id>/delist")
@requires(OrgKind.AGENCY)
def delist(package_id: int) -> ResponseReturnValue:
    pkg = services.public_package(package_id)
    form = forms.DelistForm()
    if not form.validate_on_submit():
        flash(_("Give a written reason; the provider will see it."), "error")
        return redirect(url_for("catalog.package", package_id=pkg.id))
    services.delist(pkg, form.reason.data, current_actor())
    flash(_("The package has been delisted."), "success")
    return redirect(url_for("catalog.index"))


@bp.get("/providers/<id:org_id>")
@public
def provider(org_id: int) -> ResponseReturnValue:
    """A provider's public profile: type, pools, industries and published packages."""
    org = accounts.get_provider(org_id)
    page = page_number()
    rows, total = services.catalogue(
        provider_id=org.id, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    return render(
        "catalog/provider.html",
        provider=org,
        pools=pool.admitted_pools([org.id])[org.id],
        record=track_records.of_providers([org.id]).get(org.id),
        packages=rows,
        page=page,
        pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
    )


@bp.get("/bundles")
@public
def bundles() -> ResponseReturnValue:
    rows = curated_bundles.public_bundles()
    return render(
        "catalog/bundles.html",
        rows=rows,
        totals={b.id: curated_bundles.bundle_totals(b) for b in rows},
    )


@bp.get("/bundles/<id:bundle_id>")
@public
def bundle(bundle_id: int) -> ResponseReturnValue:
    b = curated_bundles.public_bundle(bundle_id)
    return render("catalog/bundle.html", b=b, totals=curated_bundles.bundle_totals(b))


@bp.route("/admin/categories", methods=["GET", "POST"])
@requires(OrgKind.PLATFORM)
def categories() -> ResponseReturnValue:
    form = forms.CategoryForm()
    if form.validate_on_submit():
        try:
            services.add_category(
                form.code.data, form.name_zh.data, form.name_en.data, current_actor()
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("The category has been added."), "success")
            return redirect(url_for("catalog.categories"))
    status = INVALID if form.is_submitted() else 200
    return render("catalog/categories.html", form=form, rows=services.categories(), status=status)


# The provider's workspace


def _package_form(formdata: object = None, **kwargs: object) -> forms.PackageForm:
    form = (
        forms.PackageForm(formdata=formdata, **kwargs)
        if formdata is not None
        else forms.PackageForm(**kwargs)
    )
    locale = _locale()
    form.category_code.choices = choices(
        [("", _("Choose…")), *((c.code, c.name(locale)) for c in services.categories())]
    )
    form.industry_codes.choices = choices((i.code, i.name(locale)) for i in accounts.industries())
    return form


def _fields(form: forms.PackageForm) -> services.VersionFields:
    return services.VersionFields(
        title=form.title.data,
        summary=form.summary.data,
        description=form.description.data,
        category_code=form.category_code.data,
        industry_codes=list(form.industry_codes.data or []),
        size_tiers=list(form.size_tiers.data or []),
        deployment=form.deployment.data,
        go_live_days=form.go_live_days.data,
        sla_response_hours=form.sla_response_hours.data,
        enterprise_provides=form.enterprise_provides.data or "",
        tags=form.tags.data or "",
        trial_days=form.trial_days.data,
        trial_price_fen=form.trial_price.data or 0,
        trial_limits=form.trial_limits.data or "",
    )


def _plan_form() -> forms.PlanForm:
    locale = _locale()
    return forms.PlanForm(
        [(m.code, f"{m.name(locale)} ({m.unit_label})") for m in services.metrics()]
    )


def _interface_form() -> forms.InterfaceForm:
    form = forms.InterfaceForm()
    locale = _locale()
    form.protocol_code.choices = choices((p.code, p.label) for p in services.protocols())
    form.data_object_code.choices = choices(
        (d.code, d.name(locale)) for d in services.data_objects()
    )
    return form


@workspace.get("/packages")
@requires(OrgKind.PROVIDER)
def packages() -> ResponseReturnValue:
    org = current_user.org
    return render(
        "catalog/my_packages.html",
        rows=services.provider_packages(org),
        admitted=pool.is_admitted(org.id),
    )


@workspace.route("/packages/new", methods=["GET", "POST"])
@requires(OrgKind.PROVIDER)
def new_package() -> ResponseReturnValue:
    form = _package_form()
    if not form.validate_on_submit():
        return render(
            "catalog/package_form.html",
            form=form,
            pkg=None,
            status=INVALID if form.is_submitted() else 200,
        )
    try:
        pkg = services.create_package(current_user.org, _fields(form), current_actor())
    except DomainError as error:
        attach_error(form, error)
        return render("catalog/package_form.html", form=form, pkg=None, status=INVALID)
    flash(_("Draft saved. Add price plans and data interfaces, then submit it."), "success")
    return redirect(url_for("workspace.edit_package", package_id=pkg.id))


def _edit_page(
    pkg: Package,
    form: forms.PackageForm | None = None,
    plan_form: forms.PlanForm | None = None,
    interface_form: forms.InterfaceForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    version = pkg.latest
    if form is None:
        form = _package_form(obj=version)
        form.industry_codes.data = [i.code for i in version.industries]
        form.size_tiers.data = [t.value for t in version.size_tiers]
        form.deployment.data = version.deployment.value
        form.trial_price.data = version.trial_price_fen
    return render(
        "catalog/edit_package.html",
        pkg=pkg,
        v=version,
        form=form,
        plan_form=plan_form or _plan_form(),
        interface_form=interface_form or _interface_form(),
        admitted=pool.is_admitted(pkg.provider_id),
        standings=voucher_states.standings(pkg.published_version),
        decisions=voucher_states.decisions(pkg) if pkg.published_version else [],
        status=status,
    )


@workspace.route("/packages/<id:package_id>", methods=["GET", "POST"])
@requires(OrgKind.PROVIDER)
def edit_package(package_id: int) -> ResponseReturnValue:
    pkg = services.provider_package(current_user.org, package_id)
    if request.method == "GET":
        return _edit_page(pkg)
    form = _package_form()
    if not form.validate_on_submit():
        return _edit_page(pkg, form=form, status=INVALID)
    try:
        services.update_draft(pkg, _fields(form), current_actor())
    except DomainError as error:
        attach_error(form, error)
        return _edit_page(pkg, form=form, status=INVALID)
    flash(_("The draft has been saved."), "success")
    return redirect(url_for("workspace.edit_package", package_id=pkg.id))


@workspace.post("/packages/<id:package_id>/plans")
@requires(OrgKind.PROVIDER)
def add_plan(package_id: int) -> ResponseReturnValue:
    pkg = services.provider_package(current_user.org, package_id)
    form = _plan_form()
    if not form.validate_on_submit():
        return _edit_page(pkg, plan_form=form, status=INVALID)
    fields = services.PlanFields(
        kind=form.kind.data,
        name=form.name.data,
        amount_fen=form.amount.data,
        monthly_fen=form.monthly.data,
        term_months=form.term_months.data,
        metric_code=form.metric_code.data or None,
        target_kind=form.target_kind.data,
        target_value=form.target_value.data,
        fee_rule=form.fee_rule.data,
        success_fee_fen=form.success_fee.data,
        fee_per_unit_fen=form.fee_per_unit.data,
        fee_cap_fen=form.fee_cap.data,
        base_fee_fen=form.base_fee.data,
        window_days=form.window_days.data,
        billed_monthly=bool(form.billed_monthly.data),
        usage_unit=form.usage_unit.data,
        unit_price_fen=form.unit_price.data,
        included_quantity=form.included_quantity.data,
        minimum_fen=form.minimum.data,
        cap_fen=form.cap.data,
        tiers=form.tiers.data,
    )
    try:
        services.add_plan(pkg, fields, current_actor())
    except DomainError as error:
        attach_error(form, error)
        return _edit_page(pkg, plan_form=form, status=INVALID)
    flash(_("The price plan has been added."), "success")
    return redirect(url_for("workspace.edit_package", package_id=pkg.id) + "#plans")


@workspace.post("/packages/<id:package_id>/plans/<id:plan_id>/delete")
@requires(OrgKind.PROVIDER)
def remove_plan(package_id: int, plan_id: int) -> ResponseReturnValue:
    pkg = services.provider_package(current_user.org, package_id)
    try:
        services.remove_plan(pkg, plan_id, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    return redirect(url_for("workspace.edit_package", package_id=pkg.id) + "#plans")


@workspace.post("/packages/<id:package_id>/interfaces")
@requires(OrgKind.PROVIDER)
def add_interface(package_id: int) -> ResponseReturnValue:
    pkg = services.provider_package(current_user.org, package_id)
    form = _interface_form()
    if not form.validate_on_submit():
        return _edit_page(pkg, interface_form=form, status=INVALID)
    try:
        services.add_interface(
            pkg,
            form.flow.data,
            form.protocol_code.data,
            form.data_object_code.data,
            current_actor(),
        )
    except DomainError as error:
        attach_error(form, error)
        return _edit_page(pkg, interface_form=form, status=INVALID)
    return redirect(url_for("workspace.edit_package", package_id=pkg.id) + "#interfaces")


@workspace.post("/packages/<id:package_id>/interfaces/<id:interface_id>/delete")
@requires(OrgKind.PROVIDER)
def remove_interface(package_id: int, interface_id: int) -> ResponseReturnValue:
    pkg = services.provider_package(current_user.org, package_id)
    try:
        services.remove_interface(pkg, interface_id, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    return redirect(url_for("workspace.edit_package", package_id=pkg.id) + "#interfaces")


LIFECYCLE = {
    VersionEvent.SUBMIT.value: services.submit,
    VersionEvent.WITHDRAW.value: services.withdraw,
    VersionEvent.PUBLISH.value: services.publish,
}


@workspace.post("/packages/<id:package_id>/<any(submit, withdraw, publish):action>")
@requires(OrgKind.PROVIDER, owner=True)
def lifecycle(package_id: int, action: str) -> ResponseReturnValue:
    pkg = services.provider_package(current_user.org, package_id)
    step = LIFECYCLE[action]
    try:
        version = step(pkg, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(
            _("Version %(n)d: %(status)s.", n=version.number, status=version.status.label),
            "success",
        )
    return redirect(url_for("workspace.edit_package", package_id=pkg.id))


@workspace.post("/packages/<id:package_id>/new-version")
@requires(OrgKind.PROVIDER)
def new_version(package_id: int) -> ResponseReturnValue:
    pkg = services.provider_package(current_user.org, package_id)
    try:
        services.new_version(pkg, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    return redirect(url_for("workspace.edit_package", package_id=pkg.id))


def _bundle_form() -> forms.BundleForm:
    """The composer lists the packages already chosen plus those matching the search."""
    form = forms.BundleForm()
    locale = _locale()
    form.industry_code.choices = choices((i.code, i.name(locale)) for i in accounts.industries())
    categories = services.categories()
    form.find_category.choices = choices(
        [("", _("All categories")), *((c.code, c.name(locale)) for c in categories)]
    )
    chosen = [int(v) for v in request.form.getlist("package_ids") if v.isdigit()]
    form.package_ids.choices = choices(
        curated_bundles.package_choices(
            chosen, form.find.data or "", form.find_category.data or None
        )
    )
    return form


@workspace.get("/bundles")
@requires(OrgKind.PROVIDER)
def my_bundles() -> ResponseReturnValue:
    org = current_user.org
    rows = curated_bundles.integrator_bundles(org)
    return render(
        "catalog/my_bundles.html",
        rows=rows,
        available=curated_bundles.availability(rows),
        is_integrator=org.provider_type is ProviderType.INTEGRATOR,
    )


@workspace.route("/bundles/new", methods=["GET", "POST"])
@requires(OrgKind.PROVIDER, owner=True)
def new_bundle() -> ResponseReturnValue:
    org = current_user.org
    if org.provider_type is not ProviderType.INTEGRATOR:
        raise NotFound(_("Not found."))
    form = _bundle_form()
    if request.form.get("action") == "find":  # search for more parts; keep what is chosen
        return render("catalog/bundle_form.html", form=form)
    if not form.validate_on_submit():
        return render(
            "catalog/bundle_form.html", form=form, status=INVALID if form.is_submitted() else 200
        )
    fields = curated_bundles.BundleFields(
        name=form.name.data,
        summary=form.summary.data or "",
        industry_code=form.industry_code.data,
        size_tier=form.size_tier.data,
        integration_fee_fen=form.integration_fee.data or 0,
        package_ids=list(form.package_ids.data or []),
    )
    try:
        b = curated_bundles.create_bundle(org, fields, current_actor())
    except DomainError as error:
        attach_error(form, error)
        return render("catalog/bundle_form.html", form=form, status=INVALID)
    flash(_("The curated bundle is published."), "success")
    return redirect(
        url_for("catalog.bundle", bundle_id=b.id)
        if curated_bundles.bundle_available(b)
        else url_for("workspace.my_bundles")
    )


@workspace.post("/bundles/<id:bundle_id>/withdraw")
@requires(OrgKind.PROVIDER, owner=True)
def withdraw_bundle(bundle_id: int) -> ResponseReturnValue:
    b = curated_bundles.own_bundle(current_user.org, bundle_id)
    curated_bundles.withdraw_bundle(b, current_actor())
    flash(_("The bundle has been withdrawn."), "info")
    return redirect(url_for("workspace.my_bundles"))
