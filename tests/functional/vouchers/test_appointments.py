"""Integrator appointments in the open (issue 22): how each was chosen, its term and fee cap,
on the programme page, /transparency and the API; appointing and ending audited; bad input
refused with nothing stored; an expired term stops counting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.db import local_today
from marketplace.errors import DomainError
from marketplace.vouchers import appointments
from marketplace.vouchers.models import Applicant, Appointment, ProgrammeMode
from tests.functional.catalog_helpers import membership, provider_with_owner, services
from tests.functional.voucher_helpers import pilot, selection


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="ap")


@pytest.fixture
def integrators(dbs, p):
    first, _o1 = provider_with_owner("i1@ap.cn", integrator=True)
    second, _o2 = provider_with_owner("i2@ap.cn", integrator=True)
    membership(dbs, first, p.agency)
    membership(dbs, second, p.agency)
    return first, second


def _count(dbs, model) -> int:
    return dbs.scalar(select(func.count()).select_from(model))


def test_an_appointment_records_how_it_was_chosen(app, dbs, p, integrators):
    first, second = integrators
    programme = p.programme(open_it=False, mode=ProgrammeMode.INTEGRATOR)
    with services(app, dbs):
        appointments.appoint(
            programme,
            selection(programme, first.id, applicants=[(first.id, 91), (second.id, 84)]),
            p.official_actor,
        )
    a = dbs.scalar(select(Appointment))
    assert a.reason == "综合得分第一，本地实施案例最多"
    assert a.call_reference == "GXJ-2026-01" and a.integration_fee_cap_bp == 800
    assert [(x.provider_id, x.score) for x in a.applicants] == [(first.id, 91), (second.id, 84)]
    dbs.refresh(programme)
    assert programme.integrators == [first]
    entry = dbs.scalar(
        select(AuditEntry).where(AuditEntry.action == "programme.integrator_appointed")
    )
    assert entry is not None and str(entry.object_id) == str(programme.id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "   "}, "reason"),
        ({"term_end": local_today() - timedelta(days=400)}, "term_end"),
        ({"integration_fee_cap_bp": 10_001}, "integration_fee_cap"),
        ({"applicants": [(0, 50)]}, "applicants"),
    ],
)
def test_bad_appointments_are_refused_and_nothing_is_stored(
    app, dbs, p, integrators, changes, field
):
    first, _second = integrators
    programme = p.programme(open_it=False, mode=ProgrammeMode.INTEGRATOR)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        appointments.appoint(programme, selection(programme, first.id, **changes), p.official_actor)
    assert refused.value.field == field
    assert _count(dbs, Appointment) == 0 and _count(dbs, Applicant) == 0
    assert (
        dbs.scalar(select(func.count()).where(AuditEntry.action.like("programme.integrator%"))) == 0
    )


def test_the_database_holds_the_reason_and_the_term_order(app, dbs, p, integrators):
    from sqlalchemy.exc import IntegrityError

    first, _second = integrators
    programme = p.programme(open_it=False, mode=ProgrammeMode.INTEGRATOR)
    today = local_today()
    for reason, start, end in (("", today, today), ("理由", today, today - timedelta(days=1))):
        with pytest.raises(IntegrityError), dbs.begin_nested():
            dbs.add(
                Appointment(
                    programme_id=programme.id,
                    integrator_id=first.id,
                    reason=reason,
                    term_start=start,
                    term_end=end,
                    integration_fee_cap_bp=800,
                )
            )
            dbs.flush()


def test_an_expired_or_ended_appointment_stops_counting(app, dbs, p, integrators):
    first, second = integrators
    programme = p.programme(integrators=[first], mode=ProgrammeMode.INTEGRATOR)
    today = local_today()
    with services(app, dbs):
        appointments.appoint(
            programme,
            selection(
                programme,
                second.id,
                term_start=today - timedelta(days=30),
                term_end=today - timedelta(days=1),
            ),
            p.official_actor,
        )
    dbs.refresh(programme)
    assert programme.integrators == [first]  # the second's term is over
    a = next(x for x in programme.appointments if x.integrator_id == first.id)
    with services(app, dbs), pytest.raises(DomainError):
        appointments.end(a, "  ", p.official_actor)
    with services(app, dbs):
        appointments.end(a, "合同期内服务质量考核不合格", p.official_actor)
    dbs.refresh(programme)
    assert programme.integrators == []
    assert (
        dbs.scalar(select(func.count()).where(AuditEntry.action == "programme.appointment_ended"))
        == 1
    )


def test_official_appoints_on_the_web_and_the_public_sees_it(client, app, dbs, p, integrators):
    first, second = integrators
    programme = p.programme(open_it=False, mode=ProgrammeMode.HYBRID)
    client.login("official@ap.cn")
    url = f"/agency/programmes/{programme.id}/appointments/new"
    assert client.get(url).status_code == 200
    form = {
        "integrator_id": str(first.id),
        "call_reference": "GXJ-2026-07",
        "call_title": "集成服务商公开遴选",
        "criteria": "案例30分、实施能力25分",
        "reason": "",
        "term_start": programme.issue_from.isoformat(),
        "term_end": programme.redeem_by.isoformat(),
        "integration_fee_cap": "8.5",
        f"score-{first.id}": "91",
        f"score-{second.id}": "84",
    }
    without_reason = client.form(url, form)
    assert without_reason.status_code == 422
    backwards = client.form(
        url,
        form
        | {
            "reason": "得分最高",
            "term_end": programme.issue_from.isoformat(),
            "term_start": programme.redeem_by.isoformat(),
        },
    )
    assert backwards.status_code == 422
    bad_score = client.form(url, form | {"reason": "得分最高", f"score-{second.id}": "101"})
    assert bad_score.status_code == 422
    assert _count(dbs, Appointment) == 0
    done = client.form(url, form | {"reason": "综合得分第一，本地案例最多"})
    assert done.status_code == 302
    page = client.text(f"/agency/programmes/{programme.id}")
    assert "综合得分第一，本地案例最多" in page and "GXJ-2026-07" in page
    client.form(f"/agency/programmes/{programme.id}/open")
    client.get("/logout")
    public = app.test_client()
    transparency = public.get(f"/transparency?agency={p.agency.id}").get_data(as_text=True)
    assert "综合得分第一，本地案例最多" in transparency
    assert "案例30分、实施能力25分" in transparency and ">84<" in transparency
    api = public.get(f"/api/v1/programmes/{programme.id}").get_json()
    assert api["mode"] == "hybrid"
    assert api["appointed_integrators"] == [
        {
            "provider": {"id": first.id, "name": first.name},
            "reason": "综合得分第一，本地案例最多",
            "term_end": programme.redeem_by.isoformat(),
            "integration_fee_cap_pct": 8.5,
        }
    ]
    listed = public.get("/api/v1/programmes").get_json()["items"]
    assert [x["appointed_integrators"][0]["reason"] for x in listed if x["id"] == programme.id]
    doc = public.get("/api/v1/openapi.json").get_json()
    assert "appointed_integrators" in doc["components"]["schemas"]["Programme"]["properties"]


def test_ending_an_appointment_on_the_web(client, app, dbs, p, integrators):
    first, _second = integrators
    programme = p.programme(integrators=[first], mode=ProgrammeMode.INTEGRATOR)
    a = dbs.scalar(select(Appointment))
    client.login("official@ap.cn")
    url = f"/agency/programmes/{programme.id}/appointments/{a.id}/end"
    client.form(url, {"end_reason": ""})
    dbs.refresh(a)
    assert a.ended_at is None
    client.form(url, {"end_reason": "考核不合格，提前终止"})
    dbs.refresh(a)
    assert a.ended_at is not None and a.end_reason == "考核不合格，提前终止"


def test_appointment_pages_do_not_grow_with_the_appointments(
    client, app, dbs, p, integrators, count_queries
):
    first, second = integrators
    programme = p.programme(integrators=[first], mode=ProgrammeMode.INTEGRATOR)
    client.login("official@ap.cn")
    paths = [
        f"/agency/programmes/{programme.id}",
        f"/transparency?agency={p.agency.id}",
        f"/api/v1/programmes/{programme.id}",
        "/api/v1/programmes",
    ]

    def measure() -> dict[str, int]:
        found = {}
        for path in paths:
            client.get(path)
            count_queries.count = 0
            assert client.get(path).status_code == 200
            found[path] = count_queries.count
        return found

    small = measure()
    others = []
    for n in range(3):
        other, _owner = provider_with_owner(f"more{n}@ap.cn", integrator=True)
        membership(dbs, other, p.agency)
        others.append(other)
    with services(app, dbs):
        for other in [second, *others]:
            appointments.appoint(
                programme,
                selection(
                    programme,
                    other.id,
                    applicants=[(o.id, 70) for o in [first, second, *others]],
                ),
                p.official_actor,
            )
    assert measure() == small
