"""Voucher pages as officials, enterprises and providers use them."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.db import local_today
from marketplace.orders.models import LineEvent, Order
from marketplace.vouchers import spending
from marketplace.vouchers.models import (
    IssueRun,
    Reservation,
    Settlement,
    Voucher,
    VoucherProgramme,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_batch_approval import confirm_fields
from tests.functional.vouchers.test_vouchers import ACCEPTED, move, the_line

KEY_RE = re.compile(r'name="key"[^>]*value="([^"]+)"')


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="web")


def programme_form(**changes):
    data = {
        "name": "数字化转型券（第一批）",
        "mode": "open",
        "budget": "1,000,000",
        "face_value": "20000",
        "rate": "50",
        "cap": "40000",
        "batch_approval_threshold": "200,000",
        "issue_from": (local_today() - timedelta(days=1)).isoformat(),
        "redeem_by": (local_today() + timedelta(days=180)).isoformat(),
        "industry_codes": ["machining"],
    }
    data.update(changes)
    return data


def test_an_official_creates_opens_and_batch_issues(client, dbs, p):
    client.login("official@web.cn")
    bad = client.form("/agency/programmes/new", programme_form(rate="150"))
    assert bad.status_code == 422
    assert "0.01" in bad.get_data(as_text=True)
    wrong_dates = client.form(
        "/agency/programmes/new",
        programme_form(issue_from=(local_today() + timedelta(days=200)).isoformat()),
    )
    assert wrong_dates.status_code == 422
    assert dbs.scalar(select(func.count(VoucherProgramme.id))) == 0
    created = client.form("/agency/programmes/new", programme_form())
    assert created.status_code == 302
    programme = dbs.scalar(select(VoucherProgramme))
    assert programme.rate_bp == 5_000 and programme.budget_fen == 1_000_000_00
    client.form(f"/agency/programmes/{programme.id}/open")
    page = client.text(f"/agency/programmes/{programme.id}/issue")
    assert p.enterprise.name in page
    key = KEY_RE.search(page).group(1)
    shown = {"key": key, "total_fen": "2000000", "confirmed": "y"}
    first = client.form(f"/agency/programmes/{programme.id}/issue", shown)
    again = client.form(f"/agency/programmes/{programme.id}/issue", shown)
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"]
    assert dbs.scalar(select(func.count(Voucher.id))) == 1
    assert dbs.scalar(select(func.count(IssueRun.id))) == 1
    report = client.text(first.headers["Location"])
    assert "1" in report


def test_csv_import_through_the_page(client, dbs, p):
    programme = p.programme()
    other = OrganisationFactory()
    client.login("official@web.cn")
    body = f"统一社会信用代码,企业名称\n{other.credit_code},{other.name}\n91130100MA0000000X,无\n"
    staged = client.form(
        f"/agency/programmes/{programme.id}/import",
        {"file": (io.BytesIO(body.encode("gbk")), "名单.csv")},
        content_type="multipart/form-data",
    )
    preview = client.text(staged.headers["Location"])
    response = client.form(staged.headers["Location"], confirm_fields(preview))
    assert response.status_code == 302
    report = client.text(response.headers["Location"])
    assert other.name in report and "91130100MA0000000X" in report
    wrong = client.form(
        f"/agency/programmes/{programme.id}/import",
        {"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 422 and "credit_code" in wrong.get_data(as_text=True)
    assert dbs.scalar(select(func.count(Voucher.id))) == 1


def test_other_agencies_and_enterprises_see_nothing(client, dbs, p):
    programme = p.programme()
    voucher = p.issue_to(programme)
    other_agency = OrganisationFactory(agency=True)
    UserFactory(org=other_agency, email="stranger@web.cn")
    client.login("stranger@web.cn")
    assert client.get(f"/agency/programmes/{programme.id}").status_code == 404
    assert client.get(f"/vouchers/{voucher.id}").status_code == 404
    assert client.form(f"/agency/vouchers/{voucher.id}/revoke", {"reason": "x"}).status_code == 404
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    other = OrganisationFactory()
    UserFactory(org=other, email="nosy@web.cn")
    client.login("nosy@web.cn")
    assert client.get(f"/vouchers/{voucher.id}").status_code == 404


def test_the_enterprise_sees_its_subsidy_and_orders_with_it(client, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    bundle = p.bundle()
    client.login("owner@web.cn")
    assert "ZXQ-" in client.text("/vouchers")
    page = client.text(f"/my-bundles/{bundle.id}")
    assert "¥20,000.00" in page and "¥40,000.00" in page  # voucher pays, you pay
    response = client.form(f"/my-bundles/{bundle.id}/checkout", {"key": "a" * 20})
    assert response.status_code == 302
    order = client.text(response.headers["Location"])
    assert "¥20,000.00" in order
    assert dbs.scalar(select(func.sum(Reservation.amount_fen))) == 20_000_00


def _checkout_fields(page: str) -> dict[str, str]:
    """The hidden fields of the review page's order form, as a browser would send them."""
    form = page[page.index('class="checkout"') :]
    return {
        name: re.search(rf'name="{name}" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
        for name in ("key", "subsidy_shown")
    }


def test_an_order_is_refused_when_the_voucher_money_changed_since_the_page(client, app, dbs, p):
    """The page showed vouchers paying ¥20,000; meanwhile the voucher was revoked. Ordering
    from that page must not silently charge the enterprise the whole price."""
    programme = p.programme()
    voucher = p.issue_to(programme)
    bundle = p.bundle()
    client.login("owner@web.cn")
    shown = _checkout_fields(client.text(f"/my-bundles/{bundle.id}/review"))
    assert shown["subsidy_shown"] == str(20_000_00)
    with services(app, dbs):
        spending.revoke(dbs.get(Voucher, voucher.id), "重复发放", p.official_actor)

    response = client.form(f"/my-bundles/{bundle.id}/checkout", shown)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/my-bundles/{bundle.id}/review")
    page = client.text(response.headers["Location"])
    assert "¥0.00" in page and "重新" in page  # the new amount, and what to do
    assert dbs.scalar(select(func.count(Order.id))) == 0
    assert dbs.scalar(select(func.count(Reservation.id))) == 0

    again = _checkout_fields(page)
    assert again["subsidy_shown"] == "0"
    response = client.form(f"/my-bundles/{bundle.id}/checkout", again)
    assert "/orders/" in response.headers["Location"]
    assert dbs.scalar(select(func.count(Order.id))) == 1


def test_a_tampered_checkout_form_is_refused(client, dbs, p):
    bundle = p.bundle()
    client.login("owner@web.cn")
    for sent in ({"key": "short", "subsidy_shown": "0"}, {"key": "k" * 20, "subsidy_shown": "-5"}):
        response = client.form(f"/my-bundles/{bundle.id}/checkout", sent)
        assert response.status_code == 302
        assert "过期" in client.text(response.headers["Location"])
    assert dbs.scalar(select(func.count(Order.id))) == 0


def test_the_enterprise_may_order_without_its_vouchers(client, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    client.login("owner@web.cn")
    client.form(f"/my-bundles/{p.bundle().id}/checkout", {"key": "b" * 20, "skip_vouchers": "1"})
    assert dbs.scalar(select(func.count(Order.id))) == 1
    assert dbs.scalar(select(func.count(Reservation.id))) == 0


def test_enterprises_apply_and_officials_decide(client, dbs, p):
    programme = p.programme()
    client.login("owner@web.cn")
    client.form(f"/programmes/{programme.id}/apply", {"note": "用于设备联网"})
    again = client.form(
        f"/programmes/{programme.id}/apply", {"note": "再来"}, follow_redirects=True
    )
    assert "您已提交申请" in again.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login("official@web.cn")
    page = client.text(f"/agency/programmes/{programme.id}")
    assert p.enterprise.name in page
    application_id = re.search(r"/agency/voucher-applications/(\d+)", page).group(1)
    refused = client.form(f"/agency/voucher-applications/{application_id}", {"decision": "reject"})
    assert refused.status_code == 302
    assert dbs.scalar(select(func.count(Voucher.id))) == 0  # a rejection needs a reason
    client.form(
        f"/agency/voucher-applications/{application_id}",
        {"decision": "approve", "total_fen": "2000000", "confirmed": "y"},
    )
    assert dbs.scalar(select(func.count(Voucher.id))) == 1


def test_settlement_pages_and_the_providers_statement(client, dbs, p, monkeypatch, app):

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    programme = p.programme()
    p.issue_to(programme)
    order_accepted_then_official(client, dbs, app, p, "c")
    drawn = client.form(
        f"/agency/programmes/{programme.id}/settlements", {"provider_id": str(p.provider.id)}
    )
    assert drawn.status_code == 302
    s = dbs.scalar(select(Settlement))
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login("provider@web.cn")
    assert client.get(f"/settlements/{s.id}").status_code == 404  # a draft is the agency's
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login("official2@web.cn")  # the second official approves (four eyes)
    shown = {"total_fen": str(s.total_fen), "confirmed": "y"}
    client.form(f"/settlements/{s.id}/approve", {"note": "已核对", **shown})
    assert client.form(f"/settlements/{s.id}/pay", {"reference": "", **shown}).status_code == 302
    dbs.refresh(s)
    assert s.status.value == "approved"
    client.form(f"/settlements/{s.id}/pay", {"reference": "HX-20261123-01", **shown})
    dbs.refresh(s)
    assert s.status.value == "paid"
    csv = client.get(f"/settlements/{s.id}.csv")
    assert csv.mimetype == "text/csv" and "20000.00" in csv.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login("provider@web.cn")
    assert s.number in client.text("/provider/settlements")
    assert "HX-20261123-01" in client.text(f"/settlements/{s.id}")


def order_accepted_then_official(client, dbs, app, p, key_char):
    """The enterprise orders through the page and the line is accepted (验收); then the
    official is the one logged in."""
    client.login("owner@web.cn")
    client.form(f"/my-bundles/{p.bundle().id}/checkout", {"key": key_char * 20})
    move(app, dbs, the_line(dbs, p.enterprise), *ACCEPTED)
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login("official@web.cn")


def test_risk_flags_page_clears_a_flag(client, dbs, p, app):
    programme = p.programme()
    p.issue_to(programme)
    order_accepted_then_official(client, dbs, app, p, "d")  # implausibly fast: held
    page = client.text("/agency/risk-flags")
    flag_id = re.search(r"/agency/risk-flags/(\d+)/clear", page).group(1)
    client.form(f"/agency/risk-flags/{flag_id}/clear", {"reason": "现场核查属实"})
    assert dbs.scalar(select(Reservation.held)) is False


def test_only_the_agencys_owners_move_money(client, dbs, p):
    programme = p.programme()
    UserFactory(org=p.agency, email="analyst@web.cn", member=True)
    client.login("analyst@web.cn")
    assert client.get(f"/agency/programmes/{programme.id}").status_code == 200
    assert client.get(f"/agency/programmes/{programme.id}/issue").status_code == 403
    assert client.form(f"/agency/programmes/{programme.id}/close").status_code == 403
    assert (
        client.form(
            f"/agency/programmes/{programme.id}/issue-one",
            {"key": "k" * 20, "credit_code": p.enterprise.credit_code},
        ).status_code
        == 403
    )
    assert dbs.scalar(select(func.count(Voucher.id))) == 0


def test_a_form_key_cannot_take_an_approvals_key(client, dbs, p):
    programme = p.programme()
    client.login("official@web.cn")
    client.form(
        f"/agency/programmes/{programme.id}/issue-one",
        {"key": "application:1", "credit_code": p.enterprise.credit_code},
    )
    assert dbs.scalar(select(func.count(Voucher.id))) == 0


def test_batch_issue_with_htmx_navigates_to_the_result(client, dbs, p):
    programme = p.programme()
    client.login("official@web.cn")
    page = client.text(f"/agency/programmes/{programme.id}/issue")
    assert 'hx-indicator="#issuing"' in page
    key = KEY_RE.search(page).group(1)
    response = client.form(
        f"/agency/programmes/{programme.id}/issue",
        {"key": key, "total_fen": "2000000", "confirmed": "y"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204
    assert f"/agency/programmes/{programme.id}/runs/" in response.headers["HX-Redirect"]
    # nobody is left: the error comes back on the issuing page
    again = client.form(
        f"/agency/programmes/{programme.id}/issue",
        {"key": "z" * 20, "total_fen": "2000000", "confirmed": "y"},
        headers={"HX-Request": "true"},
    )
    assert again.status_code == 204
    assert again.headers["HX-Redirect"].endswith(f"/agency/programmes/{programme.id}/issue")
    assert "没有尚未领券的符合条件企业" in client.text(again.headers["HX-Redirect"])


def test_the_agency_dashboard_shows_programmes_and_what_waits(client, dbs, p, app):
    programme = p.programme()
    p.issue_to(programme)
    order_accepted_then_official(client, dbs, app, p, "e")  # implausibly fast: held
    page = client.text("/dashboard")
    assert programme.name in page and "1 笔核销因风险标记暂缓" in page


def test_a_release_says_why_in_the_readers_language(client, app, dbs, p):
    """Money set aside for a line the provider declined comes back with a note in Chinese
    (the orders domain passes the event's code, 'reject')."""
    voucher = p.issue_to(p.programme())
    bundle = p.bundle()
    client.login("owner@web.cn")
    client.form(f"/my-bundles/{bundle.id}/checkout", {"key": "r" * 20})
    move(app, dbs, the_line(dbs, p.enterprise), LineEvent.REJECT)
    page = client.text(f"/vouchers/{voucher.id}")
    assert "服务商已拒绝该订单行" in page and ">reject<" not in page
