"""The needs board: the enterprise's needs and the comparison of their quotes, and the
providers' board and quote form (services in ``orders.needs``)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts import services as accounts
from marketplace.accounts.models import OrgKind
from marketplace.catalog import services as catalog
from marketplace.errors import DomainError
from marketplace.forms import attach_error, choices
from marketplace.money import format_fen
from marketplace.orders import forms, needs
from marketplace.orders.models import NEED_MACHINE, Need, NeedStatus, QuoteStatus
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, requires

bp = Blueprint("needs", __name__)


def _need_form(**kwargs: object) -> forms.NeedForm:
    form = forms.NeedForm(**kwargs)
    locale = str(get_locale())
    form.category_code.choices = choices(
        [("", _("Choose…")), *((c.code, c.name(locale)) for c in catalog.categories())]
    )
    form.industry_code.choices = choices(
        [("", _("My own industry")), *((i.code, i.name(locale)) for i in accounts.industries())]
    )
    return form


@bp.route("/needs", methods=["GET", "POST"])
@requires(OrgKind.ENTERPRISE)
def my_needs() -> ResponseReturnValue:
    """The enterprise's needs with their quotes, and the form to post one."""
    org = current_user.org
    form = _need_form()
    if form.validate_on_submit():
        fields = needs.NeedFields(
            category_code=form.category_code.data or "",
            description=form.description.data or "",
            budget_fen=form.budget.data,
            deadline=form.deadline.data,
            industry_code=form.industry_code.data or None,
            site=form.site.data or "",
        )
        try:
            need = needs.post(org, fields, current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Your need is posted: providers in its category are told."), "success")
            return redirect(url_for("needs.need", need_id=need.id))
    status = INVALID if form.is_submitted() else 200
    return render("orders/needs.html", rows=needs.needs_of(org), form=form, status=status)


def _need_page(need: Need, form: forms.AcceptQuotesForm | None = None) -> ResponseReturnValue:
    quotes = needs.quotes_on(need)
    return render(
        "orders/need.html",
        need=need,
        quotes=quotes,
        form=form or forms.AcceptQuotesForm(formdata=None),
        events=NEED_MACHINE.events(need.status, OrgKind.ENTERPRISE.value),
        NeedStatus=NeedStatus,
        QuoteStatus=QuoteStatus,
        status=422 if form is not None and form.errors else 200,
        **needs.compare_rows(quotes),
    )


@bp.get("/needs/<id:need_id>")
@requires(OrgKind.ENTERPRISE)
def need(need_id: int) -> ResponseReturnValue:
    """The need with its quotes side by side: price, list price, delivery days, the packages
    and their track records."""
    return _need_page(needs.get(current_user.org, need_id))


@bp.post("/needs/<id:need_id>/accept")
@requires(OrgKind.ENTERPRISE)
def accept(need_id: int) -> ResponseReturnValue:
    org = current_user.org
    n = needs.get(org, need_id)
    form = forms.AcceptQuotesForm()
    if not form.validate_on_submit():
        flash(_("This form has expired. Reload the page and try again."), "error")
        return redirect(url_for("needs.need", need_id=n.id))
    try:
        bundle = needs.accept(org, n, list(form.quote_ids.data or []), current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("needs.need", need_id=n.id))
    flash(
        _("The quoted packages are in your bundle. Check how they work together, then order."),
        "success",
    )
    return redirect(url_for("journey.bundle", bundle_id=bundle.id))


@bp.post("/needs/<id:need_id>/close")
@requires(OrgKind.ENTERPRISE)
def close(need_id: int) -> ResponseReturnValue:
    n = needs.get(current_user.org, need_id)
    try:
        needs.close(n, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The need is closed."), "success")
    return redirect(url_for("needs.need", need_id=n.id))


# The providers' side


@bp.get("/needs/board")
@requires(OrgKind.PROVIDER)
def board() -> ResponseReturnValue:
    try:
        rows = needs.board(current_user.org)
    except DomainError as error:
        return render("orders/board.html", rows=[], refusal=str(error.message), status=403)
    return render("orders/board.html", rows=rows, refusal=None)


def _quote_form(**kwargs: object) -> forms.QuoteForm:
    form = forms.QuoteForm(**kwargs)
    form.plan_ids.choices = choices(
        (
            plan.id,
            f"{version.title} · {plan.name} · {_('list price')} {format_fen(plan.commitment_fen)}",
        )
        for version, plan in needs.quotable_plans(current_user.org)
    )
    return form


def _board_need_page(
    row: needs.BoardRow, form: forms.QuoteForm, status: int = 200
) -> ResponseReturnValue:
    return render(
        "orders/board_need.html",
        row=row,
        form=form,
        QuoteStatus=QuoteStatus,
        NeedStatus=NeedStatus,
        status=status,
    )


@bp.route("/needs/board/<id:need_id>", methods=["GET", "POST"])
@requires(OrgKind.PROVIDER)
def board_need(need_id: int) -> ResponseReturnValue:
    """A need of the board and the quote form (or the provider's quote on it)."""
    org = current_user.org
    try:
        row = needs.board_need(org, need_id)
    except DomainError as error:
        if isinstance(error, needs.NotFound):
            raise
        return render("orders/board.html", rows=[], refusal=str(error.message), status=403)
    form = _quote_form()
    if form.validate_on_submit():
        fields = needs.QuoteFields(
            plan_ids=list(form.plan_ids.data or []),
            price_fen=form.price.data,
            delivery_days=form.delivery_days.data,
            message=form.message.data or "",
        )
        try:
            needs.send_quote(org, need_id, fields, current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Your quote is sent to the enterprise."), "success")
            return redirect(url_for("needs.board_need", need_id=need_id))
    status = INVALID if form.is_submitted() else 200
    return _board_need_page(row, form, status)


@bp.post("/needs/quotes/<id:quote_id>/withdraw")
@requires(OrgKind.PROVIDER)
def withdraw(quote_id: int) -> ResponseReturnValue:
    try:
        quote = needs.withdraw(current_user.org, quote_id, current_actor())
    except needs.NotFound:
        raise
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("needs.board"))
    flash(_("Your quote is withdrawn."), "success")
    return redirect(url_for("needs.board_need", need_id=quote.need_id))
