"""Voucher pages: agency officials run programmes, issue, settle and review risk flags;
enterprises see and apply for vouchers; providers see their settlement statements."""

from __future__ import annotations

import secrets
from collections import Counter
from decimal import Decimal

from flask import Blueprint, Response, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from marketplace.accounts.models import Industry, Organisation, OrgKind, Region, SizeTier
from marketplace.catalog import services as catalog
from marketplace.catalog.models import PlanKind
from marketplace.db import db, local_today
from marketplace.errors import DomainError, NotFound
from marketplace.extensions import htmx
from marketplace.forms import attach_error, checked, choices, first_error, flashed
from marketplace.rendering import INVALID, csv_download, page_number, render
from marketplace.security import current_actor, requires
from marketplace.vouchers import (
    admission,
    appointments,
    cap_holds,
    caps,
    csv_import,
    figures,
    forms,
    issuing,
    risk,
    settlement,
    spending,
)
from marketplace.vouchers import programmes as programme_service
from marketplace.vouchers.models import (
    DEFAULT_HYBRID_FEE_FLOOR_BP,
    CapPolicy,
    ProgrammeMode,
    ProgrammeStatus,
    RunStatus,
    StagedImport,
    VoucherApplication,
    VoucherProgramme,
    VoucherStatus,
)

bp = Blueprint("vouchers", __name__)

PER_PAGE = 50


RESULT_LABELS = {
    "issued": _l("Issued"),
    "not_eligible": _l("Not eligible"),
    "unknown": _l("Unknown credit code"),
    "duplicate": _l("Duplicate"),
}


@bp.app_template_global()
def result_label(result: str) -> str:
    return str(RESULT_LABELS.get(result, result))


@bp.app_template_global()
def ineligible_text(codes: list[str]) -> str:
    return issuing.describe(codes)


@bp.app_template_global()
def tier_label(value: str) -> str:
    return SizeTier(value).label if value in SizeTier._value2member_map_ else value


@bp.app_template_global()
def new_key() -> str:
    return secrets.token_urlsafe(24)


def _programme(programme_id: int) -> VoucherProgramme:
    return programme_service.programme_for(current_user.org, programme_id)


def _fill_choices(form: forms.ProgrammeForm) -> None:
    locale = str(get_locale())
    form.mode.choices = choices((m.value, m.label) for m in ProgrammeMode)
    form.industry_codes.choices = choices(
        (i.code, i.name(locale))
        for i in db.session.scalars(select(Industry).order_by(Industry.position))
    )
    form.region_codes.choices = choices(
        (r.code, f"{r.name(locale)} {r.code}")
        for r in db.session.scalars(select(Region).order_by(Region.code))
    )
    form.size_tiers.choices = choices((t.value, t.label) for t in SizeTier)
    form.category_codes.choices = choices((c.code, c.name(locale)) for c in catalog.categories())
    form.plan_kinds.choices = choices((k.value, k.label) for k in PlanKind)


def _rules(form: forms.ProgrammeForm) -> programme_service.Rules:
    rate = form.rate.data or Decimal(0)
    return programme_service.Rules(
        name=form.name.data or "",
        mode=ProgrammeMode(form.mode.data),
        budget_fen=form.budget.data or 0,
        face_value_fen=form.face_value.data or 0,
        rate_bp=int(rate * 100),
        cap_fen=form.cap.data or 0,
        issue_from=form.issue_from.data,
        redeem_by=form.redeem_by.data,
        industry_codes=list(form.industry_codes.data or []),
        size_tiers=list(form.size_tiers.data or []),
        region_codes=list(form.region_codes.data or []),
        min_revenue_fen=form.min_revenue.data,
        max_revenue_fen=form.max_revenue.data,
        diagnosis_required=bool(form.diagnosis_required.data),
        category_codes=list(form.category_codes.data or []),
        plan_kinds=list(form.plan_kinds.data or []),
        covers_success_fees=bool(form.covers_success_fees.data),
        hybrid_fee_floor_bp=(
            DEFAULT_HYBRID_FEE_FLOOR_BP
            if form.hybrid_fee_floor.data is None
            else int(form.hybrid_fee_floor.data * 100)
        ),
        batch_approval_threshold_fen=form.batch_approval_threshold.data or 0,
        cooling_off_days=form.cooling_off_days.data or 0,
    )


def _fill_from(form: forms.ProgrammeForm, p: VoucherProgramme) -> None:
    form.name.data = p.name
    form.mode.data = p.mode.value
    form.budget.data, form.face_value.data, form.cap.data = (
        p.budget_fen,
        p.face_value_fen,
        p.cap_fen,
    )
    form.rate.data = Decimal(p.rate_bp) / 100
    form.issue_from.data, form.redeem_by.data = p.issue_from, p.redeem_by
    form.industry_codes.data, form.size_tiers.data = p.industry_codes, p.size_tiers
    form.region_codes.data, form.category_codes.data = p.region_codes, p.category_codes
    form.plan_kinds.data = p.plan_kinds
    form.min_revenue.data, form.max_revenue.data = p.min_revenue_fen, p.max_revenue_fen
    form.diagnosis_required.data = p.diagnosis_required
    form.covers_success_fees.data = p.covers_success_fees
    form.hybrid_fee_floor.data = Decimal(p.hybrid_fee_floor_bp) / 100
    form.batch_approval_threshold.data = p.batch_approval_threshold_fen
    form.cooling_off_days.data = p.cooling_off_days


# --- agency: programmes -----------------------------------------------------------------


@bp.get("/agency/programmes")
@requires(OrgKind.AGENCY)
def programmes() -> ResponseReturnValue:
    rows = programme_service.programmes_of(current_user.org)
    return render(
        "vouchers/programmes.html",
        rows=rows,
        figures=figures.of_programmes(rows),
    )


@bp.route("/agency/programmes/new", methods=["GET", "POST"])
@requires(OrgKind.AGENCY, owner=True)
def new_programme() -> ResponseReturnValue:
    form = forms.ProgrammeForm()
    _fill_choices(form)
    if form.validate_on_submit():
        try:
            p = programme_service.create_programme(current_user.org, _rules(form), current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Programme %(name)s is saved as a draft.", name=p.name), "success")
            return redirect(url_for("vouchers.programme", programme_id=p.id))
    status = INVALID if form.is_submitted() else 200
    return render("vouchers/programme_form.html", form=form, p=None, status=status)


@bp.route("/agency/programmes/<id:programme_id>/edit", methods=["GET", "POST"])
@requires(OrgKind.AGENCY, owner=True)
def edit_programme(programme_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    form = forms.ProgrammeForm()
    _fill_choices(form)
    if request.method == "GET":
        _fill_from(form, p)
    elif form.validate_on_submit():
        try:
            programme_service.update_programme(p, _rules(form), current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("vouchers.programme", programme_id=p.id))
    status = INVALID if form.is_submitted() else 200
    return render("vouchers/programme_form.html", form=form, p=p, status=status)


@bp.get("/agency/programmes/<id:programme_id>")
@requires(OrgKind.AGENCY)
def programme(programme_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    return render(
        "vouchers/programme.html",
        p=p,
        rules=programme_service.rule_names(p, str(get_locale())),
        f=figures.of(p),
        frozen=programme_service.rules_frozen(p),
        applications=issuing.pending_applications(p),
        due=settlement.due_by_provider(p),
        settlements=settlement.settlements_of(p),
        one_form=forms.IssueOneForm(key=secrets.token_urlsafe(24)),
        import_form=forms.ImportForm(key=secrets.token_urlsafe(24)),
        validity_form=forms.ValidityForm(),
        budget_form=forms.BudgetForm(),
        end_form=forms.EndAppointmentForm(),
        appointments=appointments.of_programmes([p.id])[p.id],
        today=local_today(),
        decision_form=forms.DecisionForm(),
        admission_form=_admission_rules_form(p),
        proposals=issuing.proposals_of(p),
        batches=issuing.recent_batches(p),
    )


def _programme_action(programme_id: int, action: str) -> ResponseReturnValue:
    p = _programme(programme_id)
    with flashed(_("Saved.")):
        if action == "open":
            programme_service.open_programme(p, current_actor())
        elif action == "close":
            programme_service.close_programme(p, current_actor())
        elif action == "validity":
            form = forms.ValidityForm()
            if not form.validate_on_submit():
                raise DomainError(
                    form.redeem_by.errors[0]
                    if form.redeem_by.errors
                    else _("Enter a date as YYYY-MM-DD.")
                )
            programme_service.extend_validity(p, form.redeem_by.data, current_actor())
        elif action == "budget":
            budget_form = forms.BudgetForm()
            if not budget_form.validate_on_submit():
                raise DomainError(
                    budget_form.budget.errors[0]
                    if budget_form.budget.errors
                    else _("This field is required.")
                )
            programme_service.change_budget(p, budget_form.budget.data or 0, current_actor())
    return redirect(url_for("vouchers.programme", programme_id=p.id))


# --- agency: integrator appointments, in the open ----------------------------------------


def _selection(form: forms.AppointmentForm, pool: list[Organisation]) -> appointments.Selection:
    """The form's values; an applicant's score that is not a whole number from 0 to 100 is
    refused here (blank: the provider did not apply)."""
    scored: list[tuple[int, int]] = []
    for provider in pool:
        raw = (request.form.get(f"score-{provider.id}") or "").strip()
        if not raw:
            continue
        if not raw.isdigit() or not 0 <= int(raw) <= 100:
            raise DomainError(_l("Scores are from 0 to 100."), field="applicants")
        scored.append((provider.id, int(raw)))
    cap = form.integration_fee_cap.data or Decimal(0)
    return appointments.Selection(
        integrator_id=form.integrator_id.data or 0,
        reason=form.reason.data or "",
        term_start=form.term_start.data,
        term_end=form.term_end.data,
        integration_fee_cap_bp=int(cap * 100),
        call_reference=form.call_reference.data or "",
        call_title=form.call_title.data or "",
        criteria=form.criteria.data or "",
        applicants=scored,
    )


@bp.route("/agency/programmes/<id:programme_id>/appointments/new", methods=["GET", "POST"])
@requires(OrgKind.AGENCY, owner=True)
def appoint(programme_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    pool = appointments.candidates(p.agency)
    form = forms.AppointmentForm()
    form.integrator_id.choices = choices(
        (o.id, o.name) for o in pool if o.provider_type == "integrator"
    )
    if request.method == "GET":
        form.term_start.data, form.term_end.data = p.issue_from, p.redeem_by
    scores = {o.id: (request.form.get(f"score-{o.id}") or "") for o in pool}
    applicant_error = None
    if form.validate_on_submit():
        try:
            appointments.appoint(p, _selection(form, pool), current_actor())
        except DomainError as error:
            if error.field == "applicants":
                applicant_error = str(error.message)
            else:
                attach_error(form, error)
        else:
            flash(_("The appointment is recorded and shown on the transparency page."), "success")
            return redirect(url_for("vouchers.programme", programme_id=p.id))
    status = INVALID if form.is_submitted() else 200
    return render(
        "vouchers/appoint.html",
        p=p,
        form=form,
        pool=pool,
        scores=scores,
        applicant_error=applicant_error,
        status=status,
    )


@bp.post("/agency/programmes/<id:programme_id>/appointments/<id:appointment_id>/end")
@requires(OrgKind.AGENCY, owner=True)
def end_appointment(programme_id: int, appointment_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    appointment = appointments.appointment_for(p, appointment_id)
    form = forms.EndAppointmentForm()
    with flashed(_("The appointment has ended.")):
        if not form.validate_on_submit():
            raise DomainError(first_error(form) or _("This field is required."))
        appointments.end(appointment, form.end_reason.data or "", current_actor())
    return redirect(url_for("vouchers.programme", programme_id=p.id))


@bp.post("/agency/programmes/<id:programme_id>/<any(open, close, validity, budget):action>")
@requires(OrgKind.AGENCY, owner=True)
def programme_action(programme_id: int, action: str) -> ResponseReturnValue:
    return _programme_action(programme_id, action)


# --- agency: caps (issue 22) ---------------------------------------------------------------


def _bp(percent: Decimal | None) -> int | None:
    return None if percent is None else int(percent * 100)


@bp.route("/agency/programmes/<id:programme_id>/caps", methods=["GET", "POST"])
@requires(OrgKind.AGENCY, owner=True)
def programme_caps(programme_id: int) -> ResponseReturnValue:
    """A programme's caps, with the providers' shares now: a cap below a share is allowed
    and applies to new orders only, which the page says."""
    p = _programme(programme_id)
    form = forms.CapsForm()
    form.cap_policy.choices = choices((c.value, c.label) for c in CapPolicy)
    if request.method == "GET":
        form.provider_cap.data = (
            None if p.provider_cap_bp is None else Decimal(p.provider_cap_bp) / 100
        )
        form.integration_fee_cap.data = (
            None if p.integration_fee_cap_bp is None else Decimal(p.integration_fee_cap_bp) / 100
        )
        form.cap_policy.data = p.cap_policy.value
        form.cap_from.data = p.cap_from_fen
    elif form.validate_on_submit():
        try:
            above = cap_holds.set_caps(
                p,
                _bp(form.provider_cap.data),
                _bp(form.integration_fee_cap.data),
                CapPolicy(form.cap_policy.data),
                form.cap_from.data or 0,
                current_actor(),
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Saved. The caps apply to orders placed from now on."), "success")
            for share in above:
                flash(
                    _(
                        "%(provider)s already holds %(share)s, above the new cap of %(cap)s:"
                        " its orders so far stand; the cap applies to new orders only.",
                        provider=share.name,
                        share=caps.percent(share.share_bp),
                        cap=caps.percent(p.provider_cap_bp or 0),
                    ),
                    "info",
                )
            return redirect(url_for("vouchers.programme_caps", programme_id=p.id))
    status = INVALID if form.is_submitted() else 200
    return render(
        "vouchers/caps.html",
        p=p,
        form=form,
        shares=caps.current_shares(p),
        percent=caps.percent,
        status=status,
    )


@bp.get("/agency/programmes/<id:programme_id>/cap-holds")
@requires(OrgKind.AGENCY)
def cap_holds_page(programme_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    return render(
        "vouchers/cap_holds.html",
        p=p,
        pending=cap_holds.holds_of(p),
        decided=cap_holds.holds_of(p, pending=False),
        form=forms.HoldDecisionForm(),
        percent=caps.percent,
    )


@bp.post(
    "/agency/programmes/<id:programme_id>/cap-holds/<id:hold_id>/<any(approve, decline):action>"
)
@requires(OrgKind.AGENCY, owner=True)
def cap_hold_action(programme_id: int, hold_id: int, action: str) -> ResponseReturnValue:
    p = _programme(programme_id)
    hold = cap_holds.hold_for(p, hold_id)
    form = forms.HoldDecisionForm()
    with flashed(_("Decision recorded.")):
        checked(form)
        if action == "approve":
            cap_holds.approve(hold, form.reason.data or "", current_actor())
        else:
            cap_holds.decline(hold, form.reason.data or "", current_actor())
    return redirect(url_for("vouchers.cap_holds_page", programme_id=p.id))


# --- agency: issuing --------------------------------------------------------------------


@bp.route("/agency/programmes/<id:programme_id>/issue", methods=["GET", "POST"])
@requires(OrgKind.AGENCY, owner=True)
def issue_batch(programme_id: int) -> ResponseReturnValue:
    """The preview, and its confirmation. With htmx the page shows that it is working while
    the batch runs, then navigates to the result (or back here with the error)."""
    p = _programme(programme_id)
    form = forms.BatchForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            run = issuing.issue_batch(
                p,
                form.key.data,
                current_actor(),
                form.note.data or "",
                shown_total_fen=int(form.total_fen.data),
            )
        except DomainError as error:
            if htmx:
                flash(str(error.message), "error")
                return _htmx_redirect(url_for("vouchers.issue_batch", programme_id=p.id))
            attach_error(form, error)
        else:
            target = url_for("vouchers.run", programme_id=p.id, run_id=run.id)
            return _htmx_redirect(target) if htmx else redirect(target)
    if request.method == "GET":
        form.key.data = secrets.token_urlsafe(24)
    status = INVALID if form.is_submitted() else 200
    return render(
        "vouchers/issue_batch.html",
        p=p,
        preview=issuing.preview_batch(p),
        form=form,
        status=status,
    )


def _htmx_redirect(url: str) -> Response:
    return Response(status=204, headers={"HX-Redirect": url})


@bp.post("/agency/programmes/<id:programme_id>/issue-one")
@requires(OrgKind.AGENCY, owner=True)
def issue_one(programme_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    form = forms.IssueOneForm()
    with flashed():
        checked(form)
        _run, v = issuing.issue_one(
            p,
            form.credit_code.data,
            form.key.data,
            current_actor(),
            shown_fen=int(form.total_fen.data),
        )
        flash(
            _("Voucher %(code)s issued to %(name)s.", code=v.code, name=v.enterprise.name),
            "success",
        )
    return redirect(url_for("vouchers.programme", programme_id=p.id))


@bp.post("/agency/programmes/<id:programme_id>/import")
@requires(OrgKind.AGENCY, owner=True)
def import_csv(programme_id: int) -> ResponseReturnValue:
    """The dry run: the list is checked row by row and kept; nothing is issued."""
    p = _programme(programme_id)
    form = forms.ImportForm()
    if form.validate_on_submit():
        try:
            with form.file.data.stream as upload:  # spooled to disk when large: close it
                raw = upload.read()
            staged = csv_import.stage(p, raw, form.file.data.filename or "", current_actor())
        except DomainError as error:
            attach_error(form, error)
        else:
            return redirect(
                url_for("vouchers.staged_import", programme_id=p.id, staged_id=staged.id)
            )
    return render("vouchers/import.html", p=p, form=form, status=INVALID)


def _staged_page(
    p: VoucherProgramme, staged: StagedImport, form: forms.ConfirmImportForm, status: int = 200
) -> ResponseReturnValue:
    return render(
        "vouchers/import_preview.html",
        p=p,
        staged=staged,
        counts=Counter(row["result"] for row in staged.report),
        form=form,
        result_text=csv_import.result_text,
        status=status,
    )


@bp.get("/agency/programmes/<id:programme_id>/imports/<id:staged_id>")
@requires(OrgKind.AGENCY)
def staged_import(programme_id: int, staged_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    staged = csv_import.staged_for(p, staged_id)
    form = forms.ConfirmImportForm(
        key=secrets.token_urlsafe(24),
        digest=staged.digest,
        count=str(staged.count),
        total_fen=str(staged.total_fen),
    )
    return _staged_page(p, staged, form)


@bp.get("/agency/programmes/<id:programme_id>/imports/<id:staged_id>.csv")
@requires(OrgKind.AGENCY)
def staged_import_csv(programme_id: int, staged_id: int) -> ResponseReturnValue:
    staged = csv_import.staged_for(_programme(programme_id), staged_id)
    return csv_download(csv_import.report_csv(staged), f"import-{staged.id}-report.csv")


@bp.post("/agency/programmes/<id:programme_id>/imports/<id:staged_id>")
@requires(OrgKind.AGENCY, owner=True)
def confirm_import(programme_id: int, staged_id: int) -> ResponseReturnValue:
    """Issue exactly the rows of the dry run (or propose them for approval)."""
    p = _programme(programme_id)
    staged = csv_import.staged_for(p, staged_id)
    form = forms.ConfirmImportForm()
    if form.validate_on_submit():
        try:
            run = csv_import.confirm(
                staged,
                form.digest.data,
                int(form.count.data),
                int(form.total_fen.data),
                form.key.data,
                form.note.data or "",
                current_actor(),
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            return redirect(url_for("vouchers.run", programme_id=p.id, run_id=run.id))
    elif not form.confirmed.errors:  # a hidden field missing or forged
        form.form_errors.append(first_error(form))
    return _staged_page(p, staged, form, INVALID)


@bp.get("/agency/programmes/<id:programme_id>/runs/<id:run_id>")
@requires(OrgKind.AGENCY)
def run(programme_id: int, run_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    found = issuing.run_for(p, run_id)
    return render(
        "vouchers/run.html",
        p=p,
        run=found,
        counts=Counter(row["result"] for row in found.report),
        holders=issuing.proposed_holders(found) if found.status is RunStatus.PROPOSED else [],
    )


@bp.post("/agency/programmes/<id:programme_id>/runs/<id:run_id>/<any(approve, cancel):action>")
@requires(OrgKind.AGENCY, owner=True)
def run_action(programme_id: int, run_id: int, action: str) -> ResponseReturnValue:
    """Approve (a second official, with a note, for the total shown) or cancel (with a
    reason) a batch proposed for approval."""
    p = _programme(programme_id)
    found = issuing.run_for(p, run_id)
    with flashed():
        if action == "approve":
            approval = forms.ApprovalForm()
            checked(approval)
            total_fen = int(approval.total_fen.data or 0)
            issuing.approve_batch(found, total_fen, approval.note.data or "", current_actor())
            flash(_("Approved: %(n)d vouchers issued.", n=found.count), "success")
        else:
            reason = forms.ReasonForm()
            checked(reason)
            issuing.cancel_batch(found, reason.reason.data or "", current_actor())
            flash(_("The proposed batch is cancelled."), "success")
    return redirect(url_for("vouchers.programme", programme_id=p.id))


@bp.get("/agency/programmes/<id:programme_id>/vouchers")
@requires(OrgKind.AGENCY)
def programme_vouchers(programme_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    value = request.args.get("status", "")
    status = VoucherStatus(value) if value in VoucherStatus._value2member_map_ else None
    page = page_number()
    rows, total = programme_service.vouchers_of_programme(p, status, page, PER_PAGE)
    return render(
        "vouchers/programme_vouchers.html",
        p=p,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        current=value if status else "",
        statuses=list(VoucherStatus),
        form=forms.ReasonForm(),
    )


@bp.post("/agency/vouchers/<id:voucher_id>/revoke")
@requires(OrgKind.AGENCY, owner=True)
def revoke(voucher_id: int) -> ResponseReturnValue:
    voucher = spending.voucher_for(current_user.org, voucher_id)
    if voucher.programme.agency_id != current_user.org_id:
        raise NotFound(_("Not found."))
    form = forms.ReasonForm()
    with flashed(_("Voucher %(code)s is revoked.", code=voucher.code)):
        checked(form, _("Give a reason; the other party will see it."))
        spending.revoke(voucher, form.reason.data or "", current_actor())
    return redirect(url_for("vouchers.programme_vouchers", programme_id=voucher.programme_id))


@bp.post("/agency/voucher-applications/<id:application_id>")
@requires(OrgKind.AGENCY, owner=True)
def decide(application_id: int) -> ResponseReturnValue:
    application = db.session.get(VoucherApplication, application_id)
    if application is None or application.programme.agency_id != current_user.org_id:
        raise NotFound(_("Not found."))
    form = forms.DecisionForm()
    with flashed(_("Decision recorded.")):
        checked(form, _("This action is not possible in the current state."))
        approve = form.decision.data == "approve"
        if approve and not (form.confirmed.data and form.total_fen.data):
            raise DomainError(str(forms.CONFIRM))
        issuing.decide_application(
            application,
            approve,
            form.reason.data or "",
            current_actor(),
            shown_fen=int(form.total_fen.data) if approve else None,
        )
    return redirect(url_for("vouchers.programme", programme_id=application.programme_id))


# --- agency: settlements and risk flags ---------------------------------------------------


@bp.post("/agency/programmes/<id:programme_id>/settlements")
@requires(OrgKind.AGENCY, owner=True)
def draw_up(programme_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    form = forms.ProviderForm()
    provider_id = form.provider_id.data if form.validate_on_submit() else ""
    try:
        if not str(provider_id).isdigit():
            raise DomainError(_("This action is not possible in the current state."))
        s = settlement.draw_up(p, int(provider_id), current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("vouchers.programme", programme_id=p.id))
    return redirect(url_for("vouchers.settlement_page", settlement_id=s.id))


@bp.get("/settlements/<id:settlement_id>")
@requires(OrgKind.AGENCY, OrgKind.PROVIDER)
def settlement_page(settlement_id: int) -> ResponseReturnValue:
    s = settlement.settlement_for(current_user.org, settlement_id)
    return render(
        "vouchers/settlement.html",
        s=s,
        paid_form=forms.SettlementPaidForm(total_fen=str(s.total_fen)),
        approval_form=forms.ApprovalForm(total_fen=str(s.total_fen)),
        cancel_form=forms.ReasonForm(),
    )


@bp.get("/settlements/<id:settlement_id>.csv")
@requires(OrgKind.AGENCY, OrgKind.PROVIDER)
def settlement_csv(settlement_id: int) -> ResponseReturnValue:
    s = settlement.settlement_for(current_user.org, settlement_id)
    return csv_download(settlement.as_csv(s), f"{s.number}.csv")


@bp.post("/settlements/<id:settlement_id>/<any(approve, pay, cancel):action>")
@requires(OrgKind.AGENCY, owner=True)
def settlement_action(settlement_id: int, action: str) -> ResponseReturnValue:
    s = settlement.settlement_for(current_user.org, settlement_id)
    if s.programme.agency_id != current_user.org_id:
        raise NotFound(_("Not found."))
    with flashed(_("Saved.")):
        if action == "approve":
            approval = forms.ApprovalForm()
            checked(approval)
            total_fen = int(approval.total_fen.data or 0)
            settlement.approve(s, total_fen, approval.note.data or "", current_actor())
        elif action == "cancel":
            reason = forms.ReasonForm()
            checked(reason)
            settlement.cancel(s, reason.reason.data or "", current_actor())
        else:
            form = forms.SettlementPaidForm()
            if not form.validate_on_submit():
                if form.confirmed.errors or form.total_fen.errors:
                    raise DomainError(first_error(form))
                raise DomainError(_("Enter the bank transfer's reference."))
            settlement.mark_paid(
                s, form.reference.data or "", current_actor(), int(form.total_fen.data)
            )
    return redirect(url_for("vouchers.settlement_page", settlement_id=s.id))


@bp.get("/agency/risk-flags")
@requires(OrgKind.AGENCY)
def risk_flags() -> ResponseReturnValue:
    """Each held redemption with its order line, delivery record and evidence beside it."""
    rows = risk.open_flags(current_user.org)
    return render(
        "vouchers/risk_flags.html",
        rows=rows,
        records=risk.line_records(current_user.org, rows),
        proposed=risk.live_clawbacks([f.reservation_id for f in rows]),
        clawbacks=risk.clawbacks_of(current_user.org),
        form=forms.ReasonForm(),
        claims=settlement.recovery_claims_of(current_user.org),
    )


@bp.post("/agency/recovery-claims/<id:claim_id>/recovered")
@requires(OrgKind.AGENCY, owner=True)
def claim_recovered(claim_id: int) -> ResponseReturnValue:
    """The provider repaid voucher money clawed back after it was settled to it."""
    claim = settlement.recovery_claim_for(current_user.org, claim_id)
    form = forms.PaidForm()
    with flashed(_("Saved.")):
        checked(form, _("Enter the bank transfer's reference."))
        settlement.mark_recovered(claim, form.reference.data or "", current_actor())
    return redirect(url_for("vouchers.risk_flags"))


@bp.post("/agency/risk-flags/<id:flag_id>/<any(clear, propose):action>")
@requires(OrgKind.AGENCY, owner=True)
def decide_flag(flag_id: int, action: str) -> ResponseReturnValue:
    """Clear a flag, or uphold it by proposing the claw-back (another official approves)."""
    flag = risk.flag_for(current_user.org, flag_id)
    form = forms.ReasonForm()
    with flashed():
        checked(form)
        if action == "clear":
            risk.clear(flag, form.reason.data or "", current_actor())
            flash(_("Decision recorded."), "success")
        else:
            risk.propose_clawback(flag, form.reason.data or "", current_actor())
            flash(
                _("Claw-back proposed; another official of your agency must approve it."),
                "success",
            )
    return redirect(url_for("vouchers.risk_flags"))


@bp.post("/agency/clawbacks/<id:clawback_id>/<any(approve, reject, withdraw):action>")
@requires(OrgKind.AGENCY, owner=True)
def clawback_action(clawback_id: int, action: str) -> ResponseReturnValue:
    """A proposed claw-back: approved or rejected by a second official, or withdrawn by its
    proposer; each with a note."""
    clawback = risk.clawback_for(current_user.org, clawback_id)
    with flashed():
        if action == "approve":
            approval = forms.ClawBackApprovalForm()
            checked(approval)
            amount_fen = int(approval.amount_fen.data or 0)
            risk.approve_clawback(clawback, amount_fen, approval.note.data or "", current_actor())
            flash(_("Claw-back approved."), "success")
        else:
            form = forms.ReasonForm()
            checked(form)
            decide = risk.reject_clawback if action == "reject" else risk.withdraw_clawback
            decide(clawback, form.reason.data or "", current_actor())
            flash(_("Decision recorded."), "success")
    return redirect(url_for("vouchers.risk_flags"))


# --- enterprises and providers ----------------------------------------------------------


@bp.get("/vouchers")
@requires(OrgKind.ENTERPRISE)
def my_vouchers() -> ResponseReturnValue:
    org = current_user.org
    return render(
        "vouchers/mine.html",
        rows=spending.vouchers_of(org),
        programmes=issuing.open_programmes_for(org),
        applications=issuing.applications_of(org),
        form=forms.ApplyForm(),
    )


@bp.get("/vouchers/<id:voucher_id>")
@requires(OrgKind.ENTERPRISE, OrgKind.AGENCY)
def voucher(voucher_id: int) -> ResponseReturnValue:
    v = spending.voucher_for(current_user.org, voucher_id)
    return render("vouchers/voucher.html", v=v, entries=spending.entries_of(v))


@bp.post("/programmes/<id:programme_id>/apply")
@requires(OrgKind.ENTERPRISE, owner=True, confirmed=True)
def apply(programme_id: int) -> ResponseReturnValue:
    p = db.session.get(VoucherProgramme, programme_id)
    if p is None or p.status is ProgrammeStatus.DRAFT:
        raise NotFound(_("Not found."))
    form = forms.ApplyForm()
    with flashed(_("Application sent. The agency will decide.")):
        checked(form, _("At most 1,000 characters."))
        issuing.apply_for(p, current_user.org, form.note.data or "", current_actor())
    return redirect(url_for("vouchers.my_vouchers"))


@bp.get("/provider/settlements")
@requires(OrgKind.PROVIDER)
def statements() -> ResponseReturnValue:
    money, totals = settlement.money_of(current_user.org)
    return render(
        "vouchers/statements.html",
        money=money,
        totals=totals,
        rows=settlement.statements_for(current_user.org),
        claims=settlement.recovery_claims_against(current_user.org),
    )


# --- package admission (issue 22) -----------------------------------------------------------


ADMISSION_SHOWN = 50


@bp.get("/admissions")
@requires(OrgKind.AGENCY, OrgKind.ASSESSOR)
def admissions() -> ResponseReturnValue:
    """The deciders' queue: versions waiting for admission in the programmes the signed-in
    organisation decides, each beside its programme's criteria, plans and interfaces."""
    org = current_user.org
    chosen = request.args.get("programme", type=int)
    waiting = admission.queue(org, chosen)
    return render(
        "vouchers/admissions.html",
        programmes=admission.deciding_programmes(org),
        chosen=chosen,
        waiting=waiting[:ADMISSION_SHOWN],
        total=len(waiting),
        form=forms.AdmissionDecisionForm(),
    )


@bp.post("/admissions/<id:programme_id>/<id:version_id>")
@requires(OrgKind.AGENCY, OrgKind.ASSESSOR, owner=True)
def decide_admission(programme_id: int, version_id: int) -> ResponseReturnValue:
    org = current_user.org
    item = admission.waiting_for(org, programme_id, version_id)
    form = forms.AdmissionDecisionForm()
    with flashed(_("Decision recorded.")):
        checked(form)
        admission.decide(
            item.programme,
            item.version,
            form.decision.data == "admit",
            form.reason.data or "",
            org,
            current_actor(),
        )
    return redirect(url_for("vouchers.admissions", programme=programme_id))


def _admission_rules_form(p: VoucherProgramme) -> forms.AdmissionRulesForm:
    form = forms.AdmissionRulesForm()
    form.assessor_id.choices = [("", _("No one: the agency's officials decide"))] + [
        (str(o.id), o.name) for o in admission.assessors()
    ]
    if not form.is_submitted():
        form.criteria.data = p.admission_criteria
        form.assessor_id.data = str(p.admission_assessor_id or "")
    return form


@bp.post("/agency/programmes/<id:programme_id>/admission")
@requires(OrgKind.AGENCY, owner=True)
def admission_rules(programme_id: int) -> ResponseReturnValue:
    p = _programme(programme_id)
    form = _admission_rules_form(p)
    with flashed(_("Saved.")):
        checked(form)
        assessor = form.assessor_id.data or ""
        admission.set_rules(
            p,
            form.criteria.data or "",
            int(assessor) if assessor.isdigit() else None,
            current_actor(),
        )
    return redirect(url_for("vouchers.programme", programme_id=p.id) + "#admission")
