"""The invoice page and list: due date (past due marked), both parties' 统一社会信用代码, the
seller's bank account as it was at issue, a print button; others get 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from marketplace.db import local_today
from marketplace.orders import services as orders
from marketplace.payments.models import Invoice
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.order_helpers import accept_delivery
from tests.functional.voucher_helpers import pilot

BANK = ("中国工商银行石家庄中华大街支行", "0402020509300123456")


@pytest.fixture
def p(app, dbs):
    p = pilot(app, dbs, tag="ip")
    p.provider.bank_name, p.provider.bank_account = BANK
    dbs.commit()
    return p


@pytest.fixture
def invoice(app, dbs, p):
    with services(app, dbs):
        accept_delivery(orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor).lines[0])
    return dbs.scalar(select(Invoice))


def test_the_invoice_page_shows_due_date_parties_and_bank_details(client, dbs, p, invoice):
    due = invoice.due_on
    assert due == local_today() + timedelta(days=30)
    for email in ("owner@ip.cn", "provider@ip.cn"):
        client.login(email)
        page = client.text(f"/invoices/{invoice.id}")
        assert "销售方" in page and "购买方" in page and "统一社会信用代码" in page
        assert p.provider.credit_code in page and p.enterprise.credit_code in page
        assert BANK[0] in page and BANK[1] in page
        assert "付款期限" in page and f"{due.year}年{due.month}月{due.day}日" in page
        assert "付款附言" in page and invoice.number in page
        assert "转型包服务市场" in page  # the platform heads the printed page
        assert "data-print" in page and "js/print.js" in page and "已逾期" not in page
        client.post("/logout", data={"csrf_token": client.csrf_token()})


def test_the_invoice_shows_the_parties_as_they_were_when_issued(client, dbs, p, invoice):
    old_name, old_code = p.provider.name, p.provider.credit_code
    p.provider.name = "改名后的数字科技有限公司"
    p.provider.bank_name, p.provider.bank_account = "中国银行", "9999888877776666"
    p.enterprise.name = "改名后的机械有限公司"
    dbs.commit()
    client.login("owner@ip.cn")
    page = client.text(f"/invoices/{invoice.id}")
    document = page[page.index('<article class="card invoice">') : page.index("</article>")]
    assert old_name in document and old_code in document and BANK[1] in document
    assert "9999888877776666" not in document and "改名后的" not in document
    dbs.refresh(invoice)
    assert (invoice.seller_bank_name, invoice.seller_bank_account) == BANK


def test_past_due_is_marked_on_the_page_and_the_list(client, english, dbs, invoice):
    dbs.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id)
        .values(due_on=local_today() - timedelta(days=1))
    )
    dbs.commit()
    client.login("owner@ip.cn")
    page = client.text(f"/invoices/{invoice.id}")
    assert "Past due" in page and "Seller" in page and "Unified social credit code" in page
    listing = client.text("/invoices")
    assert "Due by" in listing and "Past due" in listing


def test_a_paid_invoice_is_not_past_due(app, client, dbs, invoice):
    from marketplace.db import utcnow
    from marketplace.payments import services as payments
    from marketplace.security import Actor

    with services(app, dbs):
        payments.record_transfer(
            invoice, invoice.amount_fen, "HX-IP-1", utcnow(), Actor(None, None, None)
        )
    dbs.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id)
        .values(due_on=local_today() - timedelta(days=1))
    )
    dbs.commit()
    client.login("owner@ip.cn")
    assert "已逾期" not in client.text(f"/invoices/{invoice.id}")
    assert "已逾期" not in client.text("/invoices")


def test_another_organisation_gets_404(client, dbs, invoice):
    for org in (OrganisationFactory(), OrganisationFactory(provider=True)):
        email = f"nosy{org.id}@ip.cn"
        UserFactory(org=org, email=email)
        client.login(email)
        assert client.get(f"/invoices/{invoice.id}").status_code == 404
        client.post("/logout", data={"csrf_token": client.csrf_token()})
