"""Eligibility an enterprise cannot grant itself (issue 16): industry, region, headcount and
revenue change only when an official verifies them, and a region must match the credit code."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from marketplace.accounts import profile_changes, services
from marketplace.accounts.models import (
    ChangeStatus,
    Organisation,
    ProfileChange,
    SizeTier,
)
from marketplace.audit import AuditEntry
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.vouchers import issuing
from marketplace.vouchers.models import Voucher
from tests.factories import OrganisationFactory, UserFactory, make_credit_code
from tests.functional.catalog_helpers import services as in_services
from tests.functional.voucher_helpers import pilot


def profile_form(org, **changes):
    data = {
        "name": org.name,
        "industry_code": org.industry_code,
        "region_code": org.region_code,
        "employees": str(org.employees),
        "annual_revenue": str(org.annual_revenue_fen // 100),
    }
    data.update(changes)
    return data


def changes_of(dbs, org):
    dbs.expire_all()
    return list(dbs.scalars(select(ProfileChange).where(ProfileChange.org_id == org.id)))


def test_hebei_enterprise_cannot_move_itself_into_xiamen(app, client, dbs):
    p = pilot(app, dbs, "hx")
    p.agency.region_code = "350200"  # the Xiamen bureau
    dbs.commit()
    programme = p.programme(region_codes=["350203", "350206", "350211"])
    client.login("owner@hx.cn")
    assert "/apply" not in client.text("/vouchers")  # a Hebei enterprise: no apply button

    response = client.form("/org/profile", profile_form(p.enterprise, region_code="350211"))
    assert response.status_code == 422
    assert "不在登记您统一社会信用代码的行政区划（130102）之内" in response.get_data(as_text=True)
    assert changes_of(dbs, p.enterprise) == []
    assert dbs.get(Organisation, p.enterprise.id).region_code == "130102"
    assert "/apply" not in client.text("/vouchers")
    with app.app_context():
        assert "region" in issuing.ineligibility(programme, dbs.get(Organisation, p.enterprise.id))


def test_the_refusal_speaks_english_too(app, english, dbs):
    org = OrganisationFactory()
    UserFactory(org=org, email="en@hebei.cn")
    english.login("en@hebei.cn")
    response = english.form("/org/profile", profile_form(org, region_code="350211"))
    assert response.status_code == 422
    assert "does not lie within the division that registered" in response.get_data(as_text=True)


def test_xiamen_region_change_counts_only_after_the_xiamen_agency_approves(app, client, dbs):
    p = pilot(app, dbs, "xm")
    p.agency.region_code = "350200"
    p.enterprise.credit_code = make_credit_code(77, "350200")  # registered by Xiamen city
    p.enterprise.region_code = "350206"
    dbs.commit()
    p.programme(region_codes=["350211"])
    client.login("owner@xm.cn")
    assert "/apply" not in client.text("/vouchers")

    response = client.form("/org/profile", profile_form(p.enterprise, region_code="350211"))
    assert response.status_code == 302
    [change] = changes_of(dbs, p.enterprise)
    assert (change.field, change.old_value, change.new_value) == ("region_code", "350206", "350211")
    assert change.status is ChangeStatus.PENDING
    assert dbs.get(Organisation, p.enterprise.id).region_code == "350206"
    assert "/apply" not in client.text("/vouchers")  # still the verified region
    assert "等待核验" in client.text("/org/profile")
    assert dbs.scalar(
        select(func.count(Notification.id)).where(
            Notification.org_id == p.agency.id, Notification.kind == "profile_change_requested"
        )
    )

    client.login("official@xm.cn")
    queue = client.text("/verification/profile-changes")
    assert p.enterprise.name in queue
    response = client.form(
        f"/verification/profile-changes/{change.id}", {"decision": "approve", "note": ""}
    )
    assert response.status_code == 302
    dbs.expire_all()
    assert dbs.get(Organisation, p.enterprise.id).region_code == "350211"
    assert dbs.get(ProfileChange, change.id).status is ChangeStatus.APPROVED
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "profile_change.approved"))
    history = client.text(f"/verification/enterprises/{p.enterprise.id}/profile-changes")
    assert "已批准" in history

    client.login("owner@xm.cn")
    assert "/apply" in client.text("/vouchers")
    notes = dbs.scalars(
        select(Notification).where(
            Notification.org_id == p.enterprise.id, Notification.kind == "profile_change_decided"
        )
    ).all()
    assert [n.params for n in notes] == [{"field": "region_code", "outcome": "approved"}]


def test_headcount_change_pending_then_approved_changes_the_size_tier(app, dbs):
    p = pilot(app, dbs, "hc")
    p.agency.region_code = "130100"
    p.enterprise.employees, p.enterprise.annual_revenue_fen = 10, 5_000_000_00
    dbs.commit()
    programme = p.programme(size_tiers=["small"])
    org = p.enterprise
    with in_services(app, dbs):
        assert issuing.ineligibility(programme, org) == ["size_tier"]
        waiting = services.update_enterprise_profile(
            org,
            services.EnterpriseProfile(
                name=org.name,
                credit_code=org.credit_code or "",
                industry_code="machining",
                region_code="130102",
                employees=80,
                annual_revenue_fen=5_000_000_00,
            ),
            p.enterprise_actor,
        )
        assert waiting == ["employees"]
        assert org.employees == 10 and org.size_tier is SizeTier.MICRO
        assert issuing.ineligibility(programme, org) == ["size_tier"]
        [change] = profile_changes.queue(p.agency)
        profile_changes.decide(change, True, "", p.official_actor)
        assert org.employees == 80 and org.size_tier is SizeTier.SMALL
        assert issuing.ineligibility(programme, org) == []
    entry = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "profile_change.approved"))
    assert entry.details["size_tier_before"] == "micro" and entry.details["size_tier"] == "small"


def _ask(app, dbs, p, **changes):
    org = p.enterprise
    values = {
        "region_code": org.region_code,
        "employees": org.employees,
        "annual_revenue_fen": org.annual_revenue_fen,
    }
    values.update(changes)
    with in_services(app, dbs):
        profile_changes.request_changes(org, values, p.enterprise_actor)
    return changes_of(dbs, org)[-1]


def test_rejected_change_leaves_the_values_and_needs_a_reason(app, client, dbs):
    p = pilot(app, dbs, "rj")
    p.agency.region_code = "130100"
    dbs.commit()
    change = _ask(app, dbs, p, annual_revenue_fen=90_000_000_00)
    client.login("official@rj.cn")
    url = f"/verification/profile-changes/{change.id}"
    client.form(url, {"decision": "reject", "note": ""})
    assert "请填写驳回理由" in client.text("/verification/profile-changes")
    assert dbs.get(ProfileChange, change.id).status is ChangeStatus.PENDING
    client.form(url, {"decision": "reject", "note": "与年报不符"})
    dbs.expire_all()
    change = dbs.get(ProfileChange, change.id)
    assert change.status is ChangeStatus.REJECTED and change.note == "与年报不符"
    assert dbs.get(Organisation, p.enterprise.id).annual_revenue_fen == 5_000_000_00
    client.login("owner@rj.cn")
    assert "与年报不符" in client.text("/org/profile")


def test_deciding_twice_is_refused(app, client, dbs):
    p = pilot(app, dbs, "tw")
    p.agency.region_code = "130100"
    dbs.commit()
    change = _ask(app, dbs, p, employees=60)
    with in_services(app, dbs):
        profile_changes.decide(change, True, "", p.official_actor)
    client.login("official2@tw.cn")
    client.form(f"/verification/profile-changes/{change.id}", {"decision": "reject", "note": "x"})
    assert "该变更已经处理过了" in client.text("/verification/profile-changes")
    dbs.expire_all()
    assert dbs.get(ProfileChange, change.id).status is ChangeStatus.APPROVED
    with in_services(app, dbs):
        try:
            profile_changes.decide(dbs.get(ProfileChange, change.id), False, "y", p.official_actor)
        except DomainError:
            pass
        else:
            raise AssertionError("decided twice")


def test_another_agency_cannot_see_or_decide_the_change(app, client, dbs):
    p = pilot(app, dbs, "oj")
    p.agency.region_code = "130100"
    hangzhou = OrganisationFactory(agency=True, region_code="330100")
    UserFactory(org=hangzhou, email="official@hz.cn")
    dbs.commit()
    change = _ask(app, dbs, p, employees=60)
    client.login("official@hz.cn")
    assert p.enterprise.name not in client.text("/verification/profile-changes")
    response = client.form(
        f"/verification/profile-changes/{change.id}", {"decision": "approve", "note": ""}
    )
    assert response.status_code == 404
    assert (
        client.get(f"/verification/enterprises/{p.enterprise.id}/profile-changes").status_code
        == 404
    )
    dbs.expire_all()
    assert dbs.get(ProfileChange, change.id).status is ChangeStatus.PENDING


def test_uncovered_region_goes_to_the_platform_and_the_profile_says_so(app, client, dbs):
    org = OrganisationFactory()  # 130102, and no agency covers it
    UserFactory(org=org, email="alone@hebei.cn")
    platform = OrganisationFactory(platform=True)
    UserFactory(org=platform, email="admin@platform.cn")
    client.login("alone@hebei.cn")
    assert "目前没有主管部门的转型券项目覆盖您所在的地区" in client.text("/org/profile")
    client.form("/org/profile", profile_form(org, employees="70"))
    [change] = changes_of(dbs, org)
    client.login("admin@platform.cn")
    assert org.name in client.text("/verification/profile-changes")
    client.form(f"/verification/profile-changes/{change.id}", {"decision": "approve", "note": ""})
    dbs.expire_all()
    assert dbs.get(Organisation, org.id).employees == 70


def test_an_issued_voucher_is_untouched_by_an_approved_change(app, dbs):
    p = pilot(app, dbs, "iv")
    p.agency.region_code = "130100"
    dbs.commit()
    programme = p.programme(size_tiers=["small"])
    voucher = p.issue_to(programme)
    before = (voucher.status, voucher.face_value_fen, voucher.revoked_fen)
    change = _ask(app, dbs, p, employees=1500, annual_revenue_fen=500_000_000_00)
    assert change is not None
    with in_services(app, dbs):
        for c in profile_changes.queue(p.agency):
            profile_changes.decide(c, True, "", p.official_actor)
        assert p.enterprise.size_tier is SizeTier.LARGE
        assert issuing.ineligibility(programme, p.enterprise) == ["size_tier"]
    dbs.expire_all()
    voucher = dbs.get(Voucher, voucher.id)
    assert (voucher.status, voucher.face_value_fen, voucher.revoked_fen) == before


def test_other_fields_stay_freely_editable(app, client, dbs):
    org = OrganisationFactory()
    UserFactory(org=org, email="free@hebei.cn")
    client.login("free@hebei.cn")
    response = client.form(
        "/org/profile", profile_form(org, name="新名称机械有限公司", contact_phone="0311-85551234")
    )
    assert response.status_code == 302
    dbs.expire_all()
    assert dbs.get(Organisation, org.id).name == "新名称机械有限公司"
    assert changes_of(dbs, org) == []


def test_one_waiting_change_per_field(app, dbs):
    p = pilot(app, dbs, "wf")
    first = _ask(app, dbs, p, employees=60)
    again = _ask(app, dbs, p, employees=60)  # the same request again: nothing new
    assert again.id == first.id
    with in_services(app, dbs):
        try:
            profile_changes.request_changes(
                p.enterprise,
                {
                    "region_code": "130102",
                    "employees": 70,
                    "annual_revenue_fen": p.enterprise.annual_revenue_fen,
                },
                p.enterprise_actor,
            )
        except DomainError as error:
            assert error.field == "employees"
        else:
            raise AssertionError("a second waiting change of the same field")
    assert len(changes_of(dbs, p.enterprise)) == 1


def test_industry_change_waits_for_the_agency_like_the_size_inputs(app, client, dbs):
    """Programmes select by industry, so an enterprise cannot move itself into one."""
    p = pilot(app, dbs, "ind")
    p.agency.region_code = "130100"
    dbs.commit()
    programme = p.programme(industry_codes=["food"])
    with in_services(app, dbs):
        assert issuing.ineligibility(programme, p.enterprise) == ["industry"]
    client.login(p.owner.email)
    response = client.form("/org/profile", profile_form(p.enterprise, industry_code="food"))
    assert response.status_code == 302
    [change] = changes_of(dbs, p.enterprise)
    assert (change.field, change.new_value) == ("industry_code", "food")
    assert dbs.get(Organisation, p.enterprise.id).industry_code == "machining"
    with in_services(app, dbs):
        assert issuing.ineligibility(programme, p.enterprise) == ["industry"]
    client.form("/logout")
    client.login(p.official.email)
    queue = client.text("/verification/profile-changes")
    assert "所属行业" in queue and "食品" in queue  # the field and the industry by name
    with in_services(app, dbs):
        profile_changes.decide(change, True, "", p.official_actor)
        assert issuing.ineligibility(programme, p.enterprise) == []


def test_an_unknown_industry_is_refused_and_nothing_waits(app, dbs):
    p = pilot(app, dbs, "ind2")
    with in_services(app, dbs), pytest.raises(DomainError) as refused:
        profile_changes.request_changes(
            p.enterprise, {"industry_code": "no-such-industry"}, p.enterprise_actor
        )
    assert refused.value.field == "industry_code"
    assert changes_of(dbs, p.enterprise) == []


def test_the_database_keeps_one_waiting_change_per_field(app, dbs):
    p = pilot(app, dbs, "wf2")
    _ask(app, dbs, p, employees=60)
    dbs.add(ProfileChange(org_id=p.enterprise.id, field="employees", new_value="70"))
    with pytest.raises(IntegrityError):
        dbs.flush()
    dbs.rollback()
    assert len(changes_of(dbs, p.enterprise)) == 1
