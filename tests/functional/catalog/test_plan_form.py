"""The price-plan form: one part per kind of plan; a value in another kind's part is refused."""

import re

from sqlalchemy import func, select

from marketplace.catalog.models import PlanKind, PricePlan
from tests.functional.catalog.test_catalog import ONE_TIME, OUTCOME, new_draft
from tests.functional.catalog_helpers import provider_with_owner

SUBSCRIPTION = {"kind": "subscription", "name": "年度订阅", "monthly": "2,000", "term_months": "12"}


def plan_count(dbs):
    dbs.expire_all()
    return dbs.scalar(select(func.count(PricePlan.id)))


def test_the_form_groups_fields_by_kind_and_loads_its_script(client, dbs):
    provider_with_owner("pf1@cat.cn")
    client.login("pf1@cat.cn")
    package_id = new_draft(client)
    page = client.text(f"/provider/packages/{package_id}")
    form = page[page.index("data-plan-form") : page.index("js/plan_form.js")]
    parts = re.findall(r'<fieldset class="group" data-plan-kind="(\w+)"><legend>([^<]+)<', form)
    assert parts == [
        ("one_time", "仅用于一次性付费方案"),
        ("subscription", "仅用于订阅方案"),
        ("outcome", "仅用于按效果付费方案"),
        ("usage", "仅用于按用量付费方案"),
    ]
    assert {kind for kind, _ in parts} == {k.value for k in PlanKind}
    # Each field sits in its own kind's part.
    one_time, subscription, outcome, usage = re.split(r"<fieldset[^>]*data-plan-kind=", form)[1:]
    assert 'name="amount"' in one_time and 'name="monthly"' not in one_time
    assert 'name="term_months"' in subscription and 'name="billed_monthly"' in subscription
    assert all(
        f'name="{name}"' in outcome
        for name in ("metric_code", "target_value", "fee_rule", "fee_cap", "window_days")
    )
    assert all(
        f'name="{name}"' in usage
        for name in ("usage_unit", "unit_price", "included_quantity", "minimum", "cap", "tiers")
    )
    assert "<script>" not in page  # the CSP forbids inline scripts
    client.form("/language", {"lang": "en"})
    english = client.text(f"/provider/packages/{package_id}")
    assert "For pay-for-results plans only" in english
    script = client.get("/static/js/plan_form.js")
    assert script.status_code == 200 and b"data-plan-kind" in script.data
    script.close()


def test_a_value_in_another_kinds_part_is_refused_and_nothing_stored(client, dbs):
    provider_with_owner("pf2@cat.cn")
    client.login("pf2@cat.cn")
    package_id = new_draft(client)
    before = plan_count(dbs)
    cases = [
        ({**ONE_TIME, "monthly": "100"}, "monthly", "订阅"),
        ({**ONE_TIME, "billed_monthly": "y"}, "billed_monthly", "订阅"),
        ({**ONE_TIME, "window_days": "90"}, "window_days", "按效果付费"),
        ({**SUBSCRIPTION, "amount": "100"}, "amount", "一次性付费"),
        ({**SUBSCRIPTION, "metric_code": "oee"}, "metric_code", "按效果付费"),
        ({**OUTCOME, "amount": "38,000"}, "amount", "一次性付费"),
        ({**OUTCOME, "term_months": "12"}, "term_months", "订阅"),
    ]
    for data, field, other in cases:
        response = client.form(f"/provider/packages/{package_id}/plans", data)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, data
        error = re.search(rf'id="{field}-error">([^<]+)<', page)
        assert error, (data, field)
        assert f"此项属于“{other}”方案" in error.group(1), error.group(1)
    assert plan_count(dbs) == before

    client.form("/language", {"lang": "en"})
    english = client.form(
        f"/provider/packages/{package_id}/plans", {**ONE_TIME, "monthly": "100"}
    ).get_data(as_text=True)
    assert "This field belongs to the kind “Subscription”" in english


def test_each_kind_is_stored_with_only_its_own_fields(client, dbs):
    provider_with_owner("pf3@cat.cn")
    client.login("pf3@cat.cn")
    package_id = new_draft(client)
    # The outcome part's two lists always post a choice, as a browser without script does.
    lists = {"target_kind": "relative", "fee_rule": "fixed"}
    for data in ({**ONE_TIME, **lists}, {**SUBSCRIPTION, **lists}, OUTCOME):
        response = client.form(f"/provider/packages/{package_id}/plans", data)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    dbs.expire_all()
    plans = dbs.scalars(select(PricePlan).order_by(PricePlan.position)).all()
    one_time, subscription, outcome = plans[-3:]
    assert one_time.amount_fen == 38_000_00 and one_time.fee_rule is None
    assert one_time.target_kind is None and one_time.monthly_fen is None
    assert subscription.monthly_fen == 2_000_00 and subscription.amount_fen is None
    assert subscription.fee_rule is None and subscription.metric_code is None
    assert outcome.amount_fen is None and outcome.monthly_fen is None
    assert outcome.fee_cap_fen == 30_000_00
