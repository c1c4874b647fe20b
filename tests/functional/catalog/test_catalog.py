"""Packages: drafts, plans, interfaces, the lifecycle, versions, delisting, curated bundles."""

import re

from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.catalog.models import Package, PackageVersion, PricePlan, VersionStatus
from marketplace.pool.models import PoolMembership
from tests.factories import UserFactory
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
)

PACKAGE = {
    "title": "车间生产看板",
    "summary": "订单、工序和设备状态实时呈现。",
    "description": "第一行\n第二行",
    "category_code": "production_visualisation",
    "industry_codes": ["machining"],
    "size_tiers": ["micro", "small"],
    "deployment": "saas",
    "go_live_days": "7",
    "sla_response_hours": "8",
    "enterprise_provides": "网络接入",
}
ONE_TIME = {"kind": "one_time", "name": "买断", "amount": "38,000"}
OUTCOME = {
    "kind": "outcome",
    "name": "按效果付费",
    "metric_code": "oee",
    "target_kind": "absolute",
    "target_value": "5",
    "fee_rule": "per_unit",
    "fee_per_unit": "3000",
    "fee_cap": "30000",
    "base_fee": "5000",
    "window_days": "90",
}
INTERFACE = {"flow": "consumes", "protocol_code": "mqtt", "data_object_code": "device_telemetry"}


def counts(dbs):
    dbs.expire_all()
    return (
        dbs.scalar(select(func.count(Package.id))),
        dbs.scalar(select(func.count(PackageVersion.id))),
        dbs.scalar(select(func.count(PricePlan.id))),
    )


def new_draft(client, **changes):
    response = client.form("/provider/packages/new", {**PACKAGE, **changes})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_a_provider_lists_a_package_end_to_end(app, client, dbs):
    agency, _ = agency_with_official("o1@cat.cn")
    provider, _owner = provider_with_owner("p1@cat.cn")
    client.login("p1@cat.cn")
    package_id = new_draft(client)
    assert (
        client.form(f"/provider/packages/{package_id}/submit", follow_redirects=True).status_code
        == 200
    )
    dbs.expire_all()
    assert (
        dbs.get(Package, package_id).latest.status is VersionStatus.DRAFT
    )  # no plan, no interface yet

    assert client.form(f"/provider/packages/{package_id}/plans", ONE_TIME).status_code == 302
    assert client.form(f"/provider/packages/{package_id}/plans", OUTCOME).status_code == 302
    assert client.form(f"/provider/packages/{package_id}/interfaces", INTERFACE).status_code == 302
    assert (
        client.form(f"/provider/packages/{package_id}/interfaces", INTERFACE).status_code == 422
    )  # duplicate
    client.form(f"/provider/packages/{package_id}/submit")
    dbs.expire_all()
    assert dbs.get(Package, package_id).latest.status is VersionStatus.SUBMITTED

    page = client.form(f"/provider/packages/{package_id}/publish", follow_redirects=True).get_data(
        as_text=True
    )
    assert "只有进入主管部门资源池的服务商才能发布" in page  # not admitted yet
    membership(dbs, provider, agency)
    client.form(f"/provider/packages/{package_id}/publish")
    dbs.expire_all()
    package = dbs.get(Package, package_id)
    assert package.published_version.status is VersionStatus.PUBLISHED

    public = client.text(f"/packages/{package_id}")
    assert "车间生产看板" in public and "¥38,000.00" in public and "封顶 ¥30,000.00" in public
    assert "第一行\n第二行" in public and "MQTT" in public
    assert "车间生产看板" in client.text("/catalog?category=production_visualisation")
    assert "车间生产看板" not in client.text("/catalog?category=mes")


def test_bad_package_inputs_store_nothing(client, dbs):
    provider_with_owner("p2@cat.cn")
    client.login("p2@cat.cn")
    before = counts(dbs)
    cases = [
        ({"go_live_days": "0"}, "go_live_days"),
        ({"go_live_days": "731"}, "go_live_days"),
        ({"sla_response_hours": "0"}, "sla_response_hours"),
        ({"industry_codes": ["shipbuilding"]}, "industry_codes"),
        ({"category_code": "teleportation"}, "category_code"),
        ({"size_tiers": []}, "size_tiers"),
        ({"title": ""}, "title"),
    ]
    for changes, field in cases:
        response = client.form("/provider/packages/new", {**PACKAGE, **changes})
        assert response.status_code == 422, changes
        assert f'id="{field}-error"' in response.get_data(as_text=True), changes
    assert counts(dbs) == before


def test_bad_plans_are_refused_next_to_the_field(client, dbs):
    provider_with_owner("p3@cat.cn")
    client.login("p3@cat.cn")
    package_id = new_draft(client)
    before = counts(dbs)
    cases = [
        ({"kind": "one_time", "name": "x", "amount": "-1"}, "amount"),
        ({"kind": "one_time", "name": "x", "amount": "100000000.01"}, "amount"),
        ({"kind": "one_time", "name": "x", "amount": ""}, "amount"),
        (
            {"kind": "subscription", "name": "x", "monthly": "100", "term_months": "0"},
            "term_months",
        ),
        ({**OUTCOME, "metric_code": ""}, "metric_code"),
        ({**OUTCOME, "target_value": ""}, "target_value"),
        ({**OUTCOME, "target_value": "0"}, "target_value"),
        ({**OUTCOME, "fee_cap": "4000"}, "fee_cap"),  # below the base fee of 5,000
        ({**OUTCOME, "window_days": "0"}, "window_days"),
        ({**OUTCOME, "target_value": "NaN"}, "target_value"),
        ({**OUTCOME, "target_value": "sNaN"}, "target_value"),
        ({**OUTCOME, "target_value": "Infinity"}, "target_value"),
        ({**OUTCOME, "target_value": "1e20"}, "target_value"),
        ({**OUTCOME, "target_value": "0.001"}, "target_value"),
        ({**OUTCOME, "target_value": "abc"}, "target_value"),
        (
            {"kind": "subscription", "name": "x", "monthly": "99999999", "term_months": "60"},
            "monthly",
        ),
        ({"kind": "one_time", "name": "x" * 81, "amount": "1"}, "name"),
        ({"kind": "barter", "name": "x"}, "kind"),
    ]
    for data, field in cases:
        response = client.form(f"/provider/packages/{package_id}/plans", data)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, data
        assert f'id="{field}-error"' in page, (data, field)
    assert counts(dbs) == before
    page = client.form(
        f"/provider/packages/{package_id}/plans", {**OUTCOME, "fee_cap": "4000"}
    ).get_data(as_text=True)
    assert "收费上限不能低于基础费" in page


def test_markup_is_shown_escaped(app, client, dbs):
    agency, _ = agency_with_official("o4@cat.cn")
    provider, owner = provider_with_owner("p4@cat.cn")
    membership(dbs, provider, agency)
    from tests.functional.catalog_helpers import FIELDS

    fields = FIELDS.__class__(
        **{
            **FIELDS.__dict__,
            "title": "<script>alert(1)</script>看板",
            "description": "<b>粗体</b>",
        }
    )
    package = published_package(app, dbs, provider, owner, fields)
    page = client.text(f"/packages/{package.id}")
    assert (
        "<script>alert(1)</script>" not in page
        and "&lt;script&gt;alert(1)&lt;/script&gt;看板" in page
    )
    assert "<b>粗体</b>" not in page and "&lt;b&gt;粗体&lt;/b&gt;" in page


def test_another_providers_drafts_are_invisible(client, dbs):
    provider_with_owner("p5@cat.cn")
    provider_with_owner("p6@cat.cn")
    client.login("p5@cat.cn")
    package_id = new_draft(client)
    client.form("/logout")
    client.login("p6@cat.cn")
    assert client.get(f"/provider/packages/{package_id}").status_code == 404
    assert client.form(f"/provider/packages/{package_id}", PACKAGE).status_code == 404
    assert client.form(f"/provider/packages/{package_id}/plans", ONE_TIME).status_code == 404
    assert client.form(f"/provider/packages/{package_id}/submit").status_code == 404
    assert client.get(f"/packages/{package_id}").status_code == 404  # drafts are not public
    assert "车间生产看板" not in client.text("/provider/packages")


def test_editing_a_published_package_makes_the_next_version(app, client, dbs):
    agency, _ = agency_with_official("o7@cat.cn")
    provider, owner = provider_with_owner("p7@cat.cn")
    membership(dbs, provider, agency)
    package = published_package(app, dbs, provider, owner)
    client.login("p7@cat.cn")
    assert (
        client.form(f"/provider/packages/{package.id}", {**PACKAGE, "title": "改名"}).status_code
        == 422
    )
    client.form(f"/provider/packages/{package.id}/new-version")
    client.form(f"/provider/packages/{package.id}", {**PACKAGE, "title": "设备联网网关套件 V2"})
    assert "设备联网网关套件（标准版）" in client.text(f"/packages/{package.id}")  # v1 still shown
    client.form(f"/provider/packages/{package.id}/submit")
    client.form(f"/provider/packages/{package.id}/publish")
    dbs.expire_all()
    versions = dbs.scalars(
        select(PackageVersion)
        .where(PackageVersion.package_id == package.id)
        .order_by(PackageVersion.number)
    ).all()
    assert [(v.number, v.status) for v in versions] == [
        (1, VersionStatus.SUPERSEDED),
        (2, VersionStatus.PUBLISHED),
    ]
    assert versions[0].title == "设备联网网关套件（标准版）"  # frozen: orders keep pointing at it
    assert len(versions[1].plans) == 1 and len(versions[1].interfaces) == 2  # copied
    page = client.text(f"/packages/{package.id}")
    assert "设备联网网关套件 V2" in page and "第 2 版" in page


def test_suspended_provider_cannot_publish(app, client, dbs):
    from marketplace.pool.models import PoolStatus

    agency, _ = agency_with_official("o8@cat.cn")
    provider, _owner = provider_with_owner("p8@cat.cn")
    membership(dbs, provider, agency, PoolStatus.SUSPENDED)
    client.login("p8@cat.cn")
    package_id = new_draft(client)
    client.form(f"/provider/packages/{package_id}/plans", ONE_TIME)
    client.form(f"/provider/packages/{package_id}/interfaces", INTERFACE)
    client.form(f"/provider/packages/{package_id}/submit")
    dbs.expire_all()
    assert dbs.get(Package, package_id).latest.status is VersionStatus.SUBMITTED
    page = client.form(f"/provider/packages/{package_id}/publish", follow_redirects=True)
    assert "只有进入主管部门资源池的服务商才能发布" in page.get_data(as_text=True)
    dbs.expire_all()
    assert dbs.get(Package, package_id).published_version_id is None


def test_an_official_delists_with_a_reason_the_provider_sees(app, client, dbs):
    agency, _ = agency_with_official("o9@cat.cn")
    agency_with_official("stranger9@cat.cn")
    provider, owner = provider_with_owner("p9@cat.cn")
    membership(dbs, provider, agency)
    package = published_package(app, dbs, provider, owner)

    client.login("stranger9@cat.cn")  # an agency the provider never applied to
    assert client.form(f"/packages/{package.id}/delist", {"reason": "x"}).status_code == 404
    client.form("/logout")

    client.login("o9@cat.cn")
    assert "下架此转型包" in client.text(f"/packages/{package.id}")
    client.form(f"/packages/{package.id}/delist", {"reason": ""})
    assert client.get(f"/packages/{package.id}").status_code == 200  # no reason, no delisting
    client.form(f"/packages/{package.id}/delist", {"reason": "宣传材料不实。"})
    assert client.get(f"/packages/{package.id}").status_code == 404
    client.form("/logout")

    client.login("p9@cat.cn")
    assert "宣传材料不实。" in client.text("/provider/packages")
    assert client.form(f"/provider/packages/{package.id}/new-version").status_code == 302
    dbs.expire_all()
    assert len(dbs.get(Package, package.id).versions) == 1  # a delisted package stays delisted
    entry = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "package.delist"))
    assert entry.details["reason"] == "宣传材料不实。"


def test_curated_bundles(app, client, dbs):
    agency, _ = agency_with_official("o10@cat.cn")
    integrator, _ = provider_with_owner("i10@cat.cn", integrator=True)
    scenario_a, owner_a = provider_with_owner("a10@cat.cn")
    scenario_b, owner_b = provider_with_owner("b10@cat.cn")
    for org in (integrator, scenario_a, scenario_b):
        membership(dbs, org, agency)
    first = published_package(app, dbs, scenario_a, owner_a)
    second = published_package(app, dbs, scenario_b, owner_b)
    bundle = {
        "name": "低成本上云套餐",
        "summary": "",
        "industry_code": "machining",
        "size_tier": "small",
        "integration_fee": "12,000",
    }

    client.login("a10@cat.cn")  # a scenario provider
    assert client.get("/provider/bundles/new").status_code == 404
    client.form("/logout")

    client.login("i10@cat.cn")
    one = client.form("/provider/bundles/new", {**bundle, "package_ids": [str(first.id)]})
    assert one.status_code == 422 and "至少包含两个转型包" in one.get_data(as_text=True)
    response = client.form(
        "/provider/bundles/new", {**bundle, "package_ids": [str(first.id), str(second.id)]}
    )
    assert response.status_code == 302
    bundle_path = response.headers["Location"]
    page = client.text(bundle_path)
    assert (
        "集成服务费" in page
        and "¥12,000.00" in page
        and scenario_a.name in page
        and scenario_b.name in page
    )

    # a part's provider is suspended: the bundle is no longer offered, and no new bundle may use it
    from marketplace.pool.models import PoolMembership, PoolStatus

    m = dbs.scalar(select(PoolMembership).where(PoolMembership.provider_id == scenario_b.id))
    m.status = PoolStatus.SUSPENDED
    dbs.commit()
    assert client.get(bundle_path).status_code == 404
    again = client.form(
        "/provider/bundles/new", {**bundle, "package_ids": [str(first.id), str(second.id)]}
    )
    assert again.status_code == 422
    assert "暂停供应" in client.text("/provider/bundles")


def test_platform_admin_adds_a_category(client, dbs):
    from tests.factories import OrganisationFactory

    UserFactory(email="admin@cat.cn", org=OrganisationFactory(platform=True))
    client.login("admin@cat.cn")
    assert (
        client.form(
            "/admin/categories",
            {"code": "digital_twin", "name_zh": "数字孪生", "name_en": "Digital twin"},
        ).status_code
        == 302
    )
    assert (
        client.form(
            "/admin/categories", {"code": "digital_twin", "name_zh": "x", "name_en": "x"}
        ).status_code
        == 422
    )
    assert "数字孪生" in client.text("/catalog")


def test_a_bundle_cannot_use_a_delisted_part(app, client, dbs):
    agency, _official = agency_with_official("o11@cat.cn")
    integrator, _ = provider_with_owner("i11@cat.cn", integrator=True)
    scenario, owner = provider_with_owner("a11@cat.cn")
    membership(dbs, integrator, agency)
    membership(dbs, scenario, agency)
    kept = published_package(app, dbs, scenario, owner)
    delisted = published_package(app, dbs, scenario, owner)
    client.login("o11@cat.cn")
    client.form(f"/packages/{delisted.id}/delist", {"reason": "资质过期。"})
    client.form("/logout")
    client.login("i11@cat.cn")
    response = client.form(
        "/provider/bundles/new",
        {
            "name": "套餐",
            "industry_code": "machining",
            "size_tier": "small",
            "integration_fee": "0",
            "package_ids": [str(kept.id), str(delisted.id)],
        },
    )
    assert response.status_code == 422
    assert 'id="package_ids-error"' in response.get_data(as_text=True)


def test_plan_messages_are_in_chinese(client, dbs):
    provider_with_owner("p12@cat.cn")
    client.login("p12@cat.cn")
    package_id = new_draft(client)
    page = client.form(
        f"/provider/packages/{package_id}/plans",
        {"kind": "one_time", "name": "x" * 81, "amount": "1"},
    )
    assert "不能超过 80 个字符" in page.get_data(as_text=True)


def test_delisting_sticks_even_with_an_open_draft(app, client, dbs):
    agency, _ = agency_with_official("o13@cat.cn")
    provider, owner = provider_with_owner("p13@cat.cn")
    membership(dbs, provider, agency)
    package = published_package(app, dbs, provider, owner)
    client.login("p13@cat.cn")
    client.form(f"/provider/packages/{package.id}/new-version")
    client.form("/logout")
    client.login("o13@cat.cn")
    client.form(f"/packages/{package.id}/delist", {"reason": "虚假宣传。"})
    client.form("/logout")
    client.login("p13@cat.cn")
    client.form(f"/provider/packages/{package.id}/submit")
    page = client.form(f"/provider/packages/{package.id}/publish", follow_redirects=True)
    assert "不能再次发布" in page.get_data(as_text=True)
    assert client.get(f"/packages/{package.id}").status_code == 404


def test_only_officials_of_a_pool_that_admitted_the_provider_delist(app, client, dbs):
    from marketplace.pool.models import PoolStatus

    admitting, _ = agency_with_official("o14@cat.cn")
    rejecting, _ = agency_with_official("r14@cat.cn")
    provider, owner = provider_with_owner("p14@cat.cn")
    membership(dbs, provider, admitting)
    membership(dbs, provider, rejecting, PoolStatus.REJECTED)
    package = published_package(app, dbs, provider, owner)
    client.login("r14@cat.cn")
    assert "下架此转型包" not in client.text(f"/packages/{package.id}")
    assert client.form(f"/packages/{package.id}/delist", {"reason": "x"}).status_code == 404
    assert client.get(f"/packages/{package.id}").status_code == 200


def test_bundle_rules_in_the_service(app, dbs):
    """The service refuses what the form's list of choices would hide (the API will call it)."""
    import pytest

    from marketplace.catalog import curated_bundles
    from marketplace.errors import DomainError
    from marketplace.pool.models import PoolStatus
    from marketplace.security import Actor
    from tests.functional.catalog_helpers import services

    agency, _ = agency_with_official("o15@cat.cn")
    integrator, i_owner = provider_with_owner("i15@cat.cn", integrator=True)
    a, a_owner = provider_with_owner("a15@cat.cn")
    b, b_owner = provider_with_owner("b15@cat.cn")
    for org in (integrator, a, b):
        membership(dbs, org, agency)
    a1, a2 = published_package(app, dbs, a, a_owner), published_package(app, dbs, a, a_owner)
    b1 = published_package(app, dbs, b, b_owner)
    actor = Actor(i_owner.id, integrator.id, None)

    def attempt(ids, fee=0, name="套餐"):
        fields = curated_bundles.BundleFields(name, "", "machining", "small", fee, ids)
        with services(app, dbs):
            return curated_bundles.create_bundle(integrator, fields, actor)

    for ids, fee, field in [
        ([a1.id], 0, "package_ids"),
        ([a1.id, a2.id], 0, "package_ids"),  # one provider only
        ([a1.id, b1.id], -1, "integration_fee"),
        ([a1.id, 99999], 0, "package_ids"),
    ]:
        with pytest.raises(DomainError) as error:
            attempt(ids, fee)
        assert error.value.field == field, (ids, fee)
    attempt([a1.id, b1.id])
    with pytest.raises(DomainError) as duplicate:
        attempt([a1.id, b1.id])
    assert duplicate.value.field == "name"
    m = dbs.scalar(select(PoolMembership).where(PoolMembership.provider_id == b.id))
    m.status = PoolStatus.SUSPENDED
    dbs.commit()
    with pytest.raises(DomainError):
        attempt([a1.id, b1.id], name="另一个套餐")


def test_category_codes_are_checked(client, dbs):
    from tests.factories import OrganisationFactory

    UserFactory(email="admin2@cat.cn", org=OrganisationFactory(platform=True))
    client.login("admin2@cat.cn")
    response = client.form(
        "/admin/categories", {"code": "Has Space/<b>", "name_zh": "x", "name_en": "x"}
    )
    assert response.status_code == 422 and 'id="code-error"' in response.get_data(as_text=True)


def test_bundle_composer_searches_and_keeps_what_is_chosen(app, client, dbs):
    agency, _ = agency_with_official("o16@cat.cn")
    integrator, _ = provider_with_owner("i16@cat.cn", integrator=True)
    a, a_owner = provider_with_owner("a16@cat.cn")
    b, b_owner = provider_with_owner("b16@cat.cn")
    for org in (integrator, a, b):
        membership(dbs, org, agency)
    first = published_package(app, dbs, a, a_owner)
    published_package(app, dbs, b, b_owner)
    client.login("i16@cat.cn")
    page = client.form(
        "/provider/bundles/new", {"action": "find", "find": b.name, "package_ids": [str(first.id)]}
    ).get_data(as_text=True)
    assert a.name in page and b.name in page  # the chosen part stays, the search adds b's
    assert re.search(rf'<input checked[^>]*name="package_ids"[^>]*value="{first.id}"', page)
    narrowed = client.form(
        "/provider/bundles/new", {"action": "find", "find": "没有这个"}
    ).get_data(as_text=True)
    assert a.name not in narrowed and b.name not in narrowed
