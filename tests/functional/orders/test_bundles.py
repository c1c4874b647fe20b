"""Enterprise bundles: adding, plans, totals and the interoperability check."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.catalog import curated_bundles
from marketplace.catalog import services as catalog
from marketplace.orders.models import Bundle, BundleItem
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)


def publish(app, dbs, provider, owner, interfaces, plans, **changes):
    return published_package(
        app, dbs, provider, owner, plans=plans, interfaces=interfaces, **changes
    )


ONE_TIME = catalog.PlanFields(kind="one_time", name="买断", amount_fen=30_000_00)
MONTHLY = catalog.PlanFields(kind="subscription", name="订阅", monthly_fen=1_000_00, term_months=12)
OUTCOME = catalog.PlanFields(
    kind="outcome",
    name="按效果",
    metric_code="oee",
    target_kind="absolute",
    target_value=Decimal(5),
    fee_rule="per_unit",
    fee_per_unit_fen=2_000_00,
    fee_cap_fen=20_000_00,
    base_fee_fen=5_000_00,
    window_days=90,
)


@pytest.fixture
def market(app, dbs):
    agency, _ = agency_with_official("o@bun.cn")
    p, owner = provider_with_owner("p@bun.cn")
    membership(dbs, p, agency)
    pkgs = {
        "gateway": publish(
            app,
            dbs,
            p,
            owner,
            [("consumes", "opc_ua", "device_telemetry"), ("produces", "mqtt", "device_telemetry")],
            [ONE_TIME],
            title="联网网关",
            category_code="equipment_networking",
            go_live_days=10,
        ),
        "board": publish(
            app,
            dbs,
            p,
            owner,
            [
                ("consumes", "mqtt", "device_telemetry"),
                ("consumes", "rest_json", "production_orders"),
            ],
            [MONTHLY, OUTCOME],
            title="生产看板",
            category_code="production_visualisation",
            go_live_days=20,
        ),
        "pm": publish(
            app,
            dbs,
            p,
            owner,
            [("consumes", "opc_ua", "device_telemetry")],
            [MONTHLY],
            title="预测维护",
            category_code="predictive_maintenance",
            go_live_days=30,
        ),
        "bridge": publish(
            app,
            dbs,
            p,
            owner,
            [("consumes", "mqtt", "device_telemetry"), ("produces", "opc_ua", "device_telemetry")],
            [ONE_TIME],
            title="协议转换器",
            category_code="data_platform",
            go_live_days=5,
        ),
        "mes": publish(
            app,
            dbs,
            p,
            owner,
            [("produces", "rest_json", "production_orders")],
            [ONE_TIME],
            title="轻量 MES",
            category_code="mes",
            go_live_days=15,
        ),
        "gateway2": publish(
            app,
            dbs,
            p,
            owner,
            [("produces", "mqtt", "device_telemetry")],
            [ONE_TIME],
            title="另一个网关",
            category_code="equipment_networking",
            go_live_days=3,
        ),
    }
    org = OrganisationFactory()
    user = UserFactory(org=org, email="e@bun.cn")
    return {**pkgs, "org": org, "user": user, "provider": p, "agency": agency}


def curated_bundle(app, dbs, market, name, fee_fen, suffix):
    """An admitted integrator's curated bundle: the market's gateway and another provider's MES."""
    integrator, i_owner = provider_with_owner(f"i{suffix}@bun.cn", integrator=True)
    other, other_owner = provider_with_owner(f"q{suffix}@bun.cn")
    membership(dbs, integrator, market["agency"])
    membership(dbs, other, market["agency"])
    extra = publish(
        app,
        dbs,
        other,
        other_owner,
        [("produces", "rest_json", "production_orders")],
        [ONE_TIME],
        title=f"另一家 MES{suffix}",
        category_code="mes",
    )
    fields = curated_bundles.BundleFields(
        name, "", "machining", "small", fee_fen, [market["gateway"].id, extra.id]
    )
    with services(app, dbs):
        curated = curated_bundles.create_bundle(
            integrator, fields, Actor(i_owner.id, integrator.id, None)
        )
    return curated, integrator, extra


def add(client, package, follow_redirects=False, **extra):
    data = {"package_id": str(package.id), **extra}
    return client.form("/my-bundles/add", data, follow_redirects=follow_redirects)


def bundle_of(dbs, org):
    dbs.expire_all()
    return dbs.scalar(
        select(Bundle).where(Bundle.enterprise_id == org.id).order_by(Bundle.id.desc())
    )


def test_adding_choosing_plans_and_totals(client, dbs, market):
    client.login("e@bun.cn")
    assert add(client, market["gateway"], bundle_id="new").status_code == 302
    b = bundle_of(dbs, market["org"])
    assert b.name == "我的组合方案 1"
    add(client, market["board"])  # goes to the latest bundle
    b = bundle_of(dbs, market["org"])
    assert [i.package_id for i in b.items] == [market["gateway"].id, market["board"].id]

    before = dbs.scalar(select(func.count(BundleItem.id)))
    page = add(client, market["board"], bundle_id=str(b.id), follow_redirects=True).get_data(
        as_text=True
    )
    assert "该转型包已在组合方案中" in page
    assert dbs.scalar(select(func.count(BundleItem.id))) == before

    outcome_plan = market["board"].published_version.plans[1]
    board_item = b.items[1]
    client.form(f"/my-bundles/{b.id}/items/{board_item.id}/plan", {"plan_id": str(outcome_plan.id)})
    wrong_plan = market["gateway"].published_version.plans[0]
    page = client.form(
        f"/my-bundles/{b.id}/items/{board_item.id}/plan",
        {"plan_id": str(wrong_plan.id)},
        follow_redirects=True,
    )
    assert "请选择该转型包的价格方案" in page.get_data(as_text=True)

    page = client.text(f"/my-bundles/{b.id}")
    assert "¥30,000.00" in page  # one-time gateway
    assert "¥5,000.00" in page  # the outcome plan's base fee
    assert "¥35,000.00" in page  # committed in all
    assert "最高 ¥15,000.00，仅在达标后收取" in page  # the cap (¥20,000) includes the base fee
    assert "20 天" in page  # longest go-live


def test_interoperability_check(client, dbs, market):
    client.login("e@bun.cn")
    add(client, market["gateway"], bundle_id="new")
    add(client, market["board"])
    add(client, market["pm"])
    add(client, market["gateway2"])
    b = bundle_of(dbs, market["org"])
    page = client.text(f"/my-bundles/{b.id}")
    # gateway → board over MQTT works
    assert "联网网关 通过 MQTT 把 设备运行数据 发送给 生产看板" in page
    # gateway sends telemetry by MQTT; predictive maintenance reads OPC UA only: a missing link, and the bridge is suggested
    assert "没有共同的协议" in page and "协议转换器" in page
    # the board reads production orders that nothing produces: MES is suggested
    assert "但组合中没有转型包产生这类数据" in page and "轻量 MES" in page
    # the gateway reads the machines themselves (OPC UA): that is not a gap
    assert "联网网关 需要" not in page
    # two equipment-networking packages
    assert "两个同类转型包（设备联网）" in page


def test_htmx_quick_add(client, dbs, market):
    client.login("e@bun.cn")
    response = client.post(
        "/my-bundles/add",
        data={"package_id": str(market["gateway"].id)},
        headers={"HX-Request": "true", "X-CSRFToken": client.csrf_token()},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "已加入" in body
    again = client.post(
        "/my-bundles/add",
        data={"package_id": str(market["gateway"].id)},
        headers={"HX-Request": "true", "X-CSRFToken": client.csrf_token()},
    )
    assert again.status_code == 422 and "已在组合方案中" in again.get_data(as_text=True)


def test_another_enterprises_bundle_is_404(app, client, dbs, market):
    other = OrganisationFactory()
    other_user = UserFactory(org=other)
    from marketplace.orders import bundles

    with services(app, dbs):
        theirs = bundles.create(other, "他们的方案", Actor(other_user.id, other.id, None))
        item = bundles.add(theirs, market["gateway"].id, None, Actor(other_user.id, other.id, None))
    client.login("e@bun.cn")
    assert client.get(f"/my-bundles/{theirs.id}").status_code == 404
    assert client.form(f"/my-bundles/{theirs.id}/items/{item.id}/delete").status_code == 404
    assert (
        client.form(f"/my-bundles/{theirs.id}/items/{item.id}/plan", {"plan_id": "1"}).status_code
        == 404
    )
    assert add(client, market["board"], bundle_id=str(theirs.id)).status_code == 404
    dbs.expire_all()
    assert len(dbs.get(Bundle, theirs.id).items) == 1


def test_bad_adds(client, dbs, market):
    client.login("e@bun.cn")
    for package_id in ["999999", "abc", ""]:
        response = client.form(
            "/my-bundles/add", {"package_id": package_id, "bundle_id": "new"}, follow_redirects=True
        )
        assert response.status_code in (200, 404)
    wrong_plan = market["board"].published_version.plans[0].id
    add(client, market["gateway"], bundle_id="new", plan_id=str(wrong_plan))
    assert dbs.scalar(select(func.count(BundleItem.id))) == 0
    assert dbs.scalar(select(func.count(Bundle.id))) == 0  # no empty bundle left behind


def test_start_from_a_curated_bundle(app, client, dbs, market):
    curated, _integrator, extra = curated_bundle(app, dbs, market, "低成本上云套餐", 8_000_00, "")
    client.login("e@bun.cn")
    assert "从这个套餐开始我的组合方案" in client.text(f"/bundles/{curated.id}")
    response = client.form(f"/my-bundles/from-curated/{curated.id}")
    assert response.status_code == 302
    b = bundle_of(dbs, market["org"])
    assert b.name == "低成本上云套餐" and b.curated_bundle_id == curated.id
    assert {i.package_id for i in b.items} == {market["gateway"].id, extra.id}


def test_a_curated_bundle_too_big_to_copy_leaves_no_half_bundle(app, client, dbs, market):
    """Copying a curated bundle of 13 packages makes the bundle, adds 12, then refuses the
    13th. The view answers the error with a redirect, which commits: the service's savepoint
    (@atomic) must have undone the bundle and its items."""
    from marketplace.accounts.models import User
    from marketplace.orders.bundles import MAX_ITEMS

    owner = dbs.scalar(select(User).where(User.email == "p@bun.cn"))
    interface = [("consumes", "mqtt", "device_telemetry")]
    more = [
        publish(app, dbs, market["provider"], owner, interface, [ONE_TIME], title=f"加装包 {n}")
        for n in range(MAX_ITEMS - 6)
    ]
    packages = [market[k] for k in ("gateway", "board", "pm", "bridge", "mes", "gateway2")]
    _small, integrator, extra = curated_bundle(app, dbs, market, "小套餐", 0, "big")
    i_owner = dbs.scalar(select(User).where(User.email == "ibig@bun.cn"))
    ids = [p.id for p in [*packages, *more, extra]]
    assert len(ids) == MAX_ITEMS + 1
    fields = curated_bundles.BundleFields("全家桶", "", "machining", "small", 0, ids)
    with services(app, dbs):
        big = curated_bundles.create_bundle(
            integrator, fields, Actor(i_owner.id, integrator.id, None)
        )
    client.login("e@bun.cn")
    response = client.form(f"/my-bundles/from-curated/{big.id}", follow_redirects=True)
    assert response.request.path == "/my-bundles"
    assert "一个组合方案最多包含 12 个转型包" in response.get_data(as_text=True)
    dbs.expire_all()
    assert bundle_of(dbs, market["org"]) is None
    assert dbs.scalar(select(func.count(BundleItem.id))) == 0


def test_a_package_that_left_the_catalogue_is_marked(app, client, dbs, market):
    from marketplace.pool.models import PoolMembership, PoolStatus

    client.login("e@bun.cn")
    add(client, market["gateway"], bundle_id="new")
    b = bundle_of(dbs, market["org"])
    m = dbs.scalar(
        select(PoolMembership).where(PoolMembership.provider_id == market["provider"].id)
    )
    m.status = PoolStatus.SUSPENDED
    dbs.commit()
    page = client.text(f"/my-bundles/{b.id}")
    assert "已不在目录中" in page and "¥0.00" in page


def test_a_curated_bundle_ordered_whole_bills_its_integration_fee(app, client, dbs, market):
    from marketplace.orders.models import Order

    curated, integrator, _extra = curated_bundle(app, dbs, market, "上云套餐", 8_000_00, "2")
    client.login("e@bun.cn")
    path = client.form(f"/my-bundles/from-curated/{curated.id}").headers["Location"]
    page = client.text(path)
    assert "¥8,000.00" in page and "¥68,000.00" in page  # 30,000 + 30,000 + the integration fee
    client.form(path + "/checkout", {"key": "x" * 32})
    order = dbs.scalar(select(Order))
    integration = [
        (line.provider_id, line.committed_fen) for line in order.lines if line.kind == "integration"
    ]
    assert integration == [(integrator.id, 8_000_00)]
    assert order.committed_fen == 68_000_00

    # the enterprise drops a part: the integrator's fee no longer applies
    b = bundle_of(dbs, market["org"])
    client.form(f"/my-bundles/{b.id}/items/{b.items[0].id}/delete")
    assert "仅在保留其全部转型包时收取" in client.text(path)
