"""Providers apply to agencies' pools; agency officials decide on applications."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from marketplace import files
from marketplace.accounts.models import OrgKind
from marketplace.db import local_today
from marketplace.errors import DomainError, NotFound
from marketplace.forms import attach_error
from marketplace.pool import documents, forms, services
from marketplace.pool.models import POOL_MACHINE, PoolEvent, PoolStatus
from marketplace.rendering import INVALID, render
from marketplace.security import Actor, current_actor, requires

bp = Blueprint("pool", __name__, url_prefix="/pool")


@bp.get("")
@requires(OrgKind.PROVIDER)
def provider_pools() -> ResponseReturnValue:
    org = current_user.org
    memberships = {m.agency_id: m for m in services.memberships_of(org)}
    return render(
        "pool/provider_pools.html",
        agencies=services.agencies(),
        memberships=memberships,
        today=local_today(),
    )


@bp.route("/apply/<id:agency_id>", methods=["GET", "POST"])
@requires(OrgKind.PROVIDER, owner=True)
def apply(agency_id: int) -> ResponseReturnValue:
    org = current_user.org
    agency = next((a for a in services.agencies() if a.id == agency_id), None)
    if agency is None:
        raise NotFound(_("Not found."))
    form = forms.ApplicationForm()
    if request.method == "GET":
        form.contact_name.data = org.contact_name
        form.contact_phone.data = org.contact_phone
        form.contact_email.data = org.contact_email
        form.capability_statement.data = org.description
    if not form.validate_on_submit():
        return render(
            "pool/apply.html",
            form=form,
            agency=agency,
            org=org,
            status=INVALID if form.is_submitted() else 200,
        )
    qualification = services.Qualification(
        years_in_business=form.years_in_business.data,
        reference_customer_count=form.reference_customer_count.data,
        reference_customers=form.reference_customers.data or "",
        certifications=form.certifications.data or "",
        capability_statement=form.capability_statement.data,
        contact_name=form.contact_name.data,
        contact_phone=form.contact_phone.data,
        contact_email=form.contact_email.data,
    )
    try:
        membership = services.apply(org, agency.id, qualification, current_actor())
    except DomainError as error:
        attach_error(form, error)
        return render("pool/apply.html", form=form, agency=agency, org=org, status=INVALID)
    flash(_("Your application to %(agency)s has been sent.", agency=agency.name), "success")
    return redirect(url_for("pool.membership", membership_id=membership.id))


def _membership_page(
    membership_id: int, document_form: forms.DocumentForm | None = None, status: int = 200
) -> ResponseReturnValue:
    m = services.membership_for_provider(current_user.org, membership_id)
    return render(
        "pool/membership.html",
        m=m,
        documents=documents.documents_of(m),
        document_form=document_form or forms.DocumentForm(),
        document_max_mb=f"{current_app.config['POOL_DOCUMENT_MAX_BYTES'] / (1024 * 1024):.3g}",
        document_limit=documents.MAX_DOCUMENTS,
        status=status,
    )


@bp.get("/memberships/<id:membership_id>")
@requires(OrgKind.PROVIDER)
def membership(membership_id: int) -> ResponseReturnValue:
    return _membership_page(membership_id)


@bp.post("/memberships/<id:membership_id>/documents")
@requires(OrgKind.PROVIDER, owner=True)
def attach_document(membership_id: int) -> ResponseReturnValue:
    """The provider attaches a document to its application; refused input re-renders the
    page (422) and stores nothing."""
    m = services.membership_for_provider(current_user.org, membership_id)
    form = forms.DocumentForm()
    if form.validate_on_submit():
        upload = form.document.data  # a werkzeug FileStorage, or None
        file = None
        if upload is not None and upload.filename:
            with upload.stream:  # large uploads are spooled to a temporary file: close it
                file = files.Upload(upload.filename, upload.stream.read())
        try:
            documents.attach(m, form.kind.data, file, current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("The document is attached to your application."), "success")
            return redirect(url_for("pool.membership", membership_id=m.id) + "#documents")
    return _membership_page(m.id, form, INVALID)


@bp.post("/memberships/<id:membership_id>/documents/<id:document_id>/delete")
@requires(OrgKind.PROVIDER, owner=True)
def remove_document(membership_id: int, document_id: int) -> ResponseReturnValue:
    m = services.membership_for_provider(current_user.org, membership_id)
    try:
        documents.remove(m, document_id, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The document is removed from your application."), "success")
    return redirect(url_for("pool.membership", membership_id=m.id) + "#documents")


@bp.get("/memberships/<id:membership_id>/documents/<id:document_id>")
@requires(OrgKind.PROVIDER)
def own_document(membership_id: int, document_id: int) -> ResponseReturnValue:
    m = services.membership_for_provider(current_user.org, membership_id)
    d = documents.open_document(current_user.org, m, document_id, current_actor())
    return files.download(d.name, d.content_type, d.data)


own_document.writes_on_read = True  # type: ignore[attr-defined]  # the opening is audited


@bp.get("/applications/<id:membership_id>/documents/<id:document_id>")
@requires(OrgKind.AGENCY)
def application_document(membership_id: int, document_id: int) -> ResponseReturnValue:
    """A document of an application to the official's own agency's pool (anyone else: 404);
    the opening is audited."""
    m = services.membership_for_agency(current_user.org, membership_id)
    d = documents.open_document(current_user.org, m, document_id, current_actor())
    return files.download(d.name, d.content_type, d.data)


application_document.writes_on_read = True  # type: ignore[attr-defined]


@bp.get("/queue")
@requires(OrgKind.AGENCY)
def queue() -> ResponseReturnValue:
    value = request.args.get("status", PoolStatus.APPLIED.value)
    status = PoolStatus(value) if value in PoolStatus._value2member_map_ else None
    return render(
        "pool/queue.html",
        rows=services.queue(current_user.org, status),
        current=status.value if status else "",
        statuses=list(PoolStatus),
    )


@bp.route("/applications/<id:membership_id>", methods=["GET", "POST"])
@requires(OrgKind.AGENCY)
def application(membership_id: int) -> ResponseReturnValue:
    m = services.membership_for_agency(current_user.org, membership_id)
    events = [
        e
        for e in POOL_MACHINE.events(m.status, OrgKind.AGENCY.value)
        # The exit rule's suspension ends only with a new application.
        if not (e is PoolEvent.REINSTATE and m.reapply_after is not None)
    ]
    form = forms.DecisionForm(events)
    docs = documents.documents_of(m)
    page = partial(render, "pool/application.html", m=m, form=form, events=events, documents=docs)
    then = url_for("pool.application", membership_id=m.id)
    return decision(m, m.provider.name, services.decide, form, page, then)


def decision(
    m: Any,
    name: str,
    decide: Callable[[Any, PoolEvent, str, Actor], Any],
    form: forms.DecisionForm,
    page: Callable[..., ResponseReturnValue],
    then: str,
) -> ResponseReturnValue:
    """The agency's decision on a membership of its pool (a provider's or an advisor's, by
    ``decide``): ``page`` when nothing can be decided (the form offers no event), again with
    the errors when the form or the service refuses; else the new status said, off to ``then``."""
    if request.method == "GET" or not form.event.choices:
        return page()
    if not form.validate_on_submit():
        return page(status=INVALID)
    try:
        decide(m, PoolEvent(form.event.data), form.reason.data or "", current_actor())
    except DomainError as error:
        attach_error(form, error)
        return page(status=INVALID)
    flash(_("%(provider)s is now: %(status)s.", provider=name, status=m.status.label), "success")
    return redirect(then)
