"""Plans change in place: in a bundle, switching a package's price plan swaps that line and
the totals (htmx), and without script posts and comes back to the page; the item stays the
same row (not removed and added again)."""

import re
from dataclasses import replace

from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.orders import bundles as bundle_service
from marketplace.orders.models import BundleItem
from tests.functional.catalog_helpers import SUBSCRIPTION, published_package, services
from tests.functional.orders.test_bundles import add, bundle_of, market  # noqa: F401
from tests.functional.voucher_helpers import ONE_TIME, pilot


def htmx_post(client, url, data):
    return client.post(
        url, data=data, headers={"HX-Request": "true", "X-CSRFToken": client.csrf_token()}
    )


def two_line_bundle(client, dbs, market):  # noqa: F811
    client.login("e@bun.cn")
    add(client, market["gateway"], bundle_id="new")
    # the subscription, not the board's default (the lowest commitment: the outcome plan)
    add(client, market["board"], plan_id=str(market["board"].published_version.plans[0].id))
    return bundle_of(dbs, market["org"])


def test_a_plan_switch_swaps_the_line_and_the_totals(client, dbs, market):  # noqa: F811
    b = two_line_bundle(client, dbs, market)
    board_item = b.items[1]
    item_id, items_before = board_item.id, dbs.scalar(select(func.count(BundleItem.id)))
    page = client.text(f"/my-bundles/{b.id}")
    assert f'hx-post="/my-bundles/{b.id}/items/{item_id}/plan"' in page
    assert 'id="bundle-totals"' in page and "¥42,000.00" in page  # 30,000 + the board's 1,000 × 12

    outcome_plan = market["board"].published_version.plans[1]
    response = htmx_post(
        client, f"/my-bundles/{b.id}/items/{item_id}/plan", {"plan_id": str(outcome_plan.id)}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]
    # the line itself, its new plan selected
    assert body.lstrip().startswith(f'<div class="bundle-line" id="item-{item_id}">')
    assert re.search(rf'<option value="{outcome_plan.id}" selected>', body)
    # the totals, out of band, as the service computes them now: 30,000 + the 5,000 base fee
    totals = body[body.index('id="bundle-totals"') :]
    assert 'hx-swap-oob="true"' in totals[:120] and "¥35,000.00" in totals
    assert "¥42,000.00" not in body
    # the other line's voucher part too (the vouchers are shared out again)
    assert f'id="subsidy-{b.items[0].id}" hx-swap-oob="true"' in body
    dbs.expire_all()
    same = dbs.get(BundleItem, item_id)
    assert same.plan_id == outcome_plan.id
    assert dbs.scalar(select(func.count(BundleItem.id))) == items_before
    actions = dbs.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(b.id))).all()
    assert "bundle.plan_chosen" in actions and "bundle.item_removed" not in actions


def test_a_refused_plan_is_said_in_the_line_and_changes_nothing(client, dbs, market):  # noqa: F811
    b = two_line_bundle(client, dbs, market)
    board_item = b.items[1]
    plan_before = board_item.plan_id
    wrong = market["gateway"].published_version.plans[0]
    response = htmx_post(
        client, f"/my-bundles/{b.id}/items/{board_item.id}/plan", {"plan_id": str(wrong.id)}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'role="alert"' in body
    assert "请选择该转型包的价格方案" in body
    dbs.expire_all()
    assert dbs.get(BundleItem, board_item.id).plan_id == plan_before


def test_without_script_the_switch_posts_and_comes_back(client, dbs, market):  # noqa: F811
    b = two_line_bundle(client, dbs, market)
    outcome_plan = market["board"].published_version.plans[1]
    response = client.form(
        f"/my-bundles/{b.id}/items/{b.items[1].id}/plan", {"plan_id": str(outcome_plan.id)}
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/my-bundles/{b.id}"
    assert "¥35,000.00" in client.text(f"/my-bundles/{b.id}")


def test_the_swapped_line_carries_its_new_voucher_part(app, client, dbs):
    """With a voucher (50 % up to ¥20,000): the changed line's voucher part and the totals
    in the answer are the ones the page shows after a reload."""
    p = pilot(app, dbs, tag="inplace")
    p.issue_to(p.programme())
    cheap = replace(SUBSCRIPTION, name="月付", monthly_fen=500_00, term_months=12)
    package = published_package(
        app, dbs, p.provider, p.provider_owner, plans=(ONE_TIME, cheap), title="生产看板"
    )
    one_time = next(plan for plan in package.published_version.plans if plan.name != "月付")
    with services(app, dbs):
        b = bundle_service.create(p.enterprise, "看板方案", p.enterprise_actor)
        bundle_service.add(b, package.id, one_time.id, p.enterprise_actor)
    dbs.expire_all()
    item = next(i for i in b.items if i.package_id == package.id)
    monthly = next(plan for plan in package.published_version.plans if plan.name == "月付")
    client.login(p.owner.email)
    assert "¥20,000.00" in client.text(f"/my-bundles/{b.id}")  # the whole voucher, at first
    response = htmx_post(
        client, f"/my-bundles/{b.id}/items/{item.id}/plan", {"plan_id": str(monthly.id)}
    )
    body = response.get_data(as_text=True)
    line = body[: body.index("hx-swap-oob")]
    page = client.text(f"/my-bundles/{b.id}")
    shown = re.search(rf'id="subsidy-{item.id}">([^<]*)<', page).group(1)
    assert "¥3,000.00" in shown and shown in line  # half of ¥6,000, as the page says it
    totals = body[body.index('id="bundle-totals"') :]
    reloaded = page[page.index('id="bundle-totals"') :]
    assert (
        totals[totals.index("<dl") : totals.index("</dl>")]
        == reloaded[reloaded.index("<dl") : reloaded.index("</dl>")]
    )
