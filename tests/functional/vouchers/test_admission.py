"""Package admission (issue 22): a version is voucher-eligible in a programme only once the
agency (or the assessor it delegates) admits it against the programme's published criteria."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.catalog import services as catalog
from marketplace.catalog.models import PackageVersion
from marketplace.errors import DomainError, NotFound
from marketplace.notifications import Notification
from marketplace.orders import bundles
from marketplace.orders import services as orders
from marketplace.security import Actor
from marketplace.vouchers import admission, spending
from marketplace.vouchers.models import (
    AdmissionChange,
    AdmissionEvent,
    AdmissionState,
    PackageAdmission,
    Reservation,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    FIELDS,
    agency_with_official,
    published_package,
    services,
)
from tests.functional.voucher_helpers import ONE_TIME, pilot

CRITERIA = "1. 服务商已入库；2. 价格公开且不高于同类均价；3. 接口符合 OPC UA 或 MQTT 标准。"


def en(message):
    with force_locale("en"):
        return str(message)


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, "adm")


@pytest.fixture
def programme(app, dbs, p):
    """An open programme whose criteria are published and which admitted nothing yet."""
    programme = p.programme(admit=False)
    with services(app, dbs):
        admission.set_rules(programme, CRITERIA, None, p.official_actor)
    return programme


def version_of(p) -> PackageVersion:
    p.dbs.refresh(p.package)
    return p.package.published_version


def decide(p, programme, admit=True, reason="符合准入标准：价格公开，接口为 OPC UA。", **kw):
    org = kw.pop("org", p.agency)
    actor = kw.pop("actor", p.official_actor)
    version = version_of(p)
    with services(p.app, p.dbs):
        return admission.decide(programme, version, admit, reason, org, actor)


def refused(p, programme, error=DomainError, **kw):
    """The decision ``decide`` would make, refused: the error raised."""
    org = kw.pop("org", p.agency)
    actor = kw.pop("actor", p.official_actor)
    admit = kw.pop("admit", True)
    reason = kw.pop("reason", "同意准入")
    version = version_of(p)
    with services(p.app, p.dbs), pytest.raises(error) as raised:
        admission.decide(programme, version, admit, reason, org, actor)
    return raised.value


def rows(dbs):
    return dbs.scalar(select(func.count(PackageAdmission.id)))


def subsidy(p) -> spending.LineSubsidy:
    b = p.bundle()
    with services(p.app, p.dbs):
        return spending.plan(p.enterprise.id, bundles.voucher_claims(bundles.lines(b), None))[0]


# --- waiting, and what vouchers pay meanwhile -----------------------------------------------


def test_a_new_package_waits_and_its_vouchers_do_not_pay_but_it_can_be_bought(
    app, client, dbs, p, programme
):
    p.issue_to(programme)
    line = subsidy(p)
    assert line.subsidy_fen == 0 and line.not_admitted == [programme]
    # checkout still works: without vouchers for this line, nothing reserved
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    assert order.lines and dbs.scalar(select(func.count(Reservation.id))) == 0
    # the catalogue shows 待审 for the programme, and no price after vouchers
    client.login(p.owner.email)
    page = client.text(f"/packages/{p.package.id}")
    assert 'data-state="pending"' in page and "待审" in page
    assert "after-vouchers" not in page
    # the bundle says why the vouchers pay nothing for the line
    page = client.text(f"/my-bundles/{p.bundle().id}")
    assert "data-not-admitted" in page and f"{programme.name} 待审" in page


def test_spending_refuses_to_reserve_for_a_version_the_programme_has_not_admitted(
    app, dbs, p, programme
):
    voucher = p.issue_to(programme)
    b = p.bundle()
    with services(app, dbs):
        claims = bundles.voucher_claims(bundles.lines(b), None)
        forged = [spending.LineSubsidy(claims[0], programme, [spending.Share(voucher, 10_00)])]
        with pytest.raises(DomainError) as error:
            spending.reserve(forged, {claims[0].key: 1}, p.enterprise.id, p.enterprise_actor)
    assert "not admitted" in en(error.value.message)
    assert programme.name in en(error.value.message)
    dbs.refresh(voucher)
    assert voucher.reserved_fen == 0


def test_once_admitted_the_vouchers_pay_and_the_provider_sees_the_reason(
    app, client, dbs, p, programme
):
    p.issue_to(programme)
    client.login(p.official.email)
    queue = client.text("/admissions")
    assert CRITERIA in queue and "一次性买断" in queue and "OPC UA" in queue
    assert "待审" in queue
    version = version_of(p)
    response = client.form(
        f"/admissions/{programme.id}/{version.id}",
        {"decision": "admit", "reason": "价格公开，接口符合标准，予以准入。"},
    )
    assert response.status_code == 302
    row = dbs.scalar(select(PackageAdmission))
    assert row.state is AdmissionState.ADMITTED and row.event is AdmissionEvent.ADMIT
    assert row.decided_by_id == p.official.id and row.criteria == CRITERIA
    assert [h.to_state for h in dbs.scalars(select(AdmissionChange))] == [AdmissionState.ADMITTED]
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "admission.admit"))
    note = dbs.scalar(select(Notification).where(Notification.org_id == p.provider.id))
    assert note.kind == "admission_admitted" and "予以准入" in note.params["reason"]
    assert f'data-admission="{programme.id}-' not in client.text("/admissions")
    # vouchers now pay
    assert subsidy(p).subsidy_fen == 20_000_00
    # the provider's page shows the state and the reason
    client.form("/logout")
    client.login(p.provider_owner.email)
    page = client.text(f"/provider/packages/{p.package.id}")
    assert "已准入" in page and "价格公开，接口符合标准，予以准入。" in page


def test_a_rejection_is_told_to_the_provider_with_a_to_do(app, client, dbs, p, programme):
    decide(p, programme, admit=False, reason="价格高于同类均价 40%")
    assert subsidy(p).subsidy_fen == 0
    note = dbs.scalar(select(Notification).where(Notification.org_id == p.provider.id))
    assert note.kind == "admission_rejected"
    client.login(p.provider_owner.email)
    assert "价格高于同类均价 40%" in client.text(f"/provider/packages/{p.package.id}")
    dashboard = client.text("/dashboard")
    assert "价格高于同类均价 40%" in dashboard


def test_deciders_have_a_to_do_while_versions_wait(app, client, dbs, p, programme):
    client.login(p.official.email)
    assert f"/admissions?programme={programme.id}" in client.text("/dashboard")
    decide(p, programme)
    assert f"/admissions?programme={programme.id}" not in client.text("/dashboard")


# --- bad input ------------------------------------------------------------------------------


def test_a_decision_without_a_reason_is_refused_and_nothing_is_stored(
    app, client, dbs, p, programme
):
    assert refused(p, programme, reason="   ").field == "reason"
    client.login(p.official.email)
    version = version_of(p)
    page = client.form(
        f"/admissions/{programme.id}/{version.id}",
        {"decision": "admit", "reason": ""},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "理由" in page
    assert rows(dbs) == 0
    assert not dbs.scalar(select(AuditEntry).where(AuditEntry.action.like("admission.%")))


def test_deciding_twice_is_refused(app, dbs, p, programme):
    decide(p, programme)
    error = refused(p, programme, admit=False, reason="改变主意")
    assert "already decided" in en(error.message)
    assert rows(dbs) == 1 and dbs.scalar(select(PackageAdmission.state)) == "admitted"


def test_another_agencys_official_cannot_decide(app, client, dbs, p, programme):
    other, official = agency_with_official("other@adm.cn")
    refused(p, programme, NotFound, org=other, actor=Actor(official.id, other.id, None))
    client.login(official.email)
    version = version_of(p)
    response = client.form(
        f"/admissions/{programme.id}/{version.id}", {"decision": "admit", "reason": "同意"}
    )
    assert response.status_code == 404
    assert f'data-admission="{programme.id}-' not in client.text("/admissions")
    assert rows(dbs) == 0


def test_a_delegated_assessor_decides_unless_it_is_also_the_provider(
    app, client, dbs, p, programme
):
    assessor = OrganisationFactory(assessor=True, legal_representative="李四")
    reviewer = UserFactory(org=assessor, email="reviewer@adm.cn")
    actor = Actor(reviewer.id, assessor.id, None)
    # not delegated: no say
    refused(p, programme, NotFound, org=assessor, actor=actor)
    with services(app, dbs):
        admission.set_rules(programme, CRITERIA, assessor.id, p.official_actor)
    # the assessor is the provider under another name (the same legal representative)
    p.provider.legal_representative = "李四"
    dbs.commit()
    client.login(reviewer.email)
    assert f'data-admission="{programme.id}-' in client.text("/admissions")
    version = version_of(p)
    page = client.form(
        f"/admissions/{programme.id}/{version.id}",
        {"decision": "admit", "reason": "同意准入"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "不能" in page
    error = refused(p, programme, org=assessor, actor=actor)
    assert "affiliated" in en(error.message)
    assert rows(dbs) == 0
    # an independent assessor decides
    p.provider.legal_representative = "王五"
    dbs.commit()
    row = decide(p, programme, org=assessor, actor=actor)
    assert row.decider_org_id == assessor.id and row.state is AdmissionState.ADMITTED


def test_no_decision_before_the_criteria_are_published(app, dbs, p):
    programme = p.programme(admit=False)
    assert "criteria" in en(refused(p, programme).message)
    with services(app, dbs), pytest.raises(DomainError) as error:
        admission.set_rules(programme, "  ", None, p.official_actor)
    assert error.value.field == "criteria"
    assert rows(dbs) == 0


# --- new versions ---------------------------------------------------------------------------


def publish_new_version(p, **changes):
    actor = Actor(p.provider_owner.id, p.provider.id, None)
    with services(p.app, p.dbs):
        catalog.new_version(p.package, actor)
        if changes.pop("plan", False):
            catalog.add_plan(
                p.package, replace(ONE_TIME, name="加价版", amount_fen=90_000_00), actor
            )
        if changes:
            catalog.update_draft(p.package, replace(FIELDS, **changes), actor)
        catalog.submit(p.package, actor)
        catalog.publish(p.package, actor)
    return version_of(p)


def test_a_text_only_new_version_keeps_the_admission(app, dbs, p, programme):
    p.issue_to(programme)
    first = decide(p, programme)
    v2 = publish_new_version(p, description="全新说明：支持更多 PLC 型号。", title="网关套件 2.0")
    assert v2.number == 2
    row = dbs.scalar(select(PackageAdmission).where(PackageAdmission.version_id == v2.id))
    assert row.state is AdmissionState.ADMITTED and row.event is AdmissionEvent.INHERIT
    assert row.inherited_from_id == first.id and row.decided_by_id is None
    assert subsidy(p).subsidy_fen == 20_000_00


def test_a_change_of_price_needs_review_again(app, dbs, p, programme):
    p.issue_to(programme)
    decide(p, programme)
    v2 = publish_new_version(p, plan=True)
    assert dbs.scalar(select(PackageAdmission).where(PackageAdmission.version_id == v2.id)) is None
    line = subsidy(p)
    assert line.subsidy_fen == 0 and line.not_admitted == [programme]
    with services(app, dbs):
        waiting = admission.queue(p.agency)
    assert [(w.programme.id, w.version.id) for w in waiting] == [(programme.id, v2.id)]


def test_material_changes_are_price_scope_and_interfaces(app, dbs, p, programme):
    v1 = version_of(p)
    with services(app, dbs):
        assert catalog.material_changes(v1, v1) == []
    v2 = publish_new_version(p, category_code="production_visualisation", plan=True)
    with services(app, dbs):
        assert catalog.material_changes(v1, v2) == ["price", "scope"]


def test_a_rejected_version_is_not_inherited_by_a_text_edit(app, dbs, p, programme):
    decide(p, programme, admit=False, reason="接口说明不完整")
    v2 = publish_new_version(p, description="补充了接口说明。")
    assert dbs.scalar(select(PackageAdmission).where(PackageAdmission.version_id == v2.id)) is None
    with services(app, dbs):
        assert [w.version.id for w in admission.queue(p.agency)] == [v2.id]


# --- the catalogue's cards, for an enterprise holding the programme's vouchers -------------


def card_of(page: str, package_id: int) -> str:
    """The card of the package on a catalogue page."""
    found = re.search(
        rf'<article class="card package-card">(?:(?!</article>).)*?/packages/{package_id}".*?</article>',
        page,
        re.S,
    )
    assert found, "the package has no card on the page"
    return found.group(0)


def test_the_catalogue_card_says_the_enterprises_vouchers_do_not_pay_yet(
    app, client, dbs, p, programme
):
    p.issue_to(programme)
    client.login(p.owner.email)
    card = card_of(client.text("/catalog"), p.package.id)
    assert 'data-admission="pending"' in card and "待准入" in card and programme.name in card
    # a decision shows on the next page at once: the notes are not part of the cached card
    decide(p, programme, admit=False, reason="价格高于同类均价")
    card = card_of(client.text("/catalog"), p.package.id)
    assert 'data-admission="rejected"' in card and "未准入：券不可用" in card
    assert "待准入" not in card


def test_an_admitted_version_or_another_visitor_sees_no_admission_note(
    app, client, dbs, p, programme
):
    p.issue_to(programme)
    decide(p, programme)
    client.login(p.owner.email)
    assert "data-admission" not in card_of(client.text("/catalog"), p.package.id)
    client.form("/logout")
    # nobody else is told of programmes they hold no voucher of
    assert "data-admission" not in client.text("/catalog")
    client.login(p.provider_owner.email)
    assert "data-admission" not in client.text("/catalog")


def test_a_version_outside_the_programmes_categories_has_no_note(app, client, dbs, p, programme):
    programme.category_codes = ["energy_management"]
    dbs.commit()
    p.issue_to(programme)
    client.login(p.owner.email)
    assert "data-admission" not in card_of(client.text("/catalog"), p.package.id)


def test_the_admission_notes_cost_one_grouped_query_however_many_cards(
    app, client, dbs, p, programme, count_queries
):
    p.issue_to(programme)
    client.login(p.owner.email)
    client.get("/catalog")
    count_queries.count = 0
    count_queries.statements.clear()
    page = client.text("/catalog")
    few = count_queries.count
    assert page.count('data-admission="pending"') == 1
    assert len([s for s in count_queries.statements if "package_admissions" in s]) == 1
    for n in range(6):
        published_package(app, dbs, p.provider, p.provider_owner, admit=False, title=f"看板 {n}")
    client.get("/catalog")
    count_queries.count = 0
    count_queries.statements.clear()
    page = client.text("/catalog")
    assert page.count('data-admission="pending"') == 7
    assert count_queries.count == few
    assert len([s for s in count_queries.statements if "package_admissions" in s]) == 1


# --- transparency ---------------------------------------------------------------------------


def test_transparency_counts_decisions_per_programme(app, client, dbs, p, programme):
    decide(p, programme)
    other = p.package
    second = published_package(
        app, dbs, p.provider, p.provider_owner, admit=False, title="质量追溯系统"
    )
    p.package = second
    decide(p, programme, admit=False, reason="不符合价格标准")
    p.package = other
    # the first decision took two days from publication
    row = dbs.scalar(select(PackageAdmission).where(PackageAdmission.state == "admitted"))
    row.pending_since = row.decided_at - timedelta(days=2)
    row2 = dbs.scalar(select(PackageAdmission).where(PackageAdmission.state == "rejected"))
    row2.pending_since = row2.decided_at - timedelta(days=4)
    dbs.commit()
    page = client.text(f"/transparency?agency={p.agency.id}")
    assert 'data-admitted="1"' in page and 'data-rejected="1"' in page
    median = re.search(r"data-median-days>([^<]+)<", page)
    assert median and median.group(1) == "3.0"


def test_a_closed_programme_still_decides_while_its_vouchers_can_be_spent(app, dbs, p, programme):
    """Closing stops issuing; the vouchers issued pay until the redeem-by date, so versions
    still wait for admission and can be decided."""
    from marketplace.vouchers import programmes

    p.issue_to(programme)
    with services(app, dbs):
        programmes.close_programme(programme, p.official_actor)
        assert [w.programme.id for w in admission.queue(p.agency)] == [programme.id]
        assert [s.state for s in admission.standings(version_of(p))] == [AdmissionState.PENDING]
    assert decide(p, programme).state is AdmissionState.ADMITTED
    assert subsidy(p).subsidy_fen == 20_000_00
