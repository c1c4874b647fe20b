"""The audit trail in the official's language: actions and objects by their names, found by
those names; organisations found whether they acted or were acted on; a readable export."""

from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from marketplace.audit import AuditEntry, actions_named
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent
from marketplace.oversight import audit_search
from marketplace.payments.models import Invoice
from marketplace.security import Actor
from marketplace.vouchers import settlement
from tests.factories import OrganisationFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import ACCEPTED

PROGRAMME = "智能制造转型券（试点）"


@pytest.fixture
def trail(app, dbs, monkeypatch):
    """A voucher spent on an order line the provider delivered and the enterprise accepted,
    the provider's settlement drawn up, and a payout to the provider recorded: each step by
    the people who take it."""
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="as")
    programme = p.programme(name=PROGRAMME)
    voucher = p.issue_to(programme)
    provider = Actor(p.provider_owner.id, p.provider.id, "127.0.0.1")
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    line = order.lines[0]
    for event in ACCEPTED:
        by_enterprise = event is LineEvent.ACCEPT_DELIVERY
        with services(app, dbs):
            orders.transition(
                line,
                event,
                "理由",
                p.enterprise_actor if by_enterprise else provider,
                "enterprise" if by_enterprise else "provider",
            )
    with services(app, dbs):
        s = settlement.draw_up(programme, p.provider.id, p.official_actor)
    dbs.add(
        AuditEntry(
            actor_user_id=p.official.id,
            actor_org_id=p.agency.id,
            action="payout.recorded",
            object_type="organisation",
            object_id=str(p.provider.id),
            details={"reference": "银行回单 HX-1"},
        )
    )
    dbs.commit()
    return SimpleNamespace(
        p=p,
        programme=programme,
        voucher=voucher,
        order=order,
        line=line,
        settlement=s,
        invoice=dbs.scalar(select(Invoice)),
    )


def rows_of(page: str) -> list[str]:
    """The table rows of the audit page."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [row for row in body.split("<tr>")[1:]]


def actions(page: str) -> set[str]:
    """The action codes the audit page lists."""
    found = set()
    for row in rows_of(page):
        if 'class="mono small muted">' in row:
            found.add(row.split('class="mono small muted">', 1)[1].split("<", 1)[0])
    return found


KINDS = {
    "zh": ("结算单", "订单", "订单行", "转型券项目", "单位", "转型券", "账单"),
    "en": ("Settlement", "Order", "Order line", "Voucher programme", "Organisation", "Voucher"),
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_objects_are_shown_by_their_numbers_and_names(client, trail, lang):
    client.set_cookie("lang", lang)
    client.login(trail.p.official.email)
    page = client.text("/agency/audit")
    assert trail.settlement.number in page  # JS20261205-00001, not "settlement 1"
    assert trail.order.number in page
    assert f"{trail.order.number} · {trail.line.title}" in page
    assert PROGRAMME in page and trail.voucher.code in page
    assert trail.invoice.number and trail.invoice.number in page
    payout = next(row for row in rows_of(page) if "payout.recorded" in row)
    assert trail.p.provider.name in payout.split("</td>")[3]  # the organisation paid
    for kind in KINDS[lang]:
        assert f'<span class="muted small">{kind}</span>' in page
    assert "settlement 1" not in page and ">settlement<" not in page
    if lang == "zh":
        assert "已生成结算单" in page and "转型包：发布" in page
    else:
        assert "Settlement drawn up" in page and "Package: Publish" in page


@pytest.mark.parametrize(
    ("lang", "typed", "label"),
    [
        ("zh", "结算", "已生成结算单"),
        ("zh", "settlement", "已生成结算单"),  # the code, or the English name
        ("zh", "Settlement drawn", "已生成结算单"),
        ("en", "settlement", "Settlement drawn up"),
        ("en", "drawn up", "Settlement drawn up"),  # only the name says it
        ("en", "结算", "Settlement drawn up"),
    ],
)
def test_actions_are_found_by_their_names(client, trail, lang, typed, label):
    client.set_cookie("lang", lang)
    client.login(trail.p.official.email)
    response = client.get("/agency/audit", query_string={"action": typed})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    found = actions(page)
    assert "settlement.created" in found and label in page
    assert "vouchers.issued" not in found and "order.placed" not in found


@pytest.mark.parametrize("typed", ["不存在的操作", "no such action", "%", "__", "\\", "'; --"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_unknown_actions_find_nothing(client, trail, lang, typed):
    client.set_cookie("lang", lang)
    client.login(trail.p.official.email)
    response = client.get("/agency/audit", query_string={"action": typed})
    assert response.status_code == 200
    assert actions(response.get_data(as_text=True)) == set()
    export = client.get("/agency/audit.csv", query_string={"action": typed})
    assert export.status_code == 200 and len(export.get_data(as_text=True).splitlines()) == 1


def test_action_names_match_in_either_language(app):
    with app.test_request_context(headers={"Cookie": "lang=zh"}):
        assert {"settlement.created", "settlement.paid"} <= actions_named("结算")
        assert {"settlement.created", "settlement.paid"} <= actions_named("SETTLEMENT")
        assert actions_named("  ") == set() and actions_named("绝无此名") == set()


def test_the_organisation_filter_matches_who_acted_and_who_was_acted_on(client, trail):
    p = trail.p
    client.login(p.official.email)
    by_provider = actions(
        client.text("/agency/audit", query_string={"organisation": p.provider.name})
    )
    # the provider's own steps, and the agency's settlement and payout to the provider
    assert {"package.publish", "order_line.accept", "settlement.created", "payout.recorded"} <= (
        by_provider
    )
    assert "vouchers.issued" not in by_provider and "programme.created" not in by_provider
    by_enterprise = actions(
        client.text("/agency/audit", query_string={"organisation": p.enterprise.credit_code})
    )
    assert {"order.placed", "vouchers.reserved", "order_line.accept", "invoice.created"} <= (
        by_enterprise
    )
    assert "settlement.created" not in by_enterprise and "package.publish" not in by_enterprise
    for nothing in ("没有这个单位", "%", "9" * 18):
        response = client.get("/agency/audit", query_string={"organisation": nothing})
        assert response.status_code == 200 and actions(response.get_data(as_text=True)) == set()


def test_objects_are_found_by_number_name_or_kind(client, trail):
    client.login(trail.p.official.email)
    number = trail.settlement.number
    assert actions(client.text("/agency/audit", query_string={"object_name": number})) == {
        "settlement.created"
    }
    by_order = actions(
        client.text("/agency/audit", query_string={"object_name": trail.order.number})
    )
    assert "order.placed" in by_order and "order_line.accept" in by_order  # its lines too
    assert "programme.created" in actions(
        client.text("/agency/audit", query_string={"object_name": "智能制造"})
    )
    invoices = actions(client.text("/agency/audit", query_string={"object_type": "invoice"}))
    assert invoices and all(a.startswith("invoice.") for a in invoices)
    for params in ({"object_type": "nonsense"}, {"object_name": "JS1999"}):
        response = client.get("/agency/audit", query_string=params)
        assert response.status_code == 200 and actions(response.get_data(as_text=True)) == set()


def exported(client, lang, **params):
    client.set_cookie("lang", lang)
    response = client.get("/agency/audit.csv", query_string=params)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True).removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("lang", "header", "label", "kind"),
    [
        (
            "zh",
            ["时间", "操作人邮箱", "单位", "操作", "操作代码", "对象类型", "对象", "对象 ID"],
            "转型券项目已创建",
            "转型券项目",
        ),
        (
            "en",
            ["Time", "Actor's e-mail", "Organisation", "Action", "Action code", "Object type"],
            "Voucher programme created",
            "Voucher programme",
        ),
    ],
)
def test_the_export_is_readable_in_the_users_language(client, trail, lang, header, label, kind):
    client.login(trail.p.official.email)
    rows = exported(client, lang)
    assert rows[0][: len(header)] == header and len(rows[0]) == 10
    created = next(r for r in rows[1:] if r[4] == "programme.created")
    assert created[3] == label and created[5] == kind and created[6] == PROGRAMME
    assert created[9] == json.dumps({"name": PROGRAMME}, ensure_ascii=False)  # Chinese stays
    assert json.loads(created[9]) == {"name": PROGRAMME}
    payout = next(r for r in rows[1:] if r[4] == "payout.recorded")
    assert payout[6] == trail.p.provider.name and "银行回单" in payout[9]
    settled = next(r for r in rows[1:] if r[4] == "settlement.created")
    assert settled[6] == trail.settlement.number and settled[7] == str(trail.settlement.id)
    only = exported(client, lang, action="结算" if lang == "zh" else "settlement")
    assert {r[4] for r in only[1:]} == {"settlement.created"}


def test_the_page_looks_up_each_kind_of_object_once(app, client, dbs, trail, count_queries):
    p = trail.p
    client.login(p.official.email)

    def queries(**params):
        client.get("/agency/audit", query_string=params)  # warm up (session, CSRF)
        count_queries.count = 0
        assert client.get("/agency/audit", query_string=params).status_code == 200
        return count_queries.count

    def kinds_named():
        shown = set(dbs.scalars(select(AuditEntry.object_type)))  # all on the first page
        return {k for k in shown if k in audit_search.KINDS and audit_search.KINDS[k].name}

    empty = queries(action="绝无此操作")
    before = queries()
    # the acting users, their organisations, then one lookup per kind of object named
    assert before == empty + 2 + len(kinds_named()), before
    # more entries of the kinds already shown, each about another object
    for n in range(4):
        p.programme(name=f"第 {n} 批转型券")
        org = OrganisationFactory()
        dbs.add(
            AuditEntry(
                actor_user_id=p.official.id,
                actor_org_id=p.agency.id,
                action="payout.recorded",
                object_type="organisation",
                object_id=str(org.id),
                details={},
            )
        )
    dbs.commit()
    assert queries() == before
    page = client.text("/agency/audit")
    assert "第 3 批转型券" in page and org.name in page
