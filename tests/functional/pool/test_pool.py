"""The providers' resource pools: applications, decisions with reasons, suspension and exit."""

from sqlalchemy import select

from marketplace.audit import AuditEntry
from marketplace.pool.models import PoolEvent, PoolMembership, PoolStatus, PoolStatusChange
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
)

APPLICATION = {
    "years_in_business": "8",
    "reference_customer_count": "3",
    "reference_customers": "石家庄恒达机械有限公司\n厦门华盛纺织有限公司\n某汽配公司",
    "certifications": "ISO 9001",
    "capability_statement": "设备联网与数据采集。",
    "contact_name": "王工",
    "contact_phone": "13800000000",
    "contact_email": "bd@zhilian.cn",
}


def test_provider_applies_and_the_official_admits_with_a_reason(app, client, dbs):
    agency, _official = agency_with_official("official@pool.cn")
    _other_agency, _ = agency_with_official("other@pool.cn")
    provider, _owner = provider_with_owner("owner@pool.cn")
    client.login("owner@pool.cn")
    response = client.form(f"/pool/apply/{agency.id}", APPLICATION)
    assert response.status_code == 302
    m = dbs.scalar(select(PoolMembership).where(PoolMembership.provider_id == provider.id))
    assert m.status is PoolStatus.APPLIED and m.years_in_business == 8

    assert (
        client.form(f"/pool/apply/{agency.id}", APPLICATION).status_code == 422
    )  # already applied
    client.form("/logout")

    client.login("other@pool.cn")
    assert provider.name not in client.text("/pool/queue")
    assert client.get(f"/pool/applications/{m.id}").status_code == 404
    assert (
        client.form(f"/pool/applications/{m.id}", {"event": "admit", "reason": "x"}).status_code
        == 404
    )
    client.form("/logout")

    client.login("official@pool.cn")
    assert provider.name in client.text("/pool/queue")
    no_reason = client.form(f"/pool/applications/{m.id}", {"event": "admit", "reason": " "})
    assert no_reason.status_code == 422 and "请填写书面理由" in no_reason.get_data(as_text=True)
    dbs.expire_all()
    assert dbs.get(PoolMembership, m.id).status is PoolStatus.APPLIED
    assert (
        client.form(
            f"/pool/applications/{m.id}", {"event": "admit", "reason": "资质齐全，同意入库。"}
        ).status_code
        == 302
    )
    dbs.expire_all()
    assert dbs.get(PoolMembership, m.id).status is PoolStatus.ADMITTED
    client.form("/logout")

    client.login("owner@pool.cn")
    page = client.text(f"/pool/memberships/{m.id}")
    assert "已入库" in page and "资质齐全，同意入库。" in page
    entries = dbs.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "pool_membership")
    ).all()
    assert entries == ["pool.apply", "pool.admit"]


def test_rejected_provider_applies_again(app, client, dbs):
    agency, _official = agency_with_official("official2@pool.cn")
    provider, _owner = provider_with_owner("owner2@pool.cn")
    m = membership(dbs, provider, agency, PoolStatus.APPLIED)
    client.login("official2@pool.cn")
    client.form(f"/pool/applications/{m.id}", {"event": "reject", "reason": "参考客户不足。"})
    client.form("/logout")
    client.login("owner2@pool.cn")
    assert "参考客户不足。" in client.text("/pool")
    assert client.form(f"/pool/apply/{agency.id}", APPLICATION).status_code == 302
    dbs.expire_all()
    assert dbs.get(PoolMembership, m.id).status is PoolStatus.APPLIED
    events = [
        h.event.value
        for h in dbs.scalars(
            select(PoolStatusChange)
            .where(PoolStatusChange.membership_id == m.id)
            .order_by(PoolStatusChange.id)
        )
    ]
    assert events == ["reject", "reapply"]


def test_illegal_transitions_and_roles(app, client, dbs):
    agency, _ = agency_with_official("official3@pool.cn")
    provider, _owner = provider_with_owner("owner3@pool.cn")
    m = membership(dbs, provider, agency, PoolStatus.ADMITTED)
    client.login("official3@pool.cn")
    # exit only from suspended; reinstate only from suspended
    for event in ["admit", "exit", "reinstate", "reapply", "bogus"]:
        assert (
            client.form(
                f"/pool/applications/{m.id}", {"event": event, "reason": "理由"}
            ).status_code
            == 422
        ), event
    dbs.expire_all()
    assert dbs.get(PoolMembership, m.id).status is PoolStatus.ADMITTED
    client.form("/logout")
    client.login("owner3@pool.cn")
    assert (
        client.form(f"/pool/applications/{m.id}", {"event": "suspend", "reason": "x"}).status_code
        == 403
    )
    assert client.get("/pool/queue").status_code == 403


def test_members_of_a_provider_cannot_apply(client, dbs):
    from tests.factories import UserFactory

    agency, _ = agency_with_official("official4@pool.cn")
    provider, _owner = provider_with_owner("owner4@pool.cn")
    UserFactory(org=provider, email="member4@pool.cn", member=True)
    client.login("member4@pool.cn")
    assert client.form(f"/pool/apply/{agency.id}", APPLICATION).status_code == 403


def test_suspension_hides_packages_reinstatement_shows_them_exit_is_final(app, client, dbs):
    agency, _ = agency_with_official("official5@pool.cn")
    provider, owner = provider_with_owner("owner5@pool.cn")
    m = membership(dbs, provider, agency, PoolStatus.ADMITTED)
    package = published_package(app, dbs, provider, owner)
    assert client.get(f"/packages/{package.id}").status_code == 200

    client.login("official5@pool.cn")
    client.form(
        f"/pool/applications/{m.id}", {"event": "suspend", "reason": "连续两次考核不合格。"}
    )
    assert client.get(f"/packages/{package.id}").status_code == 404
    assert "设备联网网关套件" not in client.text("/catalog")
    client.form(f"/pool/applications/{m.id}", {"event": "reinstate", "reason": "整改到位。"})
    assert client.get(f"/packages/{package.id}").status_code == 200
    client.form(f"/pool/applications/{m.id}", {"event": "suspend", "reason": "再次不合格。"})
    client.form(f"/pool/applications/{m.id}", {"event": "exit", "reason": "清退。"})
    dbs.expire_all()
    assert dbs.get(PoolMembership, m.id).status is PoolStatus.EXITED
    assert client.get(f"/packages/{package.id}").status_code == 404
    assert client.form(
        f"/pool/applications/{m.id}", {"event": "reinstate", "reason": "x"}
    ).status_code in (200, 422)
    dbs.expire_all()
    assert dbs.get(PoolMembership, m.id).status is PoolStatus.EXITED


def test_catalogue_shows_every_pool_a_provider_belongs_to(app, client, dbs):
    sjz, _ = agency_with_official("sjz@pool.cn")
    xm, _ = agency_with_official("xm@pool.cn")
    provider, owner = provider_with_owner("owner6@pool.cn")
    membership(dbs, provider, sjz)
    membership(dbs, provider, xm)
    package = published_package(app, dbs, provider, owner)
    page = client.text(f"/packages/{package.id}")
    assert sjz.name in page and xm.name in page
    profile = client.text(f"/providers/{provider.id}")
    assert sjz.name in profile and "设备联网网关套件" in profile


def test_two_decisions_at_once_cannot_both_apply(app, dbs, connection):
    import pytest
    from sqlalchemy import update

    from marketplace.errors import DomainError
    from marketplace.pool import services as pool
    from marketplace.security import Actor
    from tests.functional.catalog_helpers import services

    agency, official = agency_with_official("race@pool.cn")
    provider, _owner = provider_with_owner("raced@pool.cn")
    m = membership(dbs, provider, agency, PoolStatus.APPLIED)
    with services(app, dbs):
        # another official admitted it after this one opened the page
        connection.execute(
            update(PoolMembership).where(PoolMembership.id == m.id).values(status="admitted")
        )
        with pytest.raises(DomainError):
            pool.decide(m, PoolEvent.REJECT, "资料不全", Actor(official.id, agency.id, None))
    events = dbs.scalars(
        select(PoolStatusChange.event).where(PoolStatusChange.membership_id == m.id)
    ).all()
    assert PoolEvent.REJECT not in events
