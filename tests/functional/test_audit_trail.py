"""Officials search the audit trail of the organisations they oversee, and export it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from marketplace.audit import AuditEntry
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="aud")


def test_officials_search_and_export_what_their_agency_oversees(client, dbs, p, app):
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    outsider = OrganisationFactory()
    user = UserFactory(org=outsider, email="outsider@aud.cn")
    dbs.add(
        AuditEntry(
            actor_user_id=user.id,
            actor_org_id=outsider.id,
            action="order.placed",
            object_type="order",
            object_id="999",
            details={},
        )
    )
    dbs.commit()
    client.login("official@aud.cn")
    response = client.get("/agency/audit?action=vouchers")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:3000]
    assert "vouchers.issued" in page and "vouchers.reserved" in page
    assert "order.placed" not in page
    everything = client.text("/agency/audit")
    assert p.enterprise.name in everything  # an enterprise holding the agency's voucher
    assert outsider.name not in everything  # someone the agency does not oversee
    by_org = client.text(f"/agency/audit?organisation={p.provider.credit_code}")
    assert "package.publish" in by_org and "vouchers.issued" not in by_org
    export = client.get("/agency/audit.csv?action=programme")
    body = export.get_data(as_text=True)
    assert export.mimetype == "text/csv" and "programme.opened" in body
    bad = client.get("/agency/audit?since=not-a-date")
    assert bad.status_code == 422


def test_no_code_path_updates_or_deletes_an_audit_entry(dbs, p):
    import pathlib
    import re

    source = "\n".join(
        path.read_text(encoding="utf-8") for path in pathlib.Path("marketplace").rglob("*.py")
    )
    assert not re.search(r"(update|delete)\(\s*AuditEntry", source)
    dbs.add(AuditEntry(action="x", object_type="y", details={}))
    dbs.commit()
    for statement in ("UPDATE audit_entries SET action = 'z'", "DELETE FROM audit_entries"):
        with pytest.raises(DBAPIError), dbs.begin_nested():
            dbs.execute(text(statement))
