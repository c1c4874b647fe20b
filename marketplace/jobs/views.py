"""The platform admin's view of the job queue: failed and retried tasks, and sending one again."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from marketplace import jobs
from marketplace.accounts.models import OrgKind
from marketplace.db import db
from marketplace.errors import DomainError, NotFound
from marketplace.jobs.models import JobRecord
from marketplace.rendering import render
from marketplace.security import current_actor, requires

bp = Blueprint("jobs", __name__, url_prefix="/platform/jobs")


@bp.get("")
@requires(OrgKind.PLATFORM)
def index() -> ResponseReturnValue:
    return render("jobs/index.html", rows=jobs.problems())


@bp.post("/<id:record_id>/resubmit")
@requires(OrgKind.PLATFORM)
def resubmit(record_id: int) -> ResponseReturnValue:
    record = db.session.get(JobRecord, record_id)
    if record is None:
        raise NotFound(_("Not found."))
    try:
        jobs.resubmit(record, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The job was sent again."), "success")
    return redirect(url_for("jobs.index"))
