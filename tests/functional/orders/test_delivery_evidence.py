"""Delivery evidence: the provider attaches files and notes when it marks the delivery or a
milestone done; the enterprise sees them on the line before accepting (验收); the files open
only for the two parties, the overseeing agency and assessors the enterprise granted; adding
and opening are audited; a bad file stores nothing and moves nothing."""

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from marketplace.accounts import grants
from marketplace.accounts.models import DataAccess, GrantScope
from marketplace.audit import AuditEntry
from marketplace.db import local_today
from marketplace.errors import DomainError
from marketplace.orders import disputes
from marketplace.orders import services as orders
from marketplace.orders.evidence import Evidence
from marketplace.orders.models import DeliveryEvidence, LineEvent, LineStatus, Order
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import agency_with_official, services
from tests.functional.grant_helpers import evaluating
from tests.functional.voucher_helpers import pilot

PDF = b"%PDF-1.4\n% an acceptance report\n"


@pytest.fixture
def p(app, dbs):
    """A line paid partly by the agency's voucher, accepted and in delivery."""
    p = pilot(app, dbs, tag="evi")
    p.issue_to(p.programme())
    provider_actor = Actor(p.provider_owner.id, p.provider.id, None)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        line = dbs.scalar(select(Order)).lines[0]
        for event in (LineEvent.ACCEPT, LineEvent.START):
            orders.transition(line, event, "", provider_actor, "provider")
    p.line = line
    return p


def deliver(client, line, **evidence):
    return client.form(
        f"/order-lines/{line.id}/events/deliver",
        evidence,
        content_type="multipart/form-data",
    )


def pdf(name="验收报告.pdf", data=PDF):
    return (io.BytesIO(data), name)


def evidence_rows(dbs):
    return dbs.scalars(select(DeliveryEvidence).order_by(DeliveryEvidence.id)).all()


def test_the_enterprise_sees_the_evidence_before_accepting(client, dbs, p):
    client.login(p.provider_owner.email)
    response = deliver(
        client, p.line, evidence_note="已完成 12 台设备联网，验收报告见附件。", evidence_file=pdf()
    )
    assert response.status_code == 302
    dbs.expire_all()
    assert p.line.status is LineStatus.DELIVERED
    [row] = evidence_rows(dbs)
    assert (row.name, row.content_type, row.size, row.line_status) == (
        "验收报告.pdf",
        "application/pdf",
        len(PDF),
        LineStatus.DELIVERED,
    )
    added = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "delivery_evidence.added"))
    assert added.actor_org_id == p.provider.id and added.details["evidence_id"] == row.id

    client.form("/logout")
    client.login(p.owner.email)
    page = client.text(f"/orders/{p.line.order.number}")
    assert "交付证明" in page and "已完成 12 台设备联网" in page and "验收报告.pdf" in page
    url = f"/order-lines/{p.line.id}/evidence/{row.id}"
    assert url in page
    assert page.index("交付证明") < page.index(f"/order-lines/{p.line.id}/events/accept_delivery")
    download = client.get(url)
    assert download.status_code == 200 and download.data == PDF
    assert "attachment" in download.headers["Content-Disposition"]
    opened = dbs.scalar(
        select(AuditEntry).where(AuditEntry.action == "delivery_evidence.downloaded")
    )
    assert opened.actor_org_id == p.enterprise.id


def test_who_may_open_the_file(client, dbs, p):
    client.login(p.provider_owner.email)
    deliver(client, p.line, evidence_file=pdf())
    [row] = evidence_rows(dbs)
    url = f"/order-lines/{p.line.id}/evidence/{row.id}"
    assert client.get(url).status_code == 200  # the provider itself
    client.form("/logout")

    client.login(p.official.email)  # the agency whose voucher pays part of the line
    assert client.get(url).status_code == 200
    client.form("/logout")

    _other_agency, other_official = agency_with_official("other@evi.cn")
    stranger_enterprise = UserFactory(email="stranger@evi.cn")
    stranger_provider = UserFactory(org=OrganisationFactory(provider=True), email="rival@evi.cn")
    for user in (other_official, stranger_enterprise, stranger_provider):
        client.login(user.email)
        assert client.get(url).status_code == 404, user.email
        client.form("/logout")
    assert client.get(url).status_code in (302, 401)  # signed out: to the login

    assessor = OrganisationFactory(assessor=True, name="赛迪评估中心")
    assessor_user = UserFactory(org=assessor, email="assessor@evi.cn")
    client.login(assessor_user.email)
    assert client.get(url).status_code == 404  # no grant
    evaluating(client.application, dbs, p, assessor)  # a reason to be granted the data
    assert client.get(url).status_code == 404  # a reason is not a grant
    with services(client.application, dbs):
        grants.grant(
            p.enterprise,
            grants.GrantTerms(
                assessor.id,
                frozenset({GrantScope.KPI_REPORTS}),
                local_today(),
                local_today() + timedelta(days=30),
            ),
            p.enterprise_actor,
        )
    assert client.get(url).status_code == 200
    logged = dbs.scalars(select(DataAccess).where(DataAccess.viewer_org_id == assessor.id)).all()
    assert [(a.object_type, a.object_id) for a in logged] == [("delivery_evidence", str(row.id))]
    assert client.get(f"/order-lines/{p.line.id}/evidence/{row.id + 1}").status_code == 404


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (pdf("report.exe", b"MZ\x90\x00"), "请附上 PDF"),
        (pdf("report.pdf", b"not a pdf at all"), "文件内容与扩展名不符"),
        (pdf("report.pdf", PDF + b"x" * 100), "文件超过"),
    ],
)
def test_a_bad_file_stores_nothing_and_moves_nothing(
    app, client, dbs, p, monkeypatch, upload, message
):
    monkeypatch.setitem(app.config, "DELIVERY_EVIDENCE_MAX_BYTES", 64)
    client.login(p.provider_owner.email)
    response = deliver(client, p.line, evidence_note="见附件", evidence_file=upload)
    assert response.status_code == 302
    page = client.text(response.headers["Location"])
    assert message in page, page[:3000]
    dbs.expire_all()
    assert p.line.status is LineStatus.IN_DELIVERY
    assert evidence_rows(dbs) == []
    assert (
        dbs.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action.like("delivery_evidence%"))
        )
        == 0
    )


def test_the_refusal_reads_in_english(app, english, dbs, p):
    english.login(p.provider_owner.email)
    response = deliver(english, p.line, evidence_file=pdf("photo.gif", b"GIF89a"))
    page = english.text(response.headers["Location"])
    assert "Attach a PDF, an image (PNG, JPG), a spreadsheet (XLSX, CSV) or a text file." in page


def test_a_milestone_carries_its_evidence(app, client, dbs, p):
    with services(app, dbs):
        m = orders.add_milestone(
            p.line, "设备安装", date.today() + timedelta(days=3), Actor(None, None, None)
        )
    client.login(p.provider_owner.email)
    response = client.form(
        f"/order-lines/{p.line.id}/milestones/{m.id}/done",
        {
            "evidence_note": "12 台设备已安装",
            "evidence_file": pdf("安装照片.png", b"\x89PNG\r\n\x1a\n..."),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    dbs.expire_all()
    [row] = evidence_rows(dbs)
    assert row.milestone_id == m.id and row.name == "安装照片.png" and m.done_at is not None
    client.form("/logout")
    client.login(p.owner.email)
    page = client.text(f"/orders/{p.line.order.number}")
    assert "里程碑: 设备安装" in page and "12 台设备已安装" in page


def test_only_a_delivery_carries_evidence(app, dbs, p):
    with services(app, dbs), pytest.raises(DomainError):
        orders.transition(
            p.line,
            LineEvent.CANCEL,
            "不要了",
            p.enterprise_actor,
            "enterprise",
            evidence=Evidence(note="x"),
        )
    assert evidence_rows(dbs) == []


def test_the_decider_reads_the_evidence_on_the_dispute_case(app, client, dbs, p):
    client.login(p.provider_owner.email)
    deliver(client, p.line, evidence_note="验收报告已上传", evidence_file=pdf())
    dbs.expire_all()
    with services(app, dbs):
        orders.transition(p.line, LineEvent.DISPUTE, "数据不全", p.enterprise_actor, "enterprise")
        dispute = disputes.disputes_of_lines([p.line.id])[p.line.id]
        disputes.escalate(dispute, "enterprise", p.enterprise_actor, "请主管部门裁决")
    [row] = evidence_rows(dbs)
    client.form("/logout")
    client.login(p.official.email)
    case = client.text(f"/disputes/{dispute.id}")
    assert "验收报告已上传" in case and f"/order-lines/{p.line.id}/evidence/{row.id}" in case
    assert client.get(f"/order-lines/{p.line.id}/evidence/{row.id}").status_code == 200
