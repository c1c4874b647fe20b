"""Outcome-contract and invoice pages as the parties use them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from marketplace.db import local_today
from marketplace.errors import DomainError
from marketplace.orders.models import LineEvent
from marketplace.outcomes.models import ContractStatus, MeasurementStatus
from marketplace.payments.models import Invoice, InvoiceStatus
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.outcomes.test_outcomes import contract_of, order_outcome_line
from tests.functional.voucher_helpers import pilot


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="op")


def logout(client):
    client.post("/logout", data={"csrf_token": client.csrf_token()})


def test_the_contract_from_baseline_to_success_fee(app, dbs, client, p):
    line = order_outcome_line(
        app, dbs, p, LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER, LineEvent.ACCEPT_DELIVERY
    )
    c = contract_of(dbs, line)
    today = local_today()
    client.login("provider@op.cn")
    bad = client.form(
        f"/contracts/{c.id}/baseline",
        {
            "value": "101",
            "period_start": (today - timedelta(days=30)).isoformat(),
            "period_end": today.isoformat(),
            "evidence": "MES 月报",
        },
    )
    assert bad.status_code == 422 and "100" in bad.get_data(as_text=True)
    ok = client.form(
        f"/contracts/{c.id}/baseline",
        {
            "value": "60",
            "period_start": (today - timedelta(days=30)).isoformat(),
            "period_end": today.isoformat(),
            "evidence": "MES 月报",
        },
    )
    assert ok.status_code == 302
    logout(client)
    client.login("owner@op.cn")
    client.form(f"/contracts/{c.id}/baseline/agree")
    dbs.refresh(c)
    assert c.status is ContractStatus.MEASURING  # the delivery was accepted already
    logout(client)
    client.login("provider@op.cn")
    reading = {
        "external_id": "mes-2026-11",
        "period_start": today.isoformat(),
        "period_end": today.isoformat(),
        "value": "66",
        "note": "",
    }
    assert client.form(f"/contracts/{c.id}/measurements", reading).status_code == 302
    assert client.form(f"/contracts/{c.id}/measurements", reading).status_code == 302
    assert (
        client.form(f"/contracts/{c.id}/measurements", {**reading, "value": "67"}).status_code
        == 422
    )
    assert len(c.measurements) == 1
    logout(client)
    client.login("owner@op.cn")
    m = c.measurements[0]
    client.form(f"/measurements/{m.id}/confirm")
    dbs.refresh(m)
    assert m.status is MeasurementStatus.CONFIRMED
    assert client.form(f"/measurements/{m.id}/verify").status_code == 404  # not the assessor's
    logout(client)
    c.window_end = today - timedelta(days=1)
    c.window_start = today - timedelta(days=91)
    dbs.commit()
    client.login("official@op.cn")
    client.form(f"/contracts/{c.id}/settle")
    dbs.refresh(c)
    assert c.status is ContractStatus.MET
    page = client.text(f"/contracts/{c.id}")
    assert "¥30,000.00" in page
    fee = dbs.scalar(select(Invoice).where(Invoice.kind == "success_fee"))
    logout(client)
    client.login("owner@op.cn")
    invoice_page = client.text(f"/invoices/{fee.id}")
    assert fee.number in invoice_page
    logout(client)
    client.login("provider@op.cn")
    paid = client.form(
        f"/invoices/{fee.id}/payments",
        {"amount": "30000", "reference": "HX-OUT-1", "received_on": today.isoformat()},
    )
    assert paid.status_code == 302
    dbs.refresh(fee)
    assert fee.status is InvoiceStatus.PAID


def test_strangers_see_no_contract_or_invoice(app, dbs, client, p):
    line = order_outcome_line(
        app, dbs, p, LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER, LineEvent.ACCEPT_DELIVERY
    )
    c = contract_of(dbs, line)
    invoice = dbs.scalar(select(Invoice))  # the base fee, invoiced at 验收
    other = OrganisationFactory()
    UserFactory(org=other, email="nosy@op.cn")
    client.login("nosy@op.cn")
    assert client.get(f"/contracts/{c.id}").status_code == 404
    assert client.get(f"/invoices/{invoice.id}").status_code == 404
    logout(client)
    client.login("owner@op.cn")  # the enterprise may not record payments or void
    assert client.form(f"/invoices/{invoice.id}/void", {"reason": "x"}).status_code == 403
    page = client.text("/invoices")
    assert invoice.number in page


def test_baseline_evidence_files_are_checked_and_shown_to_the_parties(app, dbs, client, p):
    import io

    line = order_outcome_line(app, dbs, p)
    c = contract_of(dbs, line)
    today = local_today()
    form = {
        "value": "60",
        "period_start": (today - timedelta(days=30)).isoformat(),
        "period_end": today.isoformat(),
        "evidence": "MES 月报",
    }
    client.login("provider@op.cn")
    for name, data in [("报表.exe", b"MZ..."), ("报表.pdf", b"not a pdf")]:
        refused = client.form(
            f"/contracts/{c.id}/baseline",
            {**form, "evidence_file": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )
        assert refused.status_code in (413, 422), name
    from marketplace.outcomes import services as outcomes

    too_big = outcomes.EvidenceFile("big.pdf", b"%PDF" + b"0" * outcomes.MAX_EVIDENCE_BYTES)
    with app.app_context(), pytest.raises(DomainError) as error:
        outcomes._checked_file(too_big)  # (the test client cannot send it without leaking)
    assert error.value.field == "evidence_file"
    dbs.refresh(c)
    assert c.status is ContractStatus.AWAITING_BASELINE  # nothing stored
    ok = client.form(
        f"/contracts/{c.id}/baseline",
        {**form, "evidence_file": (io.BytesIO(b"%PDF-1.7 demo"), "OEE 月报.pdf")},
        content_type="multipart/form-data",
    )
    assert ok.status_code == 302
    logout(client)
    client.login("owner@op.cn")
    got = client.get(f"/contracts/{c.id}/evidence")
    assert got.status_code == 200 and got.data == b"%PDF-1.7 demo"
    assert got.mimetype == "application/pdf" and "attachment" in got.headers["Content-Disposition"]
    logout(client)
    other = OrganisationFactory()
    UserFactory(org=other, email="nosy2@op.cn")
    client.login("nosy2@op.cn")
    assert client.get(f"/contracts/{c.id}/evidence").status_code == 404
