"""The case library's pages: the public library and a case, the enterprise's consent on its
contract, and the overseeing officials' benchmark mark (标杆)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts import services as accounts
from marketplace.accounts.models import OrgKind, SizeTier
from marketplace.catalog import services as catalog
from marketplace.errors import DomainError, NotFound
from marketplace.forms import attach_error, first_error
from marketplace.outcomes import access, cases, forms
from marketplace.outcomes import services as outcomes
from marketplace.rendering import INVALID, page_number, render
from marketplace.security import current_actor, public, requires

bp = Blueprint("cases", __name__)

SIZE_TIERS = {t.value: t for t in SizeTier}


def _filters() -> tuple[cases.Filters, list[str]]:
    """The library's filters from the URL; a value the platform does not know is named in
    an error and left out of the search."""
    errors: list[str] = []
    known = {
        "category": {c.code for c in catalog.categories()},
        "industry": {i.code for i in accounts.industries()},
        "metric": {m.code for m in catalog.metrics()},
    }
    chosen: dict[str, str | None] = {}
    for name, codes in known.items():
        value = request.args.get(name, "").strip() or None
        if value is not None and value not in codes:
            errors.append(_("Choose an entry of the list."))
            value = None
        chosen[name] = value
    text = request.args.get("q", "").strip()
    if len(text) > cases.QUERY_MAX:
        errors.append(_("At most %(n)d characters.", n=cases.QUERY_MAX))
        text = text[: cases.QUERY_MAX]
    package_id = request.args.get("package", type=int)
    filters = cases.Filters(
        text=text,
        category=chosen["category"],
        industry=chosen["industry"],
        metric=chosen["metric"],
        package_id=package_id if package_id and package_id > 0 else None,
        benchmark=request.args.get("benchmark") == "1",
    )
    return filters, sorted(set(errors))


@bp.get("/cases")
@public
def library() -> ResponseReturnValue:
    filters, errors = _filters()
    page = page_number()
    rows, total = cases.library(filters, page)
    return render(
        "outcomes/cases.html",
        rows=rows,
        total=total,
        page=page,
        pages=max((total + cases.PER_PAGE - 1) // cases.PER_PAGE, 1),
        filters=filters,
        errors=errors,
        regions=cases.region_names(rows),
        categories=catalog.categories(),
        industries=accounts.industries(),
        metrics=catalog.metrics(),
        size_tiers=SIZE_TIERS,
        status=INVALID if errors else 200,
    )


def _case_page(case_id: int, status: int = 200, form: object = None) -> ResponseReturnValue:
    case = cases.public_case(case_id)
    benchmark_form = None
    if current_user.is_authenticated and current_user.org_kind is OrgKind.AGENCY:
        try:
            access.contract_for(current_user.org, case.contract_id)
        except NotFound:
            pass
        else:
            benchmark_form = form or forms.BenchmarkForm()
    return render(
        "outcomes/case.html",
        case=case,
        regions=cases.region_names([case]),
        size_tiers=SIZE_TIERS,
        benchmark_form=benchmark_form,
        status=status,
    )


@bp.get("/cases/<id:case_id>")
@public
def case(case_id: int) -> ResponseReturnValue:
    return _case_page(case_id)


@bp.post("/contracts/<id:contract_id>/case")
@requires(OrgKind.ENTERPRISE, owner=True)
def consent(contract_id: int) -> ResponseReturnValue:
    contract = outcomes.contract_for(current_user.org, contract_id)
    if contract.enterprise_id != current_user.org_id:
        raise NotFound(_("Not found."))
    form = forms.ConsentForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(first_error(form))
        case = cases.decide(contract, form.consent.data == "yes", current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        if case.consent:
            flash(_("Thank you: the anonymised case is in the library."), "success")
        elif case.revoked_at is not None:
            flash(_("Consent revoked: the case has left the library."), "success")
        else:
            flash(_("Recorded: this result will not appear as a case."), "success")
    return redirect(url_for("outcomes.contract", contract_id=contract.id, _anchor="case"))


def _overseen_case(case_id: int) -> cases.Case:
    case = cases.case_for_benchmark(case_id)
    access.contract_for(current_user.org, case.contract_id)  # officials who oversee it only
    return case


@bp.post("/cases/<id:case_id>/benchmark")
@requires(OrgKind.AGENCY)
def benchmark(case_id: int) -> ResponseReturnValue:
    case = _overseen_case(case_id)
    form = forms.BenchmarkForm()
    if form.validate_on_submit():
        try:
            cases.mark_benchmark(case, form.reason.data, current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Marked as a benchmark case."), "success")
            return redirect(url_for("cases.case", case_id=case.id))
    return _case_page(case.id, INVALID, form)


@bp.post("/cases/<id:case_id>/benchmark/remove")
@requires(OrgKind.AGENCY)
def unbenchmark(case_id: int) -> ResponseReturnValue:
    case = _overseen_case(case_id)
    form = forms.ReasonForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(first_error(form))
        cases.unmark_benchmark(case, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The benchmark mark was removed."), "success")
    return redirect(url_for("cases.case", case_id=case.id))
