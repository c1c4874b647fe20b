"""Trials: the enterprise starts one from the package page and sees its trials; the provider
sees its packages' trials and conversions (services in ``orders.trials``)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts.models import OrgKind
from marketplace.forms import checked, flashed
from marketplace.orders import forms, trials
from marketplace.orders.models import TrialStatus
from marketplace.rendering import render
from marketplace.security import current_actor, requires

bp = Blueprint("trials", __name__)


@bp.post("/packages/<id:package_id>/trial")
@requires(OrgKind.ENTERPRISE, owner=True, confirmed=True)
def start(package_id: int) -> ResponseReturnValue:
    """Start a trial of the package on its offer; the terms must be confirmed."""
    back = url_for("catalog.package", package_id=package_id)
    form = forms.StartTrialForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            flash(_("This form has expired. Reload the page and try again."), "error")
        else:
            flash(_("Confirm the trial's terms to start it."), "error")
        return redirect(back + "#trial")
    with flashed():
        trial = trials.start(current_user.org, package_id, current_actor())
        if trial.price_fen:
            flash(
                _(
                    "Your trial has started. Its price is billed as a small order: the provider"
                    " sets it up and you accept it (验收) as for any order."
                ),
                "success",
            )
        else:
            flash(_("Your free trial has started."), "success")
        return redirect(url_for("trials.mine"))
    return redirect(back + "#trial")  # refused: the reason is flashed


@bp.get("/trials")
@requires(OrgKind.ENTERPRISE)
def mine() -> ResponseReturnValue:
    """The enterprise's trials: status, days left, limits, and ordering the package."""
    rows = trials.trials_of(current_user.org)
    return render(
        "orders/trials.html",
        rows=rows,
        days_left={t.id: trials.days_left(t) for t in rows},
        TrialStatus=TrialStatus,
        end_form=forms.EndTrialForm(formdata=None),
    )


@bp.post("/trials/<id:trial_id>/end")
@requires(OrgKind.ENTERPRISE)
def end(trial_id: int) -> ResponseReturnValue:
    """The enterprise ends its trial early."""
    with flashed(_("Your trial has ended.")):
        checked(forms.EndTrialForm(), _("This form has expired. Reload the page and try again."))
        trials.cancel(current_user.org, trial_id, current_actor())
    return redirect(url_for("trials.mine"))


@bp.get("/provider/trials")
@requires(OrgKind.PROVIDER)
def conversions() -> ResponseReturnValue:
    """The provider's trials and conversions per package, and the live trials."""
    org = current_user.org
    return render(
        "orders/trial_conversions.html",
        rows=trials.conversions(org),
        live=trials.live_trials(org),
    )
