"""Advisors (数字化顾问) in the agencies' resource pools: an advisor applies, the agency admits
or rejects with a written reason, suspends and removes it, like a provider; advisors are an
organisation kind of their own that lists no packages."""

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import Organisation, OrgKind
from marketplace.audit import AuditEntry
from marketplace.catalog import services as catalog
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.pool.models import (
    AdvisorMembership,
    AdvisorStatusChange,
    PoolEvent,
    PoolMembership,
    PoolStatus,
)
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory, make_credit_code
from tests.functional.advisor_helpers import advisor_membership, advisor_with_owner
from tests.functional.catalog_helpers import FIELDS, agency_with_official, services

APPLICATION = {
    "years_of_experience": "12",
    "expertise": "两化融合评估，注塑与机加工车间的设备联网诊断。",
    "certifications": "两化融合管理体系评估师",
    "contact_name": "李顾问",
    "contact_phone": "13900000000",
    "contact_email": "Li@Advisor.cn",
}


def test_advisor_applies_and_the_official_admits_rejects_suspends_with_reasons(app, client, dbs):
    agency, _ = agency_with_official("official@apool.cn")
    agency_with_official("other@apool.cn")
    advisor, _ = advisor_with_owner("advisor@apool.cn")

    client.login("advisor@apool.cn")
    assert agency.name in client.text("/advisor/pools")
    bad = client.form(f"/advisor/pools/apply/{agency.id}", {**APPLICATION, "expertise": " "})
    assert bad.status_code == 422
    assert dbs.scalar(select(func.count()).select_from(AdvisorMembership)) == 0
    assert client.form(f"/advisor/pools/apply/{agency.id}", APPLICATION).status_code == 302
    m = dbs.scalar(select(AdvisorMembership))
    assert (m.status, m.years_of_experience, m.contact_email) == (
        PoolStatus.APPLIED,
        12,
        "li@advisor.cn",
    )
    again = client.form(f"/advisor/pools/apply/{agency.id}", APPLICATION)
    assert again.status_code == 422  # already applied
    # the providers' pools do not hold advisors: evaluations and market shares never see one
    assert dbs.scalar(select(func.count()).select_from(PoolMembership)) == 0
    assert client.get("/pool").status_code == 403  # the providers' pool pages
    client.form("/logout")

    client.login("other@apool.cn")
    assert advisor.name not in client.text("/agency/advisors")
    assert client.get(f"/agency/advisors/{m.id}").status_code == 404
    client.form("/logout")

    client.login("official@apool.cn")
    assert f"/agency/advisors/{m.id}" in client.text("/dashboard")  # a to-do
    assert advisor.name in client.text("/agency/advisors?status=applied")
    no_reason = client.form(f"/agency/advisors/{m.id}", {"event": "admit", "reason": " "})
    assert no_reason.status_code == 422 and "理由" in no_reason.get_data(as_text=True)
    dbs.expire_all()
    assert dbs.get(AdvisorMembership, m.id).status is PoolStatus.APPLIED
    assert (
        client.form(
            f"/agency/advisors/{m.id}", {"event": "admit", "reason": "资质齐全，同意入库。"}
        ).status_code
        == 302
    )
    assert (
        client.form(
            f"/agency/advisors/{m.id}", {"event": "suspend", "reason": "企业投诉，暂停资格。"}
        ).status_code
        == 302
    )
    dbs.expire_all()
    assert dbs.get(AdvisorMembership, m.id).status is PoolStatus.SUSPENDED
    events = list(
        dbs.scalars(
            select(AdvisorStatusChange.event)
            .where(AdvisorStatusChange.membership_id == m.id)
            .order_by(AdvisorStatusChange.id)
        )
    )
    assert events == [PoolEvent.APPLY, PoolEvent.ADMIT, PoolEvent.SUSPEND]
    told = list(
        dbs.scalars(
            select(Notification.kind)
            .where(Notification.org_id == advisor.id)
            .order_by(Notification.id)
        )
    )
    assert told == ["advisor_pool_admitted", "advisor_pool_suspended"]
    assert (
        dbs.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action.like("advisor_pool.%"))
        )
        == 3
    )


def test_a_rejected_advisor_applies_again(app, client, dbs):
    agency, _ = agency_with_official("official@apool.cn")
    advisor, _ = advisor_with_owner("advisor@apool.cn")
    m = advisor_membership(dbs, advisor, agency, PoolStatus.REJECTED)
    client.login("advisor@apool.cn")
    assert client.form(f"/advisor/pools/apply/{agency.id}", APPLICATION).status_code == 302
    dbs.expire_all()
    assert dbs.get(AdvisorMembership, m.id).status is PoolStatus.APPLIED


def test_an_advisor_registers_with_a_credit_code(client, dbs):
    form = {
        "name": "石家庄智造数字化咨询工作室",
        "credit_code": make_credit_code(777, "130102"),
        "description": "智能制造能力成熟度评估、设备联网诊断。",
        "contact_name": "赵顾问",
        "contact_phone": "13912345678",
        "contact_email": "zhao@zhizao.cn",
        "owner_name": "赵敏",
        "email": "zhao@zhizao.cn",
        "password": "correct-horse-battery",
        "confirm": "correct-horse-battery",
    }
    assert "/register/advisor" in client.text("/register")
    bad = client.form("/register/advisor", {**form, "credit_code": "91130102000000777X"})
    assert bad.status_code == 422
    assert (
        dbs.scalar(
            select(func.count())
            .select_from(Organisation)
            .where(Organisation.kind == OrgKind.ADVISOR)
        )
        == 0
    )
    assert client.form("/register/advisor", form).status_code == 302
    org = dbs.scalar(select(Organisation).where(Organisation.kind == OrgKind.ADVISOR))
    assert org.name == form["name"] and org.credit_code == form["credit_code"]
    page = client.text("/dashboard")
    assert "数字化顾问" in page
    assert client.get("/provider/packages").status_code == 403  # no package workspace


def test_the_platform_admin_creates_and_lists_advisors(client, dbs):
    UserFactory(email="admin@apool.cn", org=OrganisationFactory(platform=True))
    advisor, _ = advisor_with_owner("advisor@apool.cn")
    client.login("admin@apool.cn")
    assert advisor.name in client.text("/admin/organisations?kind=advisor")
    assert "数字化顾问" in client.text(f"/admin/organisations/{advisor.id}")
    no_code = client.form(
        "/admin/organisations/new",
        {"kind": "advisor", "name": "某咨询工作室", "owner_name": "钱顾问", "email": "qian@x.cn"},
    )
    assert no_code.status_code == 422 and "统一社会信用代码" in no_code.get_data(as_text=True)
    made = client.form(
        "/admin/organisations/new",
        {
            "kind": "advisor",
            "name": "某咨询工作室",
            "credit_code": make_credit_code(778),
            "owner_name": "钱顾问",
            "email": "qian@x.cn",
        },
    )
    assert made.status_code == 302
    assert (
        dbs.scalar(select(Organisation.kind).where(Organisation.name == "某咨询工作室"))
        is OrgKind.ADVISOR
    )


def test_an_advisor_cannot_create_a_package_nor_be_stored_without_a_credit_code(app, dbs):
    advisor, owner = advisor_with_owner("advisor@apool.cn")
    with services(app, dbs), pytest.raises(DomainError) as refused:
        catalog.create_package(advisor, FIELDS, Actor(owner.id, advisor.id, None))
    assert "服务商" in str(refused.value.message) or "provider" in str(refused.value.message)
    from marketplace.catalog.models import Package

    assert dbs.scalar(select(func.count()).select_from(Package)) == 0
    # the database refuses a package listed by an advisor, whatever code inserts it
    from sqlalchemy.exc import IntegrityError

    savepoint = dbs.begin_nested()
    with pytest.raises(IntegrityError):
        dbs.add(Package(provider_id=advisor.id))
        dbs.flush()
    savepoint.rollback()
    # and an advisor's credit code
    savepoint = dbs.begin_nested()
    with pytest.raises(IntegrityError):
        dbs.add(Organisation(kind=OrgKind.ADVISOR, name="无代码工作室"))
        dbs.flush()
    savepoint.rollback()
