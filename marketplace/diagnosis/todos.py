"""What waits around on-site diagnoses: requests to answer and findings to record (the
advisor), advisors to rate (the enterprise), advisors' applications (the agency)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from marketplace.accounts.models import Organisation
from marketplace.diagnosis import visits
from marketplace.diagnosis.models import VisitStatus
from marketplace.pool import advisors as advisor_pool
from marketplace.pool.models import PoolStatus
from marketplace.todos import Todo


def for_advisor(advisor: Organisation) -> list[Todo]:
    found = [
        Todo(
            "visit_requested",
            _l("Accept or decline the on-site diagnosis request"),
            v.enterprise.name,
            f"/advisor/visits/{v.id}",
            v.created_at,
            v.preferred_date,
        )
        for v in visits.visits_of_advisor(advisor, VisitStatus.REQUESTED)
    ]
    found += [
        Todo(
            "visit_findings_due",
            _l("Visit the enterprise and record the findings"),
            v.enterprise.name,
            f"/advisor/visits/{v.id}",
            v.updated_at,
            v.preferred_date,
        )
        for v in visits.visits_of_advisor(advisor, VisitStatus.ACCEPTED)
    ]
    return found


def for_enterprise(enterprise: Organisation) -> list[Todo]:
    return [
        Todo(
            "visit_to_rate",
            _l("Rate the advisor of the on-site diagnosis"),
            v.advisor.name,
            f"/diagnosis/visits/{v.id}",
            v.updated_at,
        )
        for v in visits.visits_of_enterprise(enterprise, VisitStatus.VISITED)
    ]


def for_agency(agency: Organisation) -> list[Todo]:
    return [
        Todo(
            "advisor_application",
            _l("Decide the advisor's application to the resource pool"),
            m.advisor.name,
            f"/agency/advisors/{m.id}",
            m.applied_at,
        )
        for m in advisor_pool.queue(agency, PoolStatus.APPLIED)
    ]
