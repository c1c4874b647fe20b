"""Officials verify enterprises' changes of industry, region, headcount and revenue (issue 16): agencies
for the enterprises in their jurisdiction, the platform for those no agency covers."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.accounts import forms, profile_changes
from marketplace.accounts.models import OrgKind
from marketplace.errors import DomainError
from marketplace.rendering import render
from marketplace.security import current_actor, requires

bp = Blueprint("verification", __name__, url_prefix="/verification")


def value_names() -> dict[str, dict[str, str]]:
    return profile_changes.value_names(str(get_locale()))


@bp.get("/profile-changes")
@requires(OrgKind.AGENCY, OrgKind.PLATFORM)
def queue() -> ResponseReturnValue:
    return render(
        "accounts/verification_queue.html",
        changes=profile_changes.queue(current_user.org),
        form=forms.DecisionForm(),
        value_names=value_names(),
    )


@bp.post("/profile-changes/<int:change_id>")
@requires(OrgKind.AGENCY, OrgKind.PLATFORM)
def decide(change_id: int) -> ResponseReturnValue:
    change = profile_changes.decidable(current_user.org, change_id)
    form = forms.DecisionForm()
    if not form.validate_on_submit():
        flash(_("Choose approve or reject."), "error")
        return redirect(url_for(".queue"))
    try:
        profile_changes.decide(
            change, form.decision.data == "approve", form.note.data or "", current_actor()
        )
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for(".queue"))
    flash(_("The decision has been recorded."), "success")
    return redirect(url_for(".queue"))


@bp.get("/enterprises/<int:org_id>/profile-changes")
@requires(OrgKind.AGENCY, OrgKind.PLATFORM)
def history(org_id: int) -> ResponseReturnValue:
    org = profile_changes.enterprise_for(current_user.org, org_id)
    return render(
        "accounts/verification_history.html",
        org=org,
        changes=profile_changes.history_of(org),
        value_names=value_names(),
    )
