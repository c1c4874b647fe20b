"""Contacts and site on the order: the enterprise gives its contact person and the delivery
site at checkout (prefilled from its profile), the provider sees them on its line, and the
enterprise sees the provider's contact person."""

import re

import pytest
from sqlalchemy import func, select

from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.security import Actor
from tests.functional.catalog_helpers import services
from tests.functional.orders.test_orders import shop  # noqa: F401  (the fixture)

SITE = "河北省石家庄市长安区中山东路 88 号二号车间"


@pytest.fixture
def profiled(dbs, shop):  # noqa: F811
    org = shop["org"]
    org.contact_phone = "0311-85551234"
    org.address = SITE
    dbs.commit()
    return shop


def review(client, s):
    return client.text(f"/my-bundles/{s['bundle'].id}/review")


def hidden_fields(page):
    start = page.index('class="checkout"')
    form = page[start : page.index("</form>", start)]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def checkout(client, s, **contact):
    page = review(client, s)
    data = {k: v for k, v in hidden_fields(page).items() if k != "csrf_token"}
    return client.form(f"/my-bundles/{s['bundle'].id}/checkout", {**data, **contact})


def orders_count(dbs):
    return dbs.scalar(select(func.count(Order.id)))


def test_the_review_prefills_the_contact_from_the_profile(client, dbs, profiled):
    client.login("e@ord.cn")
    page = review(client, profiled)
    user_name = profiled["org"].users[0].name
    assert 'name="contact_name"' in page and f'value="{user_name}"' in page
    assert 'value="0311-85551234"' in page and f'value="{SITE}"' in page
    assert "交付现场" in page and "联系人" in page


def test_the_contact_and_site_go_on_the_order_and_each_party_sees_the_other(client, dbs, profiled):
    client.login("e@ord.cn")
    response = checkout(
        client,
        profiled,
        contact_name=" 张 经理 ",
        contact_phone="139 1234 5678",
        site_address=SITE,
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    order = dbs.scalar(select(Order))
    assert (order.contact_name, order.contact_phone, order.site_address) == (
        "张 经理",
        "13912345678",
        SITE,
    )
    enterprise_page = client.text(response.headers["Location"])
    # the provider's contact person (the factory's provider: 王工, 13800000000) on each line
    assert enterprise_page.count("服务商联系人") == 2 and "王工" in enterprise_page
    assert 'href="tel:13800000000"' in enterprise_page
    client.form("/logout")
    client.login("a@ord.cn")
    provider_page = client.text(response.headers["Location"])
    assert "企业联系人" in provider_page and "张 经理" in provider_page
    assert 'href="tel:13912345678"' in provider_page and SITE in provider_page


@pytest.mark.parametrize(
    ("contact", "field", "message"),
    [
        ({"contact_phone": "1391234"}, "contact_phone", "请输入11位手机号"),
        ({"contact_phone": ""}, "contact_phone", "请输入11位手机号"),
        ({"site_address": "   "}, "site_address", "请填写交付现场的地址"),
        ({"contact_name": ""}, "contact_name", "请填写供服务商联系的联系人"),
        ({"site_address": "厂" * 201}, "site_address", "200"),
    ],
)
def test_bad_contact_is_refused_on_the_page_and_nothing_is_ordered(
    client, dbs, profiled, contact, field, message
):
    client.login("e@ord.cn")
    good = {"contact_name": "张经理", "contact_phone": "13912345678", "site_address": SITE}
    response = checkout(client, profiled, **{**good, **contact})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and f'id="{field}-error"' in page
    assert orders_count(dbs) == 0


def test_the_refusal_reads_in_english(english, dbs, profiled):
    english.login("e@ord.cn")
    response = checkout(
        english,
        profiled,
        contact_name="Zhang",
        contact_phone="0311-85551234",
        site_address="",
    )
    assert response.status_code == 422
    assert "Give the address of the delivery site." in response.get_data(as_text=True)
    assert orders_count(dbs) == 0


def test_the_service_refuses_a_bad_contact_too(app, dbs, profiled):
    user = profiled["org"].users[0]
    actor = Actor(user.id, profiled["org"].id, None)
    bad = orders.SiteContact(name="张经理", phone="12345", site=SITE)
    with services(app, dbs), pytest.raises(orders.DomainError) as refused:
        orders.checkout(profiled["org"], profiled["bundle"], actor, contact=bad)
    assert refused.value.field == "contact_phone"
    assert orders_count(dbs) == 0


def test_a_script_posting_only_a_key_keeps_the_profiles_contact(app, client, dbs, profiled):
    client.login("e@ord.cn")
    response = client.form(f"/my-bundles/{profiled['bundle'].id}/checkout", {"key": "k" * 20})
    assert response.status_code == 302
    order = dbs.scalar(select(Order))
    assert order.contact_phone == "0311-85551234" and order.site_address == SITE
    assert order.contact_name == profiled["org"].users[0].name


def test_an_order_without_a_contact_says_so_to_the_provider(client, dbs, shop):  # noqa: F811
    client.login("e@ord.cn")  # the factory's enterprise keeps no phone or address
    response = client.form(f"/my-bundles/{shop['bundle'].id}/checkout", {"key": "n" * 20})
    assert dbs.scalar(select(Order)).site_address is None
    client.form("/logout")
    client.login("a@ord.cn")
    assert "尚未要求填写联系人和交付现场" in client.text(response.headers["Location"])
