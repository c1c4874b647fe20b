"""Whatever moves money asks the official to confirm the amount (issue 20): issuing one
voucher or a batch, approving an application, approving and paying a settlement. The page
shows a box stating the amount ("确认发放 ¥X"); without it ticked, or for another amount,
the server refuses and stores nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from marketplace.vouchers.models import (
    IssueRun,
    Settlement,
    SettlementStatus,
    Voucher,
    VoucherApplication,
)
from tests.factories import OrganisationFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import key, pilot
from tests.functional.vouchers.test_vouchers import accepted_order

FACE = "2000000"  # ¥20,000.00 in fen


@pytest.fixture
def p(app, dbs, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    return pilot(app, dbs, tag="sure")


def vouchers(dbs):
    return dbs.scalar(select(func.count(Voucher.id)))


def test_issuing_one_voucher_needs_the_amount_confirmed(client, dbs, p):
    programme = p.programme()
    client.login("official@sure.cn")
    page = client.text(f"/agency/programmes/{programme.id}")
    assert "确认发放 ¥20,000.00" in page
    url = f"/agency/programmes/{programme.id}/issue-one"
    code = p.enterprise.credit_code
    unticked = client.form(
        url, {"key": key(), "credit_code": code, "total_fen": FACE}, follow_redirects=True
    )
    assert "请勾选确认金额" in unticked.get_data(as_text=True)
    other_amount = client.form(
        url,
        {"key": key(), "credit_code": code, "total_fen": "100", "confirmed": "y"},
        follow_redirects=True,
    )
    assert "而非您确认的 ¥1.00" in other_amount.get_data(as_text=True)
    assert vouchers(dbs) == 0 and dbs.scalar(select(func.count(IssueRun.id))) == 0
    client.form(url, {"key": key(), "credit_code": code, "total_fen": FACE, "confirmed": "y"})
    assert vouchers(dbs) == 1


def test_a_batch_needs_its_total_confirmed(client, dbs, p):
    programme = p.programme()
    OrganisationFactory()  # a second eligible enterprise: the batch is ¥40,000
    client.login("official@sure.cn")
    page = client.text(f"/agency/programmes/{programme.id}/issue")
    assert "确认发放 ¥40,000.00" in page and 'name="total_fen" value="4000000"' in page
    form_key = re.search(r'name="key"[^>]*value="([^"]+)"', page).group(1)
    url = f"/agency/programmes/{programme.id}/issue"
    unticked = client.form(url, {"key": form_key, "total_fen": "4000000"})
    assert unticked.status_code == 422 and "请勾选确认金额" in unticked.get_data(as_text=True)
    stale = client.form(url, {"key": key(), "total_fen": FACE, "confirmed": "y"})
    assert stale.status_code == 422 and "金额为 ¥40,000.00" in stale.get_data(as_text=True)
    assert vouchers(dbs) == 0
    done = client.form(url, {"key": form_key, "total_fen": "4000000", "confirmed": "y"})
    assert done.status_code == 302 and vouchers(dbs) == 2


def test_the_confirmation_in_english(english, dbs, p):
    programme = p.programme()
    english.login("official@sure.cn")
    page = english.text(f"/agency/programmes/{programme.id}")
    assert "I confirm issuing ¥20,000.00" in page
    refused = english.form(
        f"/agency/programmes/{programme.id}/issue-one",
        {"key": key(), "credit_code": p.enterprise.credit_code, "total_fen": FACE},
        follow_redirects=True,
    )
    assert "Tick the box to confirm the amount." in refused.get_data(as_text=True)
    assert vouchers(dbs) == 0


def test_approving_an_application_needs_the_amount_confirmed(client, dbs, p):
    programme = p.programme()
    client.login("owner@sure.cn")
    client.form(f"/programmes/{programme.id}/apply", {"note": "用于设备联网"})
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login("official@sure.cn")
    page = client.text(f"/agency/programmes/{programme.id}")
    application_id = re.search(r"/agency/voucher-applications/(\d+)", page).group(1)
    assert f'id="confirm-application-{application_id}"' in page
    url = f"/agency/voucher-applications/{application_id}"
    unticked = client.form(url, {"decision": "approve", "total_fen": FACE}, follow_redirects=True)
    assert "请勾选确认金额" in unticked.get_data(as_text=True)
    other = client.form(url, {"decision": "approve", "total_fen": "1", "confirmed": "y"})
    assert other.status_code == 302
    assert vouchers(dbs) == 0
    assert dbs.scalar(select(VoucherApplication.status)).value == "pending"
    client.form(url, {"decision": "approve", "total_fen": FACE, "confirmed": "y"})
    assert vouchers(dbs) == 1


def test_approving_and_paying_a_settlement_need_the_total_confirmed(app, client, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        from marketplace.vouchers import settlement

        s = settlement.draw_up(programme, p.provider.id, p.official_actor)
    total = str(s.total_fen)
    client.login("official2@sure.cn")
    page = client.text(f"/settlements/{s.id}")
    assert "确认批准结算 ¥20,000.00" in page
    client.form(f"/settlements/{s.id}/approve", {"note": "已核对", "total_fen": total})
    dbs.refresh(s)
    assert s.status is SettlementStatus.DRAFT
    client.form(
        f"/settlements/{s.id}/approve", {"note": "已核对", "total_fen": total, "confirmed": "y"}
    )
    dbs.refresh(s)
    assert s.status is SettlementStatus.APPROVED
    page = client.text(f"/settlements/{s.id}")
    assert f"确认已向 {p.provider.name} 支付 ¥20,000.00" in page
    unticked = client.form(
        f"/settlements/{s.id}/pay", {"reference": "HX-1", "total_fen": total}, follow_redirects=True
    )
    assert "请勾选确认金额" in unticked.get_data(as_text=True)
    wrong = client.form(
        f"/settlements/{s.id}/pay", {"reference": "HX-1", "total_fen": "1", "confirmed": "y"}
    )
    assert wrong.status_code == 302
    dbs.refresh(s)
    assert s.status is SettlementStatus.APPROVED and s.transfer_reference is None
    client.form(
        f"/settlements/{s.id}/pay", {"reference": "HX-1", "total_fen": total, "confirmed": "y"}
    )
    assert dbs.scalar(select(Settlement.status)) is SettlementStatus.PAID
