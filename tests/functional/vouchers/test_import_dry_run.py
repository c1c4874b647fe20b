"""A CSV list of enterprises in two steps (issue 20): a dry run with a row-by-row report
(on the page and as a CSV file) that issues nothing, then a confirmation that issues exactly
the previewed rows, from the stored upload."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from marketplace.vouchers.models import IssueRun, StagedImport, Voucher, VoucherProgramme
from tests.factories import OrganisationFactory
from tests.functional.voucher_helpers import key, pilot
from tests.functional.vouchers.test_batch_approval import confirm_fields

UNKNOWN = "91130100MA0000000X"


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="dry")


def count(dbs, model):
    return dbs.scalar(select(func.count()).select_from(model))


def upload(client, programme, rows, name="名单.csv"):
    body = "统一社会信用代码,企业名称\n" + "".join(f"{code},{label}\n" for code, label in rows)
    return client.form(
        f"/agency/programmes/{programme.id}/import",
        {"file": (io.BytesIO(body.encode()), name)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def listed(p):
    """A programme for machining firms and a list: two eligible enterprises, one of another
    industry, an unknown code and a repeated row."""
    programme = p.programme(industry_codes=["machining"])
    first, second = OrganisationFactory(), OrganisationFactory()
    textile = OrganisationFactory(industry_code="textile")
    rows = [
        (first.credit_code, first.name),
        (textile.credit_code, textile.name),
        (UNKNOWN, "查无此企业"),
        (second.credit_code, second.name),
        (first.credit_code, "重复一行"),
    ]
    return programme, first, second, textile, rows


def test_the_dry_run_reports_row_by_row_and_issues_nothing(client, dbs, p, listed):
    programme, first, second, textile, rows = listed
    client.login("official@dry.cn")
    staged = upload(client, programme, rows)
    assert staged.status_code == 302
    assert count(dbs, Voucher) == count(dbs, IssueRun) == 0
    dbs.refresh(programme)
    assert programme.issued_fen == 0
    page = client.text(staged.headers["Location"])
    assert "尚未发放任何转型券" in page
    assert first.name in page and second.name in page and textile.name in page
    assert "通过：获发转型券" in page and "不符合条件" in page and "未知的统一社会信用代码" in page
    assert page.count('data-result="issued"') == 2 and page.count('data-result="duplicate"') == 1
    assert "发放这 2 张转型券，合计 ¥40,000.00" in page and "确认发放 ¥40,000.00" in page
    report = client.get(staged.headers["Location"] + ".csv")
    assert report.mimetype == "text/csv"
    lines = report.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "行号,统一社会信用代码,企业,金额（元）,结果"
    assert lines[1] == f"2,{first.credit_code},{first.name},20000.00,通过：获发转型券"
    assert lines[2].startswith(f"3,{textile.credit_code},{textile.name},,不符合条件：")
    assert lines[3] == f"4,{UNKNOWN},查无此企业,,未知的统一社会信用代码"
    assert lines[-1].endswith(",40000.00,")
    assert count(dbs, Voucher) == 0


def test_the_report_in_english(english, dbs, p, listed):
    programme, *_rest, rows = listed
    english.login("official@dry.cn")
    staged = upload(english, programme, rows)
    page = english.text(staged.headers["Location"])
    assert "Nothing has been issued yet" in page and "OK: gets a voucher" in page
    assert "Issue these 2 vouchers, total ¥40,000.00" in page
    csv_text = english.get(staged.headers["Location"] + ".csv").get_data(as_text=True)
    assert (
        csv_text.lstrip("\ufeff").splitlines()[0] == "row,credit_code,enterprise,amount_yuan,result"
    )
    assert "Unknown credit code" in csv_text


def test_confirming_issues_exactly_the_previewed_rows_once(client, dbs, p, listed):
    programme, first, second, _textile, rows = listed
    client.login("official@dry.cn")
    staged = upload(client, programme, rows)
    page = client.text(staged.headers["Location"])
    fields = confirm_fields(page)
    done = client.form(staged.headers["Location"], fields)
    assert done.status_code == 302 and "/runs/" in done.headers["Location"]
    holders = set(dbs.scalars(select(Voucher.enterprise_id)))
    assert holders == {first.id, second.id}
    dbs.refresh(programme)
    assert programme.issued_fen == 40_000_00
    assert dbs.scalar(select(StagedImport.run_id)) is not None
    again = client.form(staged.headers["Location"], {**fields, "key": key()})
    assert again.status_code == 422 and "该名单已导入" in again.get_data(as_text=True)
    assert count(dbs, Voucher) == 2


def test_confirming_needs_the_box_ticked(client, dbs, p, listed):
    programme, *_rest, rows = listed
    client.login("official@dry.cn")
    staged = upload(client, programme, rows)
    fields = confirm_fields(client.text(staged.headers["Location"]))
    del fields["confirmed"]
    refused = client.form(staged.headers["Location"], fields)
    assert refused.status_code == 422 and "请勾选确认金额" in refused.get_data(as_text=True)
    assert count(dbs, Voucher) == count(dbs, IssueRun) == 0


@pytest.mark.parametrize(
    "forged",
    [{"digest": "0" * 64}, {"count": "3"}, {"total_fen": "6000000"}, {"total_fen": "1"}],
)
def test_a_confirmation_for_another_list_or_total_is_refused(client, dbs, p, listed, forged):
    programme, *_rest, rows = listed
    client.login("official@dry.cn")
    staged = upload(client, programme, rows)
    fields = confirm_fields(client.text(staged.headers["Location"]))
    refused = client.form(staged.headers["Location"], {**fields, **forged})
    assert refused.status_code == 422
    assert "这不是您试运行核对过的名单" in refused.get_data(as_text=True)
    assert count(dbs, Voucher) == count(dbs, IssueRun) == 0


def test_when_the_holders_changed_since_the_dry_run_nothing_is_issued(client, dbs, p, listed):
    programme, first, _second, _textile, rows = listed
    client.login("official@dry.cn")
    staged = upload(client, programme, rows)
    fields = confirm_fields(client.text(staged.headers["Location"]))
    p.issue_to(programme, first)  # meanwhile, one of them got a voucher another way
    refused = client.form(staged.headers["Location"], fields)
    assert refused.status_code == 422
    assert "试运行后可获发转型券的企业已有变化" in refused.get_data(as_text=True)
    assert count(dbs, Voucher) == 1  # only the one issued meanwhile
    assert dbs.scalar(select(StagedImport.run_id)) is None


def test_a_bad_file_is_refused_and_nothing_is_stored(client, dbs, p):
    programme = p.programme()
    client.login("official@dry.cn")
    bad = client.form(
        f"/agency/programmes/{programme.id}/import",
        {"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422 and "统一社会信用代码" in bad.get_data(as_text=True)
    empty = client.form(f"/agency/programmes/{programme.id}/import", {})
    assert empty.status_code == 422 and "请选择文件" in empty.get_data(as_text=True)
    assert count(dbs, StagedImport) == count(dbs, Voucher) == 0


def test_other_agencies_cannot_see_or_confirm_a_dry_run(client, dbs, p, listed):
    from tests.factories import UserFactory

    programme, *_rest, rows = listed
    client.login("official@dry.cn")
    staged = upload(client, programme, rows)
    fields = confirm_fields(client.text(staged.headers["Location"]))
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    UserFactory(org=OrganisationFactory(agency=True), email="stranger@dry.cn")
    client.login("stranger@dry.cn")
    assert client.get(staged.headers["Location"]).status_code == 404
    assert client.get(staged.headers["Location"] + ".csv").status_code == 404
    assert client.form(staged.headers["Location"], fields).status_code == 404
    assert count(dbs, Voucher) == 0


def test_a_large_list_is_proposed_with_a_note(client, dbs, p):
    programme = p.programme(batch_approval_threshold_fen=20_000_00)
    others = [OrganisationFactory() for _ in range(2)]
    client.login("official@dry.cn")
    staged = upload(client, programme, [(o.credit_code, o.name) for o in others])
    page = client.text(staged.headers["Location"])
    assert "提交这 2 张转型券（合计 ¥40,000.00）待批准" in page
    fields = confirm_fields(page)
    no_note = client.form(staged.headers["Location"], fields)
    assert no_note.status_code == 422 and count(dbs, IssueRun) == 0
    proposed = client.form(staged.headers["Location"], {**fields, "note": "区县报送名单"})
    assert proposed.status_code == 302
    assert count(dbs, Voucher) == 0 and dbs.scalar(select(IssueRun.status)).value == "proposed"
    assert dbs.get(VoucherProgramme, programme.id).issued_fen == 0


def test_the_programme_page_offers_the_dry_run(client, dbs, p):
    programme = p.programme()
    client.login("official@dry.cn")
    page = client.text(f"/agency/programmes/{programme.id}")
    assert "核对名单（试运行）" in page and "导入并发放" not in page
    assert re.search(r'name="confirmed"[^>]*id="confirm-one"', page)
