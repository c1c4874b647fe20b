"""Each role's to-do list: what every domain says waits for this organisation and person,
in one order (``todos.ordered``: overdue first, then by deadline, then the oldest).

This module sits above every domain, like the dashboards it serves: it knows which domains
have something for which kind of organisation, and the settings that give their deadlines.
Each source costs a fixed number of queries, however many items it finds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from marketplace import jobs
from marketplace.accounts import todos as accounts
from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.diagnosis import todos as diagnosis
from marketplace.jobs.models import JobState
from marketplace.orders import todos as orders
from marketplace.outcomes import todos as outcomes
from marketplace.oversight import todos as oversight
from marketplace.payments import todos as payments
from marketplace.pool import todos as pool
from marketplace.todos import Todo, ordered
from marketplace.vouchers import todos as vouchers


def _failed_jobs() -> list[Todo]:
    return [
        Todo(
            "job_failed",
            _l("Look into the failed background job"),
            r.name,
            "/admin/jobs",
            r.updated_at,
        )
        for r in jobs.problems()
        if r.state is JobState.FAILED
    ]


def todo_list(org: Organisation, user: User, config: Mapping[str, Any]) -> list[Todo]:
    """What waits for ``user`` of ``org``, in order. ``config``: the app's settings (the
    auto-accept and measurement-confirmation periods, the voucher reminder window)."""
    found: list[Todo] = []
    if org.kind is OrgKind.ENTERPRISE:
        found += orders.for_enterprise(org, config["AUTO_ACCEPT_DAYS"])
        found += orders.needs_for_enterprise(org)
        found += orders.trials_for_enterprise(org)
        found += outcomes.for_enterprise(org, config["MEASUREMENT_CONFIRM_DAYS"])
        found += payments.for_enterprise(org)
        found += oversight.for_enterprise(org)
        found += vouchers.for_enterprise(org, config["VOUCHER_EXPIRY_REMINDER_DAYS"])
        found += diagnosis.for_enterprise(org)
    elif org.kind is OrgKind.PROVIDER:
        found += orders.for_provider(org)
        found += orders.needs_for_provider(org)
        found += outcomes.for_provider(org)
        found += vouchers.for_provider(org)
    elif org.kind is OrgKind.AGENCY:
        found += vouchers.for_official(org, user)
        found += vouchers.for_admission_decider(org)
        found += accounts.for_reviewer(org)
        found += pool.for_agency(org)
        found += diagnosis.for_agency(org)
        found += oversight.for_agency(org)
        found += orders.for_decider(org)
    elif org.kind is OrgKind.ASSESSOR:
        found += outcomes.for_assessor(org)
        found += oversight.for_assessor(org)
        found += vouchers.for_admission_decider(org)
    elif org.kind is OrgKind.ADVISOR:
        found += diagnosis.for_advisor(org)
    elif org.kind is OrgKind.PLATFORM:
        found += _failed_jobs()
        found += accounts.for_reviewer(org)
        found += payments.for_platform(user)
        found += orders.for_decider(org)
    return ordered(found)
