"""A pool application carries documents (business licence, qualifications, case material):
checked by marketplace/files.py, opened only by the provider and the reviewing agency's
officials, every attachment, removal and opening audited; bad input stores nothing."""

import io

import pytest
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.pool.documents import MAX_DOCUMENTS
from marketplace.pool.models import PoolDocument, PoolMembership
from tests.factories import UserFactory
from tests.functional.catalog_helpers import agency_with_official, provider_with_owner
from tests.functional.pool.test_pool import APPLICATION

PDF = b"%PDF-1.7\n" + b"0" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def count(dbs, model=PoolDocument):
    dbs.expire_all()
    return dbs.scalar(select(func.count(model.id)))


def attach(client, m_id, kind, data, name):
    return client.form(
        f"/pool/memberships/{m_id}/documents",
        {"kind": kind, "document": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def actions(dbs, action):
    dbs.expire_all()
    return dbs.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


@pytest.fixture
def applied(client, dbs):
    agency, _ = agency_with_official("official@doc.cn")
    provider, _ = provider_with_owner("owner@doc.cn")
    client.login("owner@doc.cn")
    assert "提交申请后，请在申请页面附上营业执照" in client.text(f"/pool/apply/{agency.id}")
    assert client.form(f"/pool/apply/{agency.id}", APPLICATION).status_code == 302
    m = dbs.scalar(select(PoolMembership).where(PoolMembership.provider_id == provider.id))
    return agency, provider, m


def test_the_agency_reviewing_the_application_opens_its_documents(client, dbs, applied):
    agency, _provider, m = applied
    page = client.text(f"/pool/memberships/{m.id}")
    assert 'enctype="multipart/form-data"' in page and "营业执照" in page
    assert attach(client, m.id, "business_licence", PDF, "营业执照.pdf").status_code == 302
    assert attach(client, m.id, "case_material", PNG, "../案例/现场.PNG").status_code == 302
    licence, case = dbs.scalars(select(PoolDocument).order_by(PoolDocument.id)).all()
    assert (licence.name, licence.content_type, licence.size) == (
        "营业执照.pdf",
        "application/pdf",
        len(PDF),
    )
    assert case.name == "现场.PNG" and case.kind.value == "case_material"
    assert [e.details["name"] for e in actions(dbs, "pool.document_added")] == [
        "营业执照.pdf",
        "现场.PNG",
    ]
    own = client.text(f"/pool/memberships/{m.id}")
    assert "营业执照.pdf" in own and "案例材料" in own
    got = client.get(f"/pool/memberships/{m.id}/documents/{licence.id}")
    assert (
        got.status_code == 200
        and got.data == PDF
        and "attachment" in got.headers["Content-Disposition"]
    )
    client.form("/logout")

    client.login("official@doc.cn")
    review = client.text(f"/pool/applications/{m.id}")
    section = review[review.index('id="documents"') :]
    link = f"/pool/applications/{m.id}/documents/{licence.id}"
    assert "营业执照.pdf" in section and link in section and "现场.PNG" in section
    before = len(actions(dbs, "pool.document_opened"))
    got = client.get(link)
    assert got.status_code == 200 and got.data == PDF and got.mimetype == "application/pdf"
    assert got.headers["Cache-Control"] == "private, no-store"
    opened = actions(dbs, "pool.document_opened")
    assert len(opened) == before + 1
    official = opened[-1]
    assert official.actor_org_id == agency.id and official.object_id == str(m.id)
    assert official.details["document_id"] == licence.id
    # A document of this application is not found under another one's address.
    assert client.get(f"/pool/applications/{m.id + 999}/documents/{licence.id}").status_code == 404

    # Once decided, the documents stay as the decision saw them.
    client.form(f"/pool/applications/{m.id}", {"event": "admit", "reason": "资质齐全，同意入库。"})
    client.form("/logout")
    client.login("owner@doc.cn")
    assert attach(client, m.id, "qualification", PDF, "ISO9001.pdf").status_code == 422
    removed = client.form(f"/pool/memberships/{m.id}/documents/{licence.id}/delete")
    assert removed.status_code == 302 and count(dbs) == 2


def test_others_cannot_open_or_change_the_documents(client, dbs, applied):
    _agency, provider, m = applied
    attach(client, m.id, "business_licence", PDF, "营业执照.pdf")
    doc = dbs.scalar(select(PoolDocument))
    client.form("/logout")

    _other_agency, _ = agency_with_official("nosy-official@doc.cn")
    client.login("nosy-official@doc.cn")
    assert client.get(f"/pool/applications/{m.id}/documents/{doc.id}").status_code == 404
    assert client.get(f"/pool/memberships/{m.id}/documents/{doc.id}").status_code in (403, 404)
    client.form("/logout")

    provider_with_owner("rival@doc.cn")
    client.login("rival@doc.cn")
    assert client.get(f"/pool/memberships/{m.id}/documents/{doc.id}").status_code == 404
    assert attach(client, m.id, "business_licence", PDF, "假执照.pdf").status_code == 404
    assert client.form(f"/pool/memberships/{m.id}/documents/{doc.id}/delete").status_code == 404
    assert client.get(f"/pool/applications/{m.id}/documents/{doc.id}").status_code in (403, 404)
    client.form("/logout")

    UserFactory(org=provider, email="member@doc.cn", member=True)  # not the owner
    client.login("member@doc.cn")
    assert client.get(f"/pool/memberships/{m.id}/documents/{doc.id}").status_code == 200
    assert attach(client, m.id, "qualification", PDF, "x.pdf").status_code == 403
    assert client.form(f"/pool/memberships/{m.id}/documents/{doc.id}/delete").status_code == 403
    client.form("/logout")
    assert client.get(f"/pool/memberships/{m.id}/documents/{doc.id}").status_code == 302
    assert count(dbs) == 1 and not actions(dbs, "pool.document_removed")


def test_bad_documents_are_refused_and_nothing_is_stored(app, client, dbs, applied, monkeypatch):
    _agency, _provider, m = applied
    audit_before = count(dbs, AuditEntry)
    refusals = [
        ("business_licence", b"MZ\x90\x00", "setup.exe", "请附上 PDF 文件或图片（PNG、JPG）"),
        ("business_licence", b"a,b\n1,2", "data.csv", "请附上 PDF 文件或图片（PNG、JPG）"),
        ("business_licence", PDF, "执照.png", "文件内容与扩展名不符"),
        ("business_licence", b"<html>", "执照.pdf", "文件内容与扩展名不符"),
        ("business_licence", b"", "执照.pdf", "文件为空"),
        ("passport", PDF, "执照.pdf", "不是有效的选项"),
    ]
    for kind, data, name, message in refusals:
        refused = attach(client, m.id, kind, data, name)
        assert refused.status_code == 422, name
        assert message in refused.get_data(as_text=True), name
    no_file = client.form(f"/pool/memberships/{m.id}/documents", {"kind": "qualification"})
    assert no_file.status_code == 422 and "请选择要附上的文件" in no_file.get_data(as_text=True)
    monkeypatch.setitem(app.config, "POOL_DOCUMENT_MAX_BYTES", 100)
    too_big = attach(client, m.id, "qualification", PDF, "big.pdf")
    assert too_big.status_code == 422 and "文件超过" in too_big.get_data(as_text=True)
    monkeypatch.undo()
    assert count(dbs) == 0 and count(dbs, AuditEntry) == audit_before

    for n in range(MAX_DOCUMENTS):
        assert attach(client, m.id, "case_material", PDF, f"案例{n}.pdf").status_code == 302
    one_more = attach(client, m.id, "case_material", PDF, "再一个.pdf")
    assert one_more.status_code == 422 and f"最多附 {MAX_DOCUMENTS} 个文件" in one_more.get_data(
        as_text=True
    )
    assert count(dbs) == MAX_DOCUMENTS


def test_the_provider_takes_a_document_back_before_the_decision(client, dbs, applied):
    _agency, _provider, m = applied
    attach(client, m.id, "qualification", PDF, "旧证书.pdf")
    doc_id = dbs.scalar(select(PoolDocument.id))
    response = client.form(f"/pool/memberships/{m.id}/documents/{doc_id}/delete")
    assert response.status_code == 302 and count(dbs) == 0
    assert [e.details["name"] for e in actions(dbs, "pool.document_removed")] == ["旧证书.pdf"]
    assert client.get(f"/pool/memberships/{m.id}/documents/{doc_id}").status_code == 404


def test_english_labels(client, dbs, applied):
    _agency, _provider, m = applied
    client.form("/language", {"lang": "en"})
    page = client.text(f"/pool/memberships/{m.id}")
    assert "Attach a document" in page and "Business licence" in page
    refused = attach(client, m.id, "business_licence", b"MZ", "setup.exe").get_data(as_text=True)
    assert "Attach a PDF or an image (PNG, JPG)." in refused
