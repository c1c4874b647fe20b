"""The case library (issue 21): consent when a contract is met, anonymised cases, benchmarks
marked by the overseeing officials, and the public, searchable library."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.outcomes import cases, todos
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import Case, ContractStatus
from tests.factories import UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.outcomes.test_outcomes import SYSTEM, measuring, reading
from tests.functional.voucher_helpers import agency_with_official, pilot

NAME = "保密精工机械有限公司"
ADDRESS = "长安区保密路88号"


@pytest.fixture
def p(app, dbs):
    p = pilot(app, dbs, tag="case")
    p.enterprise.name = NAME
    p.enterprise.address = ADDRESS
    dbs.flush()
    return p


def met_contract(app, dbs, p, value="66"):
    """A met contract: ¥5,000 base fee and ¥30,000 success fee, half of each from vouchers."""
    programme = p.programme(
        covers_success_fees=True, face_value_fen=40_000_00, cap_fen=40_000_00, rate_bp=5_000
    )
    p.issue_to(programme)
    _line, contract = measuring(app, dbs, p)
    contract.window_start -= timedelta(days=40)
    dbs.flush()
    with services(app, dbs):
        m, _ = outcomes.submit(contract, reading(1, value), SYSTEM)
        outcomes.confirm(m, SYSTEM)
        outcomes.settle(contract, SYSTEM, today=contract.window_end + timedelta(days=1))
    assert contract.status is ContractStatus.MET
    return contract


def logout(client):
    client.post("/logout", data={"csrf_token": client.csrf_token()})


def case_count(dbs):
    return dbs.scalar(select(func.count(Case.id)))


def test_a_met_contract_asks_the_enterprise_for_consent(app, dbs, client, p):
    contract = met_contract(app, dbs, p)
    asked = dbs.scalars(
        select(Notification).where(
            Notification.org_id == p.enterprise.id, Notification.kind == cases.CONSENT_ASKED
        )
    ).all()
    assert len(asked) == 1 and asked[0].link == f"/contracts/{contract.id}"
    with services(app, dbs):
        assert "case_consent" in [t.kind for t in todos.for_enterprise(p.enterprise, 7)]
    client.login("owner@case.cn")
    page = client.text(f"/contracts/{contract.id}")
    assert 'id="case"' in page and f"/contracts/{contract.id}/case" in page
    logout(client)
    assert case_count(dbs) == 0  # no case without consent
    library = client.text("/cases")
    assert "保密" not in library and "/cases/" not in library


def test_consent_publishes_an_anonymised_case_with_who_and_when(app, dbs, client, p):
    contract = met_contract(app, dbs, p)
    client.login("owner@case.cn")
    assert client.form(f"/contracts/{contract.id}/case", {"consent": "yes"}).status_code == 302
    case = dbs.scalar(select(Case))
    assert case.consent and case.decided_by_id == p.owner.id and case.decided_at
    assert case.industry_code == "machining" and case.size_tier == "small"
    assert case.region_code == "130100"  # the city, not the district 130102
    assert (case.baseline_value, case.achieved_value) == (60, 66)
    assert case.days_to_result == 40
    # base fee ¥5,000 + success fee ¥30,000, half of each paid by the voucher
    assert case.total_cost_fen == 35_000_00 and case.voucher_share_bp == 5_000
    assert [cp.package_id for cp in case.packages] == [contract_line_package(dbs, contract)]
    with services(app, dbs):
        assert "case_consent" not in [t.kind for t in todos.for_enterprise(p.enterprise, 7)]
    logout(client)
    library = client.text("/cases")
    detail = client.text(f"/cases/{case.id}")
    for page in (library, detail):
        assert f"案例 {case.id}" in page
        assert "60 → 66" in page and "50%" in page and "¥35,000.00" in page
        assert NAME not in page and ADDRESS not in page and "保密" not in page
        assert p.enterprise.credit_code not in page
    package_page = client.text(f"/packages/{case.packages[0].package_id}")
    assert f"/cases?package={case.packages[0].package_id}" in package_page
    assert "1 个案例" in package_page
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "case.consented"))


def contract_line_package(dbs, contract):
    from marketplace.orders.models import OrderLine

    return dbs.get(OrderLine, contract.order_line_id).package_id


def test_revoking_takes_the_case_out_of_the_library(app, dbs, client, p):
    contract = met_contract(app, dbs, p)
    client.login("owner@case.cn")
    client.form(f"/contracts/{contract.id}/case", {"consent": "yes"})
    case = dbs.scalar(select(Case))
    assert client.get(f"/cases/{case.id}").status_code == 200
    client.form(f"/contracts/{contract.id}/case", {"consent": "no"})
    dbs.refresh(case)
    assert not case.consent and case.revoked_at is not None
    assert client.get(f"/cases/{case.id}").status_code == 404
    assert f"/cases/{case.id}" not in client.text("/cases")
    package_page = client.text(f"/packages/{case.packages[0].package_id}")
    assert "/cases?package=" not in package_page
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "case.revoked"))


def test_declining_stores_no_and_publishes_nothing(app, dbs, client, p):
    contract = met_contract(app, dbs, p)
    client.login("owner@case.cn")
    client.form(f"/contracts/{contract.id}/case", {"consent": "no"})
    case = dbs.scalar(select(Case))
    assert not case.consent and case.revoked_at is None and case.total_cost_fen is None
    assert client.get(f"/cases/{case.id}").status_code == 404


def test_bad_consent_input_stores_nothing(app, dbs, client, p):
    contract = met_contract(app, dbs, p)
    client.login("owner@case.cn")
    for data in ({}, {"consent": "maybe"}, {"consent": ""}):
        answer = client.form(f"/contracts/{contract.id}/case", data)
        assert answer.status_code == 302
    assert case_count(dbs) == 0
    # not the enterprise: the provider and a stranger cannot consent
    logout(client)
    client.login("provider@case.cn")
    assert client.form(f"/contracts/{contract.id}/case", {"consent": "yes"}).status_code == 403
    assert case_count(dbs) == 0


def test_only_a_met_contract_can_become_a_case(app, dbs, p):
    _line, contract = measuring(app, dbs, p)
    with services(app, dbs), pytest.raises(DomainError):
        cases.decide(contract, True, p.enterprise_actor)
    assert case_count(dbs) == 0


def published(app, dbs, client, p):
    contract = met_contract(app, dbs, p)
    client.login("owner@case.cn")
    client.form(f"/contracts/{contract.id}/case", {"consent": "yes"})
    logout(client)
    return dbs.scalar(select(Case))


def test_officials_of_the_overseeing_agency_mark_benchmarks_with_a_reason(app, dbs, client, p):
    case = published(app, dbs, client, p)
    client.login("official@case.cn")
    assert "reason" in client.text(f"/cases/{case.id}")
    bad = client.form(f"/cases/{case.id}/benchmark", {"reason": "  "})
    assert bad.status_code == 422
    too_long = client.form(f"/cases/{case.id}/benchmark", {"reason": "长" * 501})
    assert too_long.status_code == 422
    dbs.refresh(case)
    assert not case.benchmark and case.benchmark_reason is None
    ok = client.form(f"/cases/{case.id}/benchmark", {"reason": "三个月OEE提升6个百分点"})
    assert ok.status_code == 302
    dbs.refresh(case)
    assert case.benchmark and case.benchmark_by_id == p.official.id
    entry = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "case.benchmarked"))
    assert entry.details["reason"] == "三个月OEE提升6个百分点"
    assert "三个月OEE提升6个百分点" in client.text(f"/cases/{case.id}")
    assert f"/cases/{case.id}" in client.text("/cases?benchmark=1")
    client.form(f"/cases/{case.id}/benchmark/remove")
    dbs.refresh(case)
    assert not case.benchmark
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "case.unbenchmarked"))


def test_nobody_else_marks_benchmarks(app, dbs, client, p):
    case = published(app, dbs, client, p)
    _other_agency, _official = agency_with_official("stranger@case.cn")
    UserFactory(org=p.enterprise, email="member@case.cn")
    for email, status in (
        ("stranger@case.cn", 404),  # an agency that does not oversee the contract
        ("owner@case.cn", 403),
        ("provider@case.cn", 403),
    ):
        client.login(email)
        assert "benchmark/" not in client.text(f"/cases/{case.id}")
        answer = client.form(f"/cases/{case.id}/benchmark", {"reason": "好"})
        assert answer.status_code == status, email
        logout(client)
    assert client.form(f"/cases/{case.id}/benchmark", {"reason": "好"}).status_code in (302, 401)
    dbs.refresh(case)
    assert not case.benchmark


def test_the_library_filters_and_searches_package_titles(app, dbs, client, p):
    case = published(app, dbs, client, p)
    link = f"/cases/{case.id}"
    category = case.packages[0].category_code
    assert link in client.text("/cases?q=OEE")
    assert link in client.text("/cases?q=oee 提升")
    assert link not in client.text("/cases?q=仓储")
    assert link in client.text(f"/cases?category={category}")
    other = "wms" if category != "wms" else "mes"
    assert link not in client.text(f"/cases?category={other}")
    assert link in client.text("/cases?industry=machining")
    assert link in client.text(f"/cases?metric={case.metric_code}")
    assert link in client.text(f"/cases?package={case.packages[0].package_id}")
    assert link not in client.text(f"/cases?package={case.packages[0].package_id + 999}")
    assert link not in client.text("/cases?q=%25")  # a literal %, not a wildcard
    bad = client.get("/cases?industry=nonsense&metric=%3Cscript%3E")
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "<script>" not in text and link in text  # the bad filters are left out
    assert "请从列表中选择" in text
    client.set_cookie("lang", "en")
    english = client.get("/cases?industry=nonsense")
    assert english.status_code == 422
    assert "Choose an entry of the list." in english.get_data(as_text=True)


def test_the_library_takes_a_fixed_number_of_queries(app, dbs, client, p, count_queries):
    published(app, dbs, client, p)
    count_queries.count = 0
    assert client.get("/cases").status_code == 200
    one = count_queries.count
    for n in range(3):
        other = pilot(app, dbs, tag=f"case{n}")
        published_other(app, dbs, client, other, f"owner@case{n}.cn")
    assert dbs.scalar(select(func.count(Case.id)).where(Case.consent.is_(True))) == 4
    count_queries.count = 0
    page = client.text("/cases")
    assert page.count('href="/cases/') >= 4
    assert count_queries.count == one


def published_other(app, dbs, client, p, owner_email):
    contract = met_contract(app, dbs, p)
    client.login(owner_email)
    client.form(f"/contracts/{contract.id}/case", {"consent": "yes"})
    logout(client)
