"""Advisors (数字化顾问, issue 21): an enterprise asks an advisor admitted to its agency's
pool for an on-site diagnosis; the advisor accepts or declines, records findings that become
part of the diagnosis report (the agency sees them when it is shared), and the enterprise
rates the advisor once. Bad input is refused with a clear error and nothing is stored."""

from datetime import timedelta

from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.db import local_today
from marketplace.diagnosis import sharing
from marketplace.diagnosis.models import (
    AdvisorVisit,
    VisitEvent,
    VisitFinding,
    VisitStatus,
    VisitStatusChange,
)
from marketplace.notifications import Notification
from marketplace.pool.models import PoolStatus
from marketplace.security import Actor
from tests.functional.advisor_helpers import (
    advisor_membership,
    advisor_with_owner,
    enterprise_with_diagnosis,
    region_agency,
    requested_visit,
)
from tests.functional.catalog_helpers import agency_with_official, services

FINDINGS = {
    "finding_equipment": "注塑机 12 台中仅 3 台联网，数据靠人工抄表。",
    "adjust_equipment": "-5",
    "priority_equipment": "high",
    "finding_quality": "首件检验记录为纸质，无法追溯到批次。",
    "adjust_quality": "",
    "priority_quality": "medium",
    "recommendations": "先做设备联网与生产可视化（小快轻准），再上质量追溯。",
}


def day(offset):
    return (local_today() + timedelta(days=offset)).isoformat()


def count(dbs, model):
    return dbs.scalar(select(func.count()).select_from(model))


def setup_pool(dbs):
    agency, _official = region_agency("official@adv.cn")
    advisor, _owner = advisor_with_owner("advisor@adv.cn")
    m = advisor_membership(dbs, advisor, agency)
    return agency, advisor, m


def test_enterprise_asks_an_admitted_advisor_who_accepts_records_findings_and_is_rated(
    app, client, dbs
):
    agency, advisor, m = setup_pool(dbs)
    enterprise, _user, d = enterprise_with_diagnosis(app, dbs, "boss@adv.cn")

    client.login("boss@adv.cn")
    assert "/visits/new" in client.text(f"/diagnosis/{d.id}")
    page = client.text(f"/diagnosis/{d.id}/visits/new")
    assert advisor.name in page and agency.name in page
    response = client.form(
        f"/diagnosis/{d.id}/visits/new",
        {"membership_id": str(m.id), "preferred_date": day(5), "note": "看注塑车间。"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    visit = dbs.scalar(select(AdvisorVisit))
    assert (visit.status, visit.advisor_id, visit.agency_id) == (
        VisitStatus.REQUESTED,
        advisor.id,
        agency.id,
    )
    told = dbs.scalar(select(Notification).where(Notification.org_id == advisor.id))
    assert told.kind == "visit_requested" and told.link == f"/advisor/visits/{visit.id}"
    client.form("/logout")

    client.login("advisor@adv.cn")
    assert f"/advisor/visits/{visit.id}" in client.text("/dashboard")  # a to-do
    assert enterprise.name in client.text("/advisor/visits")
    assert (
        client.form(f"/advisor/visits/{visit.id}/decision", {"decision": "accept"}).status_code
        == 302
    )
    dbs.expire_all()
    assert dbs.get(AdvisorVisit, visit.id).status is VisitStatus.ACCEPTED
    assert client.form(f"/advisor/visits/{visit.id}/findings", FINDINGS).status_code == 302
    client.form("/logout")

    dbs.expire_all()
    visit = dbs.get(AdvisorVisit, visit.id)
    assert visit.status is VisitStatus.VISITED and visit.visited_at is not None
    found = {f.dimension: f for f in visit.findings}
    assert set(found) == {"equipment", "quality"}
    assert found["equipment"].score_adjustment == -5
    assert found["quality"].score_adjustment is None
    kinds = set(dbs.scalars(select(Notification.kind).where(Notification.org_id == enterprise.id)))
    assert {"visit_accepted", "visit_findings"} <= kinds
    events = list(
        dbs.scalars(
            select(VisitStatusChange.event)
            .where(VisitStatusChange.visit_id == visit.id)
            .order_by(VisitStatusChange.id)
        )
    )
    assert events == [VisitEvent.REQUEST, VisitEvent.ACCEPT, VisitEvent.RECORD_FINDINGS]

    # the findings are a section of the report (and of its print view: the same page)
    client.login("boss@adv.cn")
    report = client.text(f"/diagnosis/{d.id}/report")
    assert 'id="advisor-findings"' in report
    assert "仅 3 台联网" in report and "先做设备联网" in report and "-5" in report
    assert f"/diagnosis/visits/{visit.id}" in client.text("/dashboard")  # rate the advisor
    response = client.form(
        f"/diagnosis/visits/{visit.id}/rating", {"rating": "4", "comment": "专业、细致。"}
    )
    assert response.status_code == 302
    dbs.expire_all()
    visit = dbs.get(AdvisorVisit, visit.id)
    assert (visit.status, visit.rating) == (VisitStatus.CLOSED, 4)

    # the rating shows where enterprises choose and on the agency's pool page
    assert "4.0" in client.text(f"/diagnosis/{d.id}/visits/new")
    with services(app, dbs):
        sharing.share(d, agency.id, Actor(_user.id, enterprise.id, None))
    client.form("/logout")
    client.login("official@adv.cn")
    pool_page = client.text("/agency/advisors")
    assert advisor.name in pool_page and "4.0" in pool_page
    shared = client.text(f"/agency/diagnosis-reports/{d.id}")
    assert 'id="advisor-findings"' in shared and "仅 3 台联网" in shared
    actions = set(
        dbs.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "advisor_visit"))
    )
    assert actions == {"visit.request", "visit.accept", "visit.record_findings", "visit.rate"}


def test_a_request_to_an_advisor_not_admitted_is_refused_and_nothing_is_stored(app, client, dbs):
    agency, _advisor, m = setup_pool(dbs)
    applied, _ = advisor_with_owner("applied@adv.cn")
    waiting = advisor_membership(dbs, applied, agency, PoolStatus.APPLIED)
    suspended, _ = advisor_with_owner("suspended@adv.cn")
    held = advisor_membership(dbs, suspended, agency, PoolStatus.SUSPENDED)
    elsewhere_agency, _ = agency_with_official("far@adv.cn")  # not the enterprise's agency
    far, _ = advisor_with_owner("far-advisor@adv.cn")
    far_m = advisor_membership(dbs, far, elsewhere_agency)
    _enterprise, _user, d = enterprise_with_diagnosis(app, dbs, "boss@adv.cn")

    client.login("boss@adv.cn")
    page = client.text(f"/diagnosis/{d.id}/visits/new")
    assert applied.name not in page and suspended.name not in page and far.name not in page
    for bad in (waiting, held, far_m):
        response = client.form(
            f"/diagnosis/{d.id}/visits/new",
            {"membership_id": str(bad.id), "preferred_date": day(3)},
        )
        assert response.status_code == 422
        assert "资源池" in response.get_data(as_text=True)
    assert (
        client.form(f"/diagnosis/{d.id}/visits/new", {"preferred_date": day(3)}).status_code == 422
    )  # no advisor chosen
    past = client.form(
        f"/diagnosis/{d.id}/visits/new",
        {"membership_id": str(m.id), "preferred_date": day(-1)},
    )
    assert past.status_code == 422
    assert "日期已过" in past.get_data(as_text=True)
    assert count(dbs, AdvisorVisit) == 0 and count(dbs, VisitStatusChange) == 0


def test_another_enterprises_diagnosis_and_visit_are_not_found(app, client, dbs):
    _agency, _advisor, m = setup_pool(dbs)
    _e, user, d = enterprise_with_diagnosis(app, dbs, "boss@adv.cn")
    visit = requested_visit(app, dbs, d, m, user)
    enterprise_with_diagnosis(app, dbs, "other@adv.cn")
    client.login("other@adv.cn")
    assert client.get(f"/diagnosis/{d.id}/visits/new").status_code == 404
    assert client.get(f"/diagnosis/visits/{visit.id}").status_code == 404
    assert client.form(f"/diagnosis/visits/{visit.id}/rating", {"rating": "5"}).status_code == 404


def test_findings_by_another_advisor_are_refused_and_nothing_is_stored(app, client, dbs):
    agency, _advisor, m = setup_pool(dbs)
    _e, user, d = enterprise_with_diagnosis(app, dbs, "boss@adv.cn")
    visit = requested_visit(app, dbs, d, m, user)
    other, _ = advisor_with_owner("other-advisor@adv.cn")
    advisor_membership(dbs, other, agency)

    client.login("other-advisor@adv.cn")
    assert client.get(f"/advisor/visits/{visit.id}").status_code == 404
    assert (
        client.form(f"/advisor/visits/{visit.id}/decision", {"decision": "accept"}).status_code
        == 404
    )
    assert client.form(f"/advisor/visits/{visit.id}/findings", FINDINGS).status_code == 404
    client.form("/logout")
    dbs.expire_all()
    assert dbs.get(AdvisorVisit, visit.id).status is VisitStatus.REQUESTED
    assert count(dbs, VisitFinding) == 0

    # the visit's own advisor cannot record findings before accepting, nor record none
    client.login("advisor@adv.cn")
    early = client.form(f"/advisor/visits/{visit.id}/findings", FINDINGS)
    assert early.status_code == 422
    client.form(f"/advisor/visits/{visit.id}/decision", {"decision": "accept"})
    empty = client.form(f"/advisor/visits/{visit.id}/findings", {"recommendations": "多联网"})
    assert empty.status_code == 422 and "至少" in empty.get_data(as_text=True)
    orphan = client.form(
        f"/advisor/visits/{visit.id}/findings", {"adjust_data": "10", "finding_quality": "好"}
    )
    assert orphan.status_code == 422
    too_far = client.form(
        f"/advisor/visits/{visit.id}/findings", {"finding_data": "数据孤岛", "adjust_data": "80"}
    )
    assert too_far.status_code == 422
    dbs.expire_all()
    assert count(dbs, VisitFinding) == 0
    assert dbs.get(AdvisorVisit, visit.id).status is VisitStatus.ACCEPTED


def test_decline_needs_a_reason_which_the_enterprise_sees(app, client, dbs):
    _agency, _advisor, m = setup_pool(dbs)
    enterprise, user, d = enterprise_with_diagnosis(app, dbs, "boss@adv.cn")
    visit = requested_visit(app, dbs, d, m, user)
    client.login("advisor@adv.cn")
    no_reason = client.form(f"/advisor/visits/{visit.id}/decision", {"decision": "decline"})
    assert no_reason.status_code == 422 and "理由" in no_reason.get_data(as_text=True)
    dbs.expire_all()
    assert dbs.get(AdvisorVisit, visit.id).status is VisitStatus.REQUESTED
    client.form(
        f"/advisor/visits/{visit.id}/decision",
        {"decision": "decline", "reason": "该日期已有安排，请另约。"},
    )
    client.form("/logout")
    dbs.expire_all()
    assert dbs.get(AdvisorVisit, visit.id).status is VisitStatus.DECLINED
    assert (
        dbs.scalar(select(Notification.kind).where(Notification.org_id == enterprise.id))
        == "visit_declined"
    )
    client.login("boss@adv.cn")
    assert "该日期已有安排" in client.text(f"/diagnosis/visits/{visit.id}")
    # a declined request is not rated
    assert client.form(f"/diagnosis/visits/{visit.id}/rating", {"rating": "1"}).status_code == 422


def test_a_suspended_advisor_cannot_take_the_request(app, client, dbs):
    _agency, _advisor, m = setup_pool(dbs)
    _e, user, d = enterprise_with_diagnosis(app, dbs, "boss@adv.cn")
    visit = requested_visit(app, dbs, d, m, user)
    m.status = PoolStatus.SUSPENDED
    dbs.commit()
    client.login("advisor@adv.cn")
    response = client.form(f"/advisor/visits/{visit.id}/decision", {"decision": "accept"})
    assert response.status_code == 422
    dbs.expire_all()
    assert dbs.get(AdvisorVisit, visit.id).status is VisitStatus.REQUESTED


def test_the_advisor_is_rated_once(app, client, dbs):
    _agency, _advisor, m = setup_pool(dbs)
    _e, user, d = enterprise_with_diagnosis(app, dbs, "boss@adv.cn")
    visit = requested_visit(app, dbs, d, m, user)
    client.login("advisor@adv.cn")
    client.form(f"/advisor/visits/{visit.id}/decision", {"decision": "accept"})
    client.form(f"/advisor/visits/{visit.id}/findings", FINDINGS)
    client.form("/logout")
    client.login("boss@adv.cn")
    assert client.form(f"/diagnosis/visits/{visit.id}/rating", {"rating": "6"}).status_code == 422
    assert client.form(f"/diagnosis/visits/{visit.id}/rating", {"rating": "5"}).status_code == 302
    again = client.form(f"/diagnosis/visits/{visit.id}/rating", {"rating": "1"})
    assert again.status_code == 422 and "已评价" in again.get_data(as_text=True)
    dbs.expire_all()
    assert dbs.get(AdvisorVisit, visit.id).rating == 5
    assert (
        dbs.scalar(
            select(func.count())
            .select_from(VisitStatusChange)
            .where(VisitStatusChange.event == VisitEvent.RATE)
        )
        == 1
    )


def test_the_advisor_choice_page_costs_the_same_however_many_advisors(
    app, client, dbs, count_queries
):
    agency, _advisor, _m = setup_pool(dbs)
    _e, _user, d = enterprise_with_diagnosis(app, dbs, "boss@adv.cn")
    client.login("boss@adv.cn")
    pages = [f"/diagnosis/{d.id}/visits/new"]

    def cost():
        out = {}
        for page in pages:
            client.get(page)
            count_queries.count = 0
            assert client.get(page).status_code == 200
            out[page] = count_queries.count
        return out

    small = cost()
    for n in range(4):
        advisor, _ = advisor_with_owner(f"more{n}@adv.cn")
        advisor_membership(dbs, advisor, agency)
    assert cost() == small
    client.form("/logout")
    client.login("official@adv.cn")
    pages = ["/agency/advisors"]
    few = cost()
    for n in range(4):
        advisor, _ = advisor_with_owner(f"yet{n}@adv.cn")
        advisor_membership(dbs, advisor, agency, PoolStatus.APPLIED)
    assert cost() == few
