"""The platform admin's pages: organisations, their users, password links (e-mailed to the
user, never shown to the admin), (de)activation, the background jobs that failed and the
e-mail that could not be delivered."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _

from marketplace import audit, jobs, mail
from marketplace.accounts import forms, services
from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.db import db
from marketplace.errors import DomainError, NotFound
from marketplace.forms import attach_error, choices
from marketplace.jobs.models import JobRecord
from marketplace.rendering import page_number, render
from marketplace.security import current_actor, requires

bp = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 25


@bp.get("/organisations")
@requires(OrgKind.PLATFORM)
def organisations() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:100]
    kind_value = request.args.get("kind", "")
    kind = OrgKind(kind_value) if kind_value in OrgKind._value2member_map_ else None
    page = page_number()
    rows, total = services.list_organisations(query, kind, page, PER_PAGE)
    return render(
        "admin/organisations.html",
        block="results",
        rows=rows,
        total=total,
        page=page,
        pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
        query=query,
        kind=kind_value if kind else "",
        kinds=list(OrgKind),
    )


@bp.route("/organisations/new", methods=["GET", "POST"])
@requires(OrgKind.PLATFORM)
def new_organisation() -> ResponseReturnValue:
    form = forms.NewOrganisationForm()
    locale = str(get_locale())
    form.region_code.choices = choices(
        [("", _("None"))] + [(r.code, f"{r.name(locale)} ({r.code})") for r in services.regions()]
    )
    if not form.validate_on_submit():
        return render(
            "admin/new_organisation.html", form=form, status=422 if form.is_submitted() else 200
        )
    try:
        user = services.create_organisation(
            OrgKind(form.kind.data),
            form.name.data,
            form.credit_code.data or None,
            form.owner_name.data,
            form.email.data,
            current_actor(),
            region_code=form.region_code.data or None,
            locale=str(get_locale() or "zh"),
        )
    except DomainError as error:
        attach_error(form, error)
        return render("admin/new_organisation.html", form=form, status=422)
    flash(
        _(
            "The organisation has been created. An e-mail with a link to set a password was"
            " sent to %(email)s.",
            email=user.email,
        ),
        "success",
    )
    return redirect(url_for("admin.organisation", org_id=user.org_id))


def _organisation(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(_("Not found."))
    return org


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("Not found."))
    return user


@bp.get("/organisations/<id:org_id>")
@requires(OrgKind.PLATFORM)
def organisation(org_id: int) -> ResponseReturnValue:
    org = _organisation(org_id)
    return render(
        "admin/organisation.html",
        org=org,
        confirm_form=forms.ConfirmForm(),
        history=audit.entries_about("organisation", org.id),
    )


@bp.post("/users/<id:user_id>/reset-link")
@requires(OrgKind.PLATFORM)
def reset_link(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    if forms.ConfirmForm().validate_on_submit():
        services.send_reset_link(user, current_actor(), str(get_locale() or "zh"))
        flash(
            _(
                "An e-mail with a one-time link to set a new password was sent to %(email)s.",
                email=user.email,
            ),
            "success",
        )
    return redirect(url_for("admin.organisation", org_id=user.org_id))


@bp.post("/users/<id:user_id>/<any(activate, deactivate):action>")
@requires(OrgKind.PLATFORM)
def set_active(user_id: int, action: str) -> ResponseReturnValue:
    user = _user(user_id)
    if forms.ConfirmForm().validate_on_submit():
        try:
            services.set_active(user, action == "activate", current_actor())
        except DomainError as error:
            flash(str(error.message), "error")
    return redirect(url_for("admin.organisation", org_id=user.org_id))


@bp.get("/jobs")
@requires(OrgKind.PLATFORM)
def job_problems() -> ResponseReturnValue:
    return render("admin/jobs.html", rows=jobs.problems())


@bp.post("/jobs/<id:record_id>/resubmit")
@requires(OrgKind.PLATFORM)
def resubmit_job(record_id: int) -> ResponseReturnValue:
    record = db.session.get(JobRecord, record_id)
    if record is None:
        raise NotFound(_("Not found."))
    try:
        jobs.resubmit(record, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The job was sent again."), "success")
    return redirect(url_for("admin.job_problems"))


@bp.get("/mail")
@requires(OrgKind.PLATFORM)
def failed_mail() -> ResponseReturnValue:
    return render("admin/mail.html", rows=mail.failed())


@bp.post("/mail/<id:mail_id>/retry")
@requires(OrgKind.PLATFORM)
def retry_mail(mail_id: int) -> ResponseReturnValue:
    try:
        mail.retry(mail_id, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The e-mail is queued to be sent again."), "success")
    return redirect(url_for("admin.failed_mail"))
