"""The enterprise's journey after the diagnosis: the recommended bundle, bundles, orders and
what follows acceptance."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from marketplace import files
from marketplace import notifications as inbox
from marketplace.accounts.models import OrgKind
from marketplace.catalog import page_extras, reviews
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Package, PackageVersion
from marketplace.db import utcnow
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import services as diagnoses
from marketplace.errors import DomainError, NotFound
from marketplace.extensions import htmx
from marketplace.forms import attach_error, first_error, flashed
from marketplace.money import format_fen
from marketplace.orders import (
    aftercare,
    bundles,
    disputes,
    forms,
    hybrid,
    recommended,
    tickets,
    trials,
)
from marketplace.orders import evidence as proofs
from marketplace.orders import review as before_ordering
from marketplace.orders import services as orders
from marketplace.orders.models import (
    LINE_MACHINE,
    REASON_REQUIRED,
    Bundle,
    LineEvent,
    LineStatus,
    Severity,
)
from marketplace.payments import services as payments
from marketplace.pool import services as pool
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, is_safe_next, requires
from marketplace.vouchers import spending

bp = Blueprint("journey", __name__)


def package_page_extras(package: Package, version: PackageVersion) -> dict[str, Any]:
    """What the catalogue's package page shows a signed-in enterprise from the domains above
    it (connected in ``catalog.page_extras``): its bundles for "add to bundle", what its
    vouchers would pay of each plan, and its trial of the package or the form to start one."""
    if not (current_user.is_authenticated and current_user.org_kind is OrgKind.ENTERPRISE):
        return {}
    org = current_user.org
    trial = trials.trial_of(org, package.id) if version.trial_days else None
    return {
        "enterprise_bundles": bundles.bundles_of(org),
        "after_vouchers": bundles.plan_prices(org.id, version),
        "my_trial": trial,
        "trial_form": None if trial else forms.StartTrialForm(formdata=None),
    }


def connect() -> None:
    page_extras.connect(package_page_extras)


@bp.get("/diagnosis/<id:diagnosis_id>/recommendations")
@requires(OrgKind.ENTERPRISE)
def recommendations(diagnosis_id: int) -> ResponseReturnValue:
    """The diagnosis' recommended set: why each package, whether they work together, and
    what the set costs before and after the enterprise's vouchers."""
    org = current_user.org
    d = diagnoses.get(org, diagnosis_id)
    chosen = recommended.recommended_set(org, d, str(get_locale()))
    shown = [p.suggestion for p in chosen.picks] + chosen.alternatives
    return render(
        "orders/recommendations.html",
        d=d,
        chosen=chosen,
        rec=chosen.recommendation,
        pools=pool.admitted_pools(sorted({s.version.package.provider_id for s in shown})),
        dimensions=qn.DIMENSIONS,
        pain_points=qn.PAIN_POINTS,
        ranking=diagnoses,
        **_interface_names(),
    )


@bp.post("/diagnosis/<id:diagnosis_id>/bundle")
@requires(OrgKind.ENTERPRISE)
def take_recommendation(diagnosis_id: int) -> ResponseReturnValue:
    org = current_user.org
    d = diagnoses.get(org, diagnosis_id)
    chosen = recommended.recommended_set(org, d, str(get_locale()))
    if not chosen.picks:
        flash(
            _("No package in the catalogue fits yet. Try again when more providers have joined."),
            "error",
        )
        return redirect(url_for("journey.recommendations", diagnosis_id=d.id))
    name = _("Recommended bundle (L%(level)d)", level=d.level)
    b = bundles.from_recommendation(org, chosen.package_ids, name, current_actor())
    flash(
        _("The recommended packages are in your bundle. Check how they work together."), "success"
    )
    return redirect(url_for("journey.bundle", bundle_id=b.id))


# Bundles (组合方案)


def _interface_names() -> dict[str, Any]:
    """How the interoperability warnings name data objects and protocols."""
    locale = str(get_locale())
    objects = {d.code: d.name(locale) for d in catalog.data_objects()}
    protocols = {p.code: p.label for p in catalog.protocols()}
    return {
        "obj": lambda code: objects.get(code, code),
        "protos": lambda codes: (", " if locale == "en" else "、").join(
            protocols.get(c, c) for c in codes
        ),
    }


def _bundle_figures(b: Bundle) -> dict[str, Any]:
    """The bundle's lines and the figures the services compute for them: totals, and the
    vouchers' part of each line as they would be reserved now."""
    bundle_lines = bundles.lines(b)
    integration = bundles.integration(b)
    subsidies = spending.plan(b.enterprise_id, bundles.voucher_claims(bundle_lines, integration))
    totals = bundles.totals(bundle_lines, integration)
    subsidy_total = sum(s.subsidy_fen for s in subsidies)
    return {
        "b": b,
        "lines": bundle_lines,
        "totals": totals,
        "integration": integration,
        "subsidies": {s.claim.key: s for s in subsidies if s.subsidy_fen},
        # lines a programme's vouchers would pay but for the version's admission (待审)
        "not_admitted": {s.claim.key: s.not_admitted for s in subsidies if s.not_admitted},
        "subsidy_total": subsidy_total,
        "copay_total": totals.committed_fen - subsidy_total,
    }


def _bundle_page(b: Bundle, status: int = 200) -> ResponseReturnValue:
    figures = _bundle_figures(b)
    return render(
        "orders/bundle.html",
        interop=bundles.interoperability(figures["lines"]),
        placed=before_ordering.placed_from(b),
        status=status,
        **figures,
        **_interface_names(),
    )


@bp.route("/my-bundles", methods=["GET", "POST"])
@requires(OrgKind.ENTERPRISE)
def my_bundles() -> ResponseReturnValue:
    org = current_user.org
    form = forms.NewBundleForm()
    if form.validate_on_submit():
        try:
            b = bundles.create(org, form.name.data, current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            return redirect(url_for("journey.bundle", bundle_id=b.id))
    status = 422 if form.is_submitted() else 200
    rows = bundles.bundles_of(org)
    ordered = before_ordering.latest_orders([b.id for b in rows])
    return render("orders/bundles.html", rows=rows, ordered=ordered, form=form, status=status)


@bp.get("/my-bundles/<id:bundle_id>")
@requires(OrgKind.ENTERPRISE)
def bundle(bundle_id: int) -> ResponseReturnValue:
    return _bundle_page(bundles.get(current_user.org, bundle_id))


@bp.post("/my-bundles/add")
@requires(OrgKind.ENTERPRISE)
def add_to_bundle() -> ResponseReturnValue:
    """Add a package to a bundle (a new one when none is named). htmx gets a small answer."""
    org = current_user.org
    form = forms.AddToBundleForm()
    if not form.validate_on_submit():
        flash(_("Choose a package to add."), "error")
        return redirect(
            request.referrer if is_safe_next(request.referrer) else url_for("journey.my_bundles")
        )
    actor = current_actor()
    chosen = form.bundle_id.data or ""
    chosen = chosen if re.fullmatch(r"[0-9]{1,9}|new", chosen) else ""
    existing = bundles.bundles_of(org)
    # another enterprise's bundle is not found (404), before anything changes
    target = bundles.get(org, int(chosen)) if chosen not in ("", "new") else None
    plan_text = form.plan_id.data or ""
    plan_id = int(plan_text) if re.fullmatch(r"[0-9]{1,9}", plan_text) else None
    try:
        bundles.addable(form.package_id.data, plan_id)  # before a new bundle is made for it
        if target is not None:
            b = target
        elif chosen != "new" and existing:  # the catalogue's quick add: the latest bundle
            b = existing[0]
        else:
            b = bundles.create(org, _("My bundle %(n)d", n=len(existing) + 1), actor)
        bundles.add(b, form.package_id.data, plan_id, actor)
    except DomainError as error:
        if htmx:
            return render("orders/_added.html", error=str(error.message), b=None, status=422)
        flash(str(error.message), "error")
        back = urlsplit(request.referrer or "").path
        return redirect(back if is_safe_next(back) else url_for("journey.my_bundles"))
    if htmx:
        return render("orders/_added.html", error=None, b=b)
    flash(_("Added to %(name)s.", name=b.name), "success")
    return redirect(url_for("journey.bundle", bundle_id=b.id))


@bp.post("/my-bundles/<id:bundle_id>/items/<id:item_id>/plan")
@requires(OrgKind.ENTERPRISE)
def choose_plan(bundle_id: int, item_id: int) -> ResponseReturnValue:
    """Switch a package's price plan in place. Without script: post, then back to the page.
    With htmx: the line is swapped and the figures the change moves (every line's voucher
    part, the totals) come out of band, as the services compute them for the page."""
    b = bundles.get(current_user.org, bundle_id)
    form = forms.PlanChoiceForm()
    problem = None
    if not form.validate_on_submit():
        problem = _("Choose one of the package's price plans.")
    else:
        try:
            bundles.choose_plan(b, item_id, form.plan_id.data, current_actor())
        except DomainError as error:
            problem = str(error.message)
    if htmx and any(item.id == item_id for item in b.items):
        response = render(
            "orders/_plan_changed.html",
            changed_item_id=item_id,
            plan_error={"item_id": item_id, "message": problem} if problem else None,
            **_bundle_figures(b),
        )
        response.vary.add("HX-Request")
        return response
    if problem:
        flash(problem, "error")
    return redirect(url_for("journey.bundle", bundle_id=b.id))


@bp.post("/my-bundles/<id:bundle_id>/items/<id:item_id>/delete")
@requires(OrgKind.ENTERPRISE)
def remove_from_bundle(bundle_id: int, item_id: int) -> ResponseReturnValue:
    b = bundles.get(current_user.org, bundle_id)
    bundles.remove(b, item_id, current_actor())
    return redirect(url_for("journey.bundle", bundle_id=b.id))


def _int_arg(name: str) -> int | None:
    raw = request.values.get(name, "")
    return int(raw) if re.fullmatch(r"[0-9]{1,9}", raw) else None


@bp.route("/my-bundles/<id:bundle_id>/items/<id:item_id>/swap", methods=["GET", "POST"])
@requires(OrgKind.ENTERPRISE)
def swap_module(bundle_id: int, item_id: int) -> ResponseReturnValue:
    """Hybrid mode: choose a specialist's package for a module of the integrator's bundle, see
    the check, the fee and the totals before and after vouchers, then swap (post)."""
    b = bundles.get(current_user.org, bundle_id)
    item = next((i for i in b.items if i.id == item_id), None)
    if item is None:
        raise NotFound(_("Not found."))
    names = _interface_names()
    programmes = hybrid.programmes_for(b.enterprise_id)
    programme_id = _int_arg("programme_id")
    programme = next((p for p in programmes if p.id == programme_id), None)
    if programme is None and programmes:
        programme = programmes[0]
    refusal = hybrid.refusal(b, item, programme) if programme is not None else None
    package_id = _int_arg("package_id")
    shown, error, status = None, None, 200
    if programme is not None and refusal is None and package_id is not None:
        try:
            if request.method == "POST":
                form = forms.SwapForm()
                if not form.validate_on_submit():
                    raise DomainError(_("This action is not possible in the current state."))
                done = hybrid.swap(
                    b, item_id, programme.id, package_id, current_actor(), names["obj"]
                )
                flash(
                    _(
                        "%(module)s was swapped for %(package)s; the integration fee is now"
                        " %(fee)s.",
                        module=item.package.published_version.title
                        if item.package.published_version
                        else "",
                        package=done.candidate.title,
                        fee=format_fen(done.deal_after.fee_fen),
                    ),
                    "success",
                )
                return redirect(url_for("journey.bundle", bundle_id=b.id))
            shown = hybrid.preview(b, item_id, programme.id, package_id, names["obj"])
        except DomainError as problem:
            error, status = str(problem.message), INVALID
            if request.method == "POST":
                try:  # show what failed: the preview with its problems
                    shown = hybrid.preview(b, item_id, programme.id, package_id, names["obj"])
                except DomainError:
                    shown = None
    elif request.method == "POST":
        error, status = refusal or _("Choose a package to swap in."), INVALID
    return render(
        "orders/swap.html",
        b=b,
        item=item,
        programmes=programmes,
        programme=programme,
        refusal=refusal,
        candidates=hybrid.candidates(b, item, programme) if programme and not refusal else [],
        shown=shown,
        error=error,
        form=forms.SwapForm(),
        status=status,
        **names,
    )


@bp.post("/my-bundles/from-curated/<id:curated_id>")
@requires(OrgKind.ENTERPRISE)
def from_curated(curated_id: int) -> ResponseReturnValue:
    with flashed():
        b = bundles.from_curated(current_user.org, curated_id, current_actor())
        flash(_("Your bundle starts from the curated bundle. Change it as you like."), "success")
        return redirect(url_for("journey.bundle", bundle_id=b.id))
    return redirect(url_for("journey.my_bundles"))  # refused: the reason is flashed


# Orders


def _review_page(
    b: Bundle, use_vouchers: bool, form: forms.CheckoutForm, status: int = 200
) -> ResponseReturnValue:
    return render(
        "orders/review.html",
        b=b,
        r=before_ordering.review(b, use_vouchers),
        form=form,
        auto_accept_days=current_app.config["AUTO_ACCEPT_DAYS"],
        payment_terms_days=current_app.config["INVOICE_PAYMENT_TERMS_DAYS"],
        status=status,
        **_interface_names(),
    )


@bp.get("/my-bundles/<id:bundle_id>/review")
@requires(OrgKind.ENTERPRISE)
def bundle_review(bundle_id: int) -> ResponseReturnValue:
    """The step before ordering: every line with its price, the vouchers' part, what is paid
    when, the terms and any gap between the parts, and whom the providers call and where they
    deliver (prefilled from the profile). Its form posts what it showed; the choice not to use
    vouchers is this page again with ``?vouchers=0``, so it works without script."""
    org = current_user.org
    b = bundles.get(org, bundle_id)
    defaults = orders.contact_defaults(org, current_user.id)
    form = forms.CheckoutForm(
        formdata=None,
        contact_name=defaults.name,
        contact_phone=defaults.phone,
        site_address=defaults.site,
    )
    return _review_page(b, request.args.get("vouchers") != "0", form)


@bp.post("/my-bundles/<id:bundle_id>/checkout")
@requires(OrgKind.ENTERPRISE, owner=True, confirmed=True)
def checkout(bundle_id: int) -> ResponseReturnValue:
    org = current_user.org
    b = bundles.get(org, bundle_id)
    form = forms.CheckoutForm()
    vouchers = 0 if form.skip_vouchers.data else None  # back to the page as it was shown
    back = url_for("journey.bundle_review", bundle_id=b.id, vouchers=vouchers)
    valid = form.validate_on_submit()
    if not valid and form.contact_invalid() and not form.csrf_token.errors:
        return _review_page(b, not form.skip_vouchers.data, form, INVALID)
    if not valid:
        flash(_("This form has expired. Reload the page and try again."), "error")
        return redirect(back)
    try:
        # The review page's key is the same in every tab and after a reload.
        order, placed_now = orders.checkout_once(
            org,
            b,
            current_actor(),
            form.key.data or None,
            use_vouchers=not form.skip_vouchers.data,
            subsidy_shown_fen=form.subsidy_shown.data,
            reviewed=form.reviewed.data or None,
            contact=form.contact(),
        )
    except NotFound:
        raise  # another enterprise's bundle or key
    except DomainError as error:
        if error.field in form.CONTACT_FIELDS:
            attach_error(form, error)
            return _review_page(b, not form.skip_vouchers.data, form, INVALID)
        flash(str(error.message), "error")
        return redirect(back)
    if placed_now:
        flash(
            _(
                "Order %(number)s is placed. Each provider now accepts its part.",
                number=order.number,
            ),
            "success",
        )
    else:
        flash(
            _(
                "This order was placed already, as %(number)s: nothing was ordered twice.",
                number=order.number,
            ),
            "info",
        )
    return redirect(url_for("journey.order", number=order.number))


@bp.get("/orders")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def order_list() -> ResponseReturnValue:
    org = current_user.org
    if org.kind is OrgKind.ENTERPRISE:
        return render("orders/orders.html", rows=orders.orders_of(org))
    value = request.args.get("status", "")
    status = LineStatus(value) if value in LineStatus._value2member_map_ else None
    return render(
        "orders/incoming.html",
        rows=orders.lines_for_provider(org, status),
        current=value,
        statuses=list(LineStatus),
    )


def _actor_kind() -> str:
    return str(current_user.org_kind.value)


@bp.get("/orders/<order_number:number>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def order(number: str) -> ResponseReturnValue:
    o, lines = orders.order_for(current_user.org, number[:24])
    kind = _actor_kind()
    cases = disputes.disputes_of_lines([line.id for line in lines])
    funding = spending.funding([line.id for line in lines])
    now = utcnow()
    cooling = {
        line.id: funding[line.id].cooling_off_at(now) for line in lines if line.id in funding
    }
    return render(
        "orders/order.html",
        o=o,
        lines=lines,
        # withdrawing is offered only while the line cools off (the service checks it again)
        events={
            line.id: [
                e
                for e in LINE_MACHINE.events(line.status, kind)
                if e is not LineEvent.WITHDRAW or cooling.get(line.id)
            ]
            for line in lines
        },
        cooling=cooling,
        reviews=reviews.reviews_on_lines([line.id for line in lines]),
        evidence=proofs.evidences_on([line.id for line in lines]),
        evidence_form=forms.LineEventForm(formdata=None),
        max_evidence_mb=f"{proofs.max_bytes() / 2**20:.3g}",
        tickets=tickets.tickets_on([line.id for line in lines]),
        severities=list(Severity),
        reason_required=REASON_REQUIRED,
        milestone_form=forms.MilestoneForm(),
        funding=funding,
        invoices=payments.invoices_of_lines([line.id for line in lines]),
        disputes=cases,
        escalates_on={line_id: disputes.escalates_on(d) for line_id, d in cases.items()},
    )


@bp.post("/order-lines/<id:line_id>/events/<event>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER, owner=True)
def line_event(line_id: int, event: str) -> ResponseReturnValue:
    line = orders.line_for(current_user.org, line_id)
    form = forms.LineEventForm()
    if event not in LineEvent._value2member_map_ or not form.validate_on_submit():
        flash(first_error(form), "error")
    else:
        try:
            orders.transition(
                line,
                LineEvent(event),
                form.reason.data or "",
                current_actor(),
                _actor_kind(),
                evidence=_evidence(form),
            )
        except DomainError as error:
            flash(str(error.message), "error")
        else:
            flash(
                _("%(title)s: %(status)s.", title=line.title, status=line.status.label), "success"
            )
    return redirect(url_for("journey.order", number=line.order.number))


@bp.post("/order-lines/<id:line_id>/milestones")
@requires(OrgKind.PROVIDER)
def add_milestone(line_id: int) -> ResponseReturnValue:
    line = orders.line_for(current_user.org, line_id)
    form = forms.MilestoneForm()
    if not form.validate_on_submit():
        flash(_("Give the milestone a name and a due date."), "error")
    else:
        try:
            orders.add_milestone(line, form.title.data, form.due_on.data, current_actor())
        except DomainError as error:
            flash(str(error.message), "error")
    return redirect(url_for("journey.order", number=line.order.number))


@bp.post("/order-lines/<id:line_id>/milestones/<id:milestone_id>/done")
@requires(OrgKind.PROVIDER)
def milestone_done(line_id: int, milestone_id: int) -> ResponseReturnValue:
    line = orders.line_for(current_user.org, line_id)
    form = forms.MilestoneDoneForm()
    if not form.validate_on_submit():
        flash(first_error(form), "error")
        return redirect(url_for("journey.order", number=line.order.number))
    with flashed():
        orders.complete_milestone(line, milestone_id, current_actor(), _evidence(form))
    return redirect(url_for("journey.order", number=line.order.number))


@bp.get("/order-lines/<id:line_id>/evidence/<id:evidence_id>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER, OrgKind.AGENCY, OrgKind.ASSESSOR, OrgKind.PLATFORM)
def evidence_file(line_id: int, evidence_id: int) -> ResponseReturnValue:
    """A delivery evidence file: the two parties, the overseeing agency and assessors the
    enterprise granted; anyone else 404."""
    row = proofs.file_for(current_user.org, line_id, evidence_id, current_actor())
    assert row.name is not None and row.content_type is not None and row.data is not None
    return files.download(row.name, row.content_type, row.data)


# After acceptance: reviews, tickets, notifications


@bp.post("/order-lines/<id:line_id>/review")
@requires(OrgKind.ENTERPRISE)
def review(line_id: int) -> ResponseReturnValue:
    line = orders.line_for(current_user.org, line_id)
    form = forms.ReviewForm()
    if not form.validate_on_submit():
        flash(_("Rate from 1 to 5."), "error")
    else:
        try:
            aftercare.review(line, form.rating.data, form.comment.data or "", current_actor())
            flash(_("Thank you. Your review helps other enterprises choose."), "success")
        except DomainError as error:
            flash(str(error.message), "error")
    return redirect(url_for("journey.order", number=line.order.number))


@bp.post("/order-lines/<id:line_id>/tickets")
@requires(OrgKind.ENTERPRISE)
def open_ticket(line_id: int) -> ResponseReturnValue:
    line = orders.line_for(current_user.org, line_id)
    form = forms.TicketForm()
    if not form.validate_on_submit():
        flash(_("Choose a severity and describe the problem."), "error")
        return redirect(url_for("journey.order", number=line.order.number))
    try:
        ticket = tickets.open_ticket(
            line, form.severity.data, form.description.data, current_actor()
        )
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("journey.order", number=line.order.number))
    return redirect(url_for("journey.ticket", ticket_id=ticket.id))


@bp.get("/tickets", endpoint="tickets")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def tickets_list() -> ResponseReturnValue:
    return render("orders/tickets.html", rows=tickets.tickets_of(current_user.org), now=utcnow())


def _ticket_page(
    ticket_id: int, status: int = 200, form: forms.MessageForm | None = None
) -> ResponseReturnValue:
    t = tickets.ticket_for(current_user.org, ticket_id)
    now = utcnow()
    return (
        render(
            "orders/ticket.html",
            t=t,
            form=form or forms.MessageForm(),
            actions=tickets.actions(t, _actor_kind()),
            clocks=tickets.clocks(t, now),
            reopen_until=tickets.reopen_until(t),
            max_attachment_mb=f"{current_app.config['TICKET_ATTACHMENT_MAX_BYTES'] / 2**20:.3g}",
            now=now,
        ),
        status,
    )


@bp.get("/tickets/<id:ticket_id>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def ticket(ticket_id: int) -> ResponseReturnValue:
    return _ticket_page(ticket_id)


def _upload(field: Any) -> files.Upload | None:
    upload = field.data  # a werkzeug FileStorage, or None
    if upload is None or not upload.filename:
        return None
    with upload.stream:  # large uploads are spooled to a temporary file: close it
        return files.Upload(upload.filename, upload.stream.read())


def _evidence(form: forms.EvidenceFields) -> proofs.Evidence:
    return proofs.Evidence(form.evidence_note.data or "", _upload(form.evidence_file))


TICKET_MESSAGES = {
    "reply": (tickets.reply, _l("Your message was sent.")),
    "resolve": (tickets.resolve, _l("Marked resolved. The enterprise confirms or replies.")),
    "reopen": (tickets.reopen, _l("The ticket is open again.")),
}


@bp.post("/tickets/<id:ticket_id>/<any(reply, resolve, reopen):action>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def ticket_message(ticket_id: int, action: str) -> ResponseReturnValue:
    """A message on the ticket: a reply (either side), the provider's resolution note, or the
    enterprise's reason for reopening it. Refused input re-renders the page (422)."""
    t = tickets.ticket_for(current_user.org, ticket_id)
    form = forms.MessageForm()
    service, done = TICKET_MESSAGES[action]
    if form.validate_on_submit():
        try:
            service(t, form.body.data, current_actor(), _upload(form.attachment))
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(str(done), "success")
            return redirect(url_for("journey.ticket", ticket_id=t.id))
    return _ticket_page(t.id, INVALID, form)


@bp.post("/tickets/<id:ticket_id>/close")
@requires(OrgKind.ENTERPRISE)
def close_ticket(ticket_id: int) -> ResponseReturnValue:
    t = tickets.ticket_for(current_user.org, ticket_id)
    try:
        tickets.close(t, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    return redirect(url_for("journey.ticket", ticket_id=t.id))


@bp.get("/tickets/<id:ticket_id>/attachments/<id:attachment_id>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def ticket_attachment(ticket_id: int, attachment_id: int) -> ResponseReturnValue:
    """A message's file, for the ticket's two parties only (anyone else: 404)."""
    a = tickets.attachment_for(current_user.org, ticket_id, attachment_id)
    return files.download(a.name, a.content_type, a.data)


@bp.route("/notifications", methods=["GET", "POST"])
@requires()
def notifications() -> ResponseReturnValue:
    if request.method == "POST":
        inbox.mark_all_read(current_user.org_id)
        return redirect(url_for("journey.notifications"))
    rows = inbox.notifications_of(current_user.org_id)
    return render("orders/notifications.html", rows=[(n, inbox.text(n)) for n in rows])
