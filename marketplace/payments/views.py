"""Invoices: what enterprises owe and paid, what providers billed and received."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import Blueprint, current_app, flash, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from marketplace.accounts.models import OrgKind
from marketplace.db import db
from marketplace.errors import DomainError, NotFound, TryAgainLater
from marketplace.extensions import csrf
from marketplace.forms import attach_error, first_error
from marketplace.payments import forms
from marketplace.payments import payouts as payout_service
from marketplace.payments import services as payments
from marketplace.payments.gateways import gateway
from marketplace.payments.models import Invoice, Refund
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, public, requires

bp = Blueprint("payments", __name__)


@bp.get("/invoices")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def invoices() -> ResponseReturnValue:
    rows = payments.invoices_for(current_user.org)
    return render(
        "payments/invoices.html",
        rows=rows,
        open_fen=sum(i.due_fen for i in rows),
        # what was paid and not given back
        paid_fen=sum(p.amount_fen - p.refunded_fen for i in rows for p in i.payments),
    )


def _page(
    invoice_id: int, status: int = 200, form: forms.TransferForm | None = None
) -> ResponseReturnValue:
    invoice = payments.invoice_for(current_user.org, invoice_id)
    return render(
        "payments/invoice.html",
        i=invoice,
        how=gateway().instructions(invoice),
        form=form or forms.TransferForm(),
        void_form=forms.VoidForm(),
        status=status,
    )


@bp.get("/invoices/<id:invoice_id>")
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER)
def invoice(invoice_id: int) -> ResponseReturnValue:
    return _page(invoice_id)


def _providers(invoice_id: int) -> Invoice:
    invoice = payments.invoice_for(current_user.org, invoice_id)
    if invoice.provider_id != current_user.org_id:
        raise NotFound(_("Not found."))
    return invoice


@bp.post("/invoices/<id:invoice_id>/payments")
@requires(OrgKind.PROVIDER, owner=True)
def record(invoice_id: int) -> ResponseReturnValue:
    invoice = _providers(invoice_id)
    form = forms.TransferForm()
    if form.validate_on_submit():
        received = datetime.combine(form.received_on.data, time(12), tzinfo=UTC)
        try:
            payments.record_transfer(
                invoice, form.amount.data or 0, form.reference.data, received, current_actor()
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Payment recorded."), "success")
            return redirect(url_for("payments.invoice", invoice_id=invoice.id))
    return _page(invoice_id, INVALID, form)


@bp.post("/invoices/<id:invoice_id>/pay")
@requires(OrgKind.ENTERPRISE, owner=True)
def pay(invoice_id: int) -> ResponseReturnValue:
    """Online payment, where the gateway takes it (Stripe Checkout)."""
    invoice = payments.invoice_for(current_user.org, invoice_id)
    if invoice.enterprise_id != current_user.org_id:
        raise NotFound(_("Not found."))
    back = url_for("payments.invoice", invoice_id=invoice.id, _external=True)
    try:
        url = gateway().checkout(invoice, back + "?paid=1", back, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(back)
    return redirect(url, code=303)


@bp.post("/payments/stripe/webhook")
@public
@csrf.exempt
def stripe_webhook() -> ResponseReturnValue:
    """Stripe's events; the only route without CSRF (Stripe signs its requests instead)."""
    try:
        event = gateway().verify(
            request.get_data(cache=False), request.headers.get("Stripe-Signature")
        )
    except ValueError:
        return jsonify(error="bad signature"), 400
    try:
        outcome = gateway().handle(event)
    except TryAgainLater as later:
        current_app.logger.warning("Stripe event %s: %s; asked to send it again", event.id, later)
        return jsonify(received=False, retry=True), 503  # rolled back; Stripe sends it again
    return jsonify(received=True, outcome=outcome)


@bp.get("/payouts")
@requires(OrgKind.PROVIDER)
def statement() -> ResponseReturnValue:
    org = current_user.org
    return render(
        "payments/statement.html",
        balance=payout_service.balance_of(org.id),
        payouts=payout_service.payouts_of(org.id),
    )


@bp.route("/platform/payouts", methods=["GET", "POST"])
@requires(OrgKind.PLATFORM, owner=True)
def payouts() -> ResponseReturnValue:
    """What the platform owes each provider, a proposal form per provider, and the payouts
    with who proposed, approved, paid or cancelled them (four eyes)."""
    form = forms.ProposalForm()
    if form.validate_on_submit():
        try:
            payout_service.propose(
                int(form.provider_id.data),
                form.amount.data or 0,
                form.note.data or "",
                current_actor(),
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            flash(_("Payout proposed; another administrator must approve it."), "success")
            return redirect(url_for("payments.payouts"))
    status = INVALID if form.is_submitted() else 200
    return render(
        "payments/payouts.html",
        rows=payout_service.balances(),
        payouts=payout_service.all_payouts(),
        form=form,
        approval_form=forms.PayoutApprovalForm(),
        paid_form=forms.PayoutPaidForm(),
        cancel_form=forms.PayoutCancelForm(),
        status=status,
    )


@bp.post("/platform/payouts/<id:payout_id>/<any(approve, pay, cancel):action>")
@requires(OrgKind.PLATFORM, owner=True)
def payout_action(payout_id: int, action: str) -> ResponseReturnValue:
    payout = payout_service.payout_for(payout_id)
    form: FlaskForm
    try:
        if action == "approve":
            form = forms.PayoutApprovalForm()
            if not form.validate_on_submit():
                raise DomainError(first_error(form))
            shown = int(form.amount_fen.data or 0)
            payout_service.approve(payout, shown, form.note.data or "", current_actor())
        elif action == "cancel":
            form = forms.PayoutCancelForm()
            if not form.validate_on_submit():
                raise DomainError(first_error(form))
            payout_service.cancel(payout, form.reason.data or "", current_actor())
        else:
            form = forms.PayoutPaidForm()
            if not form.validate_on_submit():
                raise DomainError(first_error(form))
            payout_service.mark_paid(payout, form.reference.data or "", current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Saved."), "success")
    return redirect(url_for("payments.payouts", _anchor=f"payout-{payout.id}"))


@bp.post("/refunds/<id:refund_id>")
@requires(OrgKind.PROVIDER, owner=True)
def record_refund(refund_id: int) -> ResponseReturnValue:
    found = db.session.get(Refund, refund_id)
    if found is None:
        raise NotFound(_("Not found."))
    invoice = _providers(found.payment.invoice_id)
    form = forms.VoidForm()  # only its CSRF token is needed
    try:
        if not form.validate_on_submit():
            raise DomainError(_("This action is not possible in the current state."))
        payments.record_refund(found, request.form.get("reference", ""), current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Refund recorded."), "success")
    return redirect(url_for("payments.invoice", invoice_id=invoice.id))


@bp.post("/invoices/<id:invoice_id>/reissue")
@requires(OrgKind.PROVIDER, owner=True)
def reissue(invoice_id: int) -> ResponseReturnValue:
    invoice = _providers(invoice_id)
    form = forms.ReissueForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("Enter an amount in yuan with at most two decimals."))
        replacement = payments.reissue(invoice, form.amount.data or 0, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("payments.invoice", invoice_id=invoice.id))
    flash(_("Corrected invoice %(number)s issued.", number=replacement.number), "success")
    return redirect(url_for("payments.invoice", invoice_id=replacement.id))


@bp.post("/invoices/<id:invoice_id>/void")
@requires(OrgKind.PROVIDER, owner=True)
def void(invoice_id: int) -> ResponseReturnValue:
    invoice = _providers(invoice_id)
    form = forms.VoidForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("This action is not possible in the current state."))
        payments.void(invoice, form.reason.data or "", current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Invoice voided."), "success")
    return redirect(url_for("payments.invoice", invoice_id=invoice.id))
