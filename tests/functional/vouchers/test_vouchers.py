"""Vouchers (转型券) through the services: programmes, issuing, spending, the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from marketplace.db import local_today, utcnow
from marketplace.diagnosis.models import Diagnosis
from marketplace.errors import DomainError
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, LineStatus, Order, OrderLine
from marketplace.security import Actor
from marketplace.vouchers import issuing, ledger, programmes, risk, settlement, spending
from marketplace.vouchers.models import (
    EntryKind,
    FlagStatus,
    IssueRun,
    ProgrammeMode,
    ProgrammeStatus,
    Reservation,
    ReservationStatus,
    RiskFlag,
    Voucher,
    VoucherEntry,
    VoucherProgramme,
    VoucherStatus,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import key, pilot, rules

SYSTEM = Actor(None, None, None)


def en(message):
    with force_locale("en"):
        return str(message)


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs)


def books_balance(app, dbs):
    with services(app, dbs):
        problems = ledger.check()
    assert problems == []


# --- programmes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rate_bp": 10_001}, "rate"),
        ({"rate_bp": 0}, "rate"),
        ({"redeem_by": local_today() - timedelta(days=30)}, "redeem_by"),
        ({"issue_from": local_today() + timedelta(days=200)}, "redeem_by"),
        ({"face_value_fen": 2_000_000_00}, "face_value"),
        ({"cap_fen": 10_000_00}, "cap"),
        ({"budget_fen": 0}, "budget"),
        ({"name": "  "}, "name"),
        ({"industry_codes": ["no_such_industry"]}, "industry_codes"),
        ({"min_revenue_fen": 5_00, "max_revenue_fen": 1_00}, "max_revenue"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_stored(app, dbs, p, changes, field):
    with services(app, dbs), pytest.raises(DomainError) as error:
        programmes.create_programme(p.agency, rules(**changes), p.official_actor)
    assert error.value.field == field
    assert dbs.scalar(select(func.count(VoucherProgramme.id))) == 0


def test_rules_change_only_in_draft_but_validity_can_be_extended(app, dbs, p):
    with services(app, dbs):
        programme = programmes.create_programme(p.agency, rules(), p.official_actor)
    with services(app, dbs):
        programmes.update_programme(programme, rules(rate_bp=6_000), p.official_actor)
    assert programme.rate_bp == 6_000
    with services(app, dbs):
        programmes.open_programme(programme, p.official_actor)
    with services(app, dbs), pytest.raises(DomainError):
        programmes.update_programme(programme, rules(rate_bp=9_000), p.official_actor)
    p.issue_to(programme)
    later = programme.redeem_by + timedelta(days=30)
    with services(app, dbs):
        programmes.extend_validity(programme, later, p.official_actor)
    assert programme.redeem_by == later
    with services(app, dbs), pytest.raises(DomainError):
        programmes.extend_validity(programme, later - timedelta(days=1), p.official_actor)
    dbs.refresh(programme)
    assert programme.rate_bp == 6_000


def test_the_budget_cannot_drop_below_what_is_issued(app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    p.issue_to(programme)
    with services(app, dbs), pytest.raises(DomainError) as error:
        programmes.change_budget(programme, 40_000_00 - 1, p.official_actor)
    assert error.value.field == "budget" and "already issued" in en(error.value.message)
    with services(app, dbs):
        programmes.change_budget(programme, 40_000_00, p.official_actor)
    assert programme.budget_fen == 40_000_00
    with pytest.raises(IntegrityError), dbs.begin_nested():  # and the database holds it too
        dbs.execute(
            text("UPDATE voucher_programmes SET budget_fen = 1 WHERE id = :id"),
            {"id": programme.id},
        )


# --- issuing ----------------------------------------------------------------------------


def test_batch_issue_reaches_exactly_the_eligible_and_is_applied_once(app, dbs, p):
    small = [OrganisationFactory() for _ in range(3)]
    OrganisationFactory(industry_code="textile")  # another industry
    OrganisationFactory(employees=5, annual_revenue_fen=1_000_000_00)  # micro
    OrganisationFactory(region_code="350203")  # another region
    undiagnosed_rich = OrganisationFactory(annual_revenue_fen=90_000_000_00)
    diagnosed = small[0]
    for org in (diagnosed,):
        dbs.add(
            Diagnosis(
                enterprise_id=org.id,
                answers={},
                pain_points=[],
                budget="under_50k",
                dimension_scores={},
                overall=40,
                level=2,
            )
        )
    dbs.commit()
    programme = p.programme(
        industry_codes=["machining"],
        size_tiers=["small"],
        region_codes=["130102"],
        max_revenue_fen=50_000_000_00,
    )
    with services(app, dbs):
        preview = issuing.preview_batch(programme)
    eligible = {o.id for o in [*small, p.enterprise]}
    assert preview.count == len(eligible) and preview.fits
    assert undiagnosed_rich.id not in {o.id for o in preview.sample}
    once = key()
    with services(app, dbs):
        run = issuing.issue_batch(programme, once, p.official_actor)
    with services(app, dbs):
        again = issuing.issue_batch(programme, once, p.official_actor)
    assert again.id == run.id and run.count == len(eligible)
    holders = set(dbs.scalars(select(Voucher.enterprise_id)))
    assert holders == eligible
    dbs.refresh(programme)
    assert programme.issued_fen == len(eligible) * 20_000_00
    codes = list(dbs.scalars(select(Voucher.code)))
    assert len(set(codes)) == len(codes) and all(len(c) == 23 for c in codes)
    # a second batch finds nobody new
    with services(app, dbs), pytest.raises(DomainError):
        issuing.issue_batch(programme, key(), p.official_actor)
    books_balance(app, dbs)


def test_diagnosis_rule(app, dbs, p):
    programme = p.programme(diagnosis_required=True)
    with services(app, dbs):
        assert issuing.preview_batch(programme).count == 0
        assert issuing.ineligibility(programme, p.enterprise) == ["diagnosis"]


def test_a_batch_that_does_not_fit_the_budget_issues_nothing(app, dbs, p):
    for _ in range(4):
        OrganisationFactory()
    programme = p.programme(budget_fen=80_000_00)  # four vouchers; five are eligible
    with services(app, dbs), pytest.raises(DomainError) as error:
        issuing.issue_batch(programme, key(), p.official_actor)
    assert "budget" in en(error.value.message)
    assert dbs.scalar(select(func.count(Voucher.id))) == 0
    assert dbs.scalar(select(func.count(IssueRun.id))) == 0


def test_issuing_only_while_open(app, dbs, p):
    with services(app, dbs):
        draft = programmes.create_programme(p.agency, rules(), p.official_actor)
    with services(app, dbs), pytest.raises(DomainError):
        issuing.issue_batch(draft, key(), p.official_actor)
    programme = p.programme(name="另一个")
    with services(app, dbs):
        programmes.close_programme(programme, p.official_actor)
    with services(app, dbs), pytest.raises(DomainError) as error:
        issuing.issue_one(programme, p.enterprise.credit_code, key(), p.official_actor)
    assert "open" in en(error.value.message)
    assert dbs.scalar(select(func.count(Voucher.id))) == 0


def test_one_enterprise_never_gets_more_than_the_cap(app, dbs, p):
    programme = p.programme()  # cap = two face values
    p.issue_to(programme)
    p.issue_to(programme)
    with services(app, dbs), pytest.raises(DomainError) as error:
        issuing.issue_one(programme, p.enterprise.credit_code, key(), p.official_actor)
    assert "most" in en(error.value.message)
    first = dbs.scalars(select(Voucher)).first()
    with pytest.raises(IntegrityError), dbs.begin_nested():  # the database holds the cap too
        dbs.execute(
            text(
                "INSERT INTO vouchers (code, programme_id, enterprise_id, seq, face_value_fen,"
                " cap_fen, reserved_fen, redeemed_fen, settled_fen, expired_fen, clawed_back_fen,"
                " revoked_fen, status, issued_at) VALUES ('X', :p, :e, 3, :f, :c, 0, 0, 0, 0, 0,"
                " 0, 'active', :now)"
            ),
            {
                "p": programme.id,
                "e": p.enterprise.id,
                "f": first.face_value_fen,
                "c": first.cap_fen,
                "now": utcnow().replace(tzinfo=None),
            },
        )


def csv_bytes(rows, encoding="utf-8"):
    return ("\n".join(",".join(r) for r in rows) + "\n").encode(encoding)


def test_csv_import_reports_row_by_row_in_utf8_and_gbk(app, dbs, p):
    other_industry = OrganisationFactory(industry_code="textile")
    fresh = OrganisationFactory()
    programme = p.programme(industry_codes=["machining"])
    for encoding in ("utf-8-sig", "gbk"):
        raw = csv_bytes(
            [
                ("统一社会信用代码", "企业名称"),
                (p.enterprise.credit_code, p.enterprise.name),
                (other_industry.credit_code, other_industry.name),
                ("91130100MA0000000X", "查无此企业"),
                (p.enterprise.credit_code, "重复"),
            ]
            + ([(fresh.credit_code, fresh.name)] if encoding == "gbk" else []),
            encoding,
        )
        with services(app, dbs):
            run = issuing.import_csv(programme, raw, key(), p.official_actor)
        results = [row["result"] for row in run.report]
        if encoding == "utf-8-sig":
            assert results == ["issued", "not_eligible", "unknown", "duplicate"]
            assert run.report[1]["reasons"] == ["industry"]
        else:  # the first enterprise now holds a voucher: a duplicate of this programme
            assert results == ["duplicate", "not_eligible", "unknown", "duplicate", "issued"]
    assert dbs.scalar(select(func.count(Voucher.id))) == 2
    books_balance(app, dbs)


@pytest.mark.parametrize(
    "raw",
    [
        "统一社会信用代码,企业名称\n".encode("utf-16"),
        b"code_wrong,name_wrong\n1,2\n",
        b"",
        ("credit_code,name\n" + "91130100MA0000000X,x\n" * 100_000).encode(),
        ("credit_code,name\n" + "91130100MA0000000X,x\n" * 5_001).encode(),
    ],
    ids=["encoding", "columns", "empty", "huge", "over-limit"],
)
def test_bad_csv_files_are_refused_and_nothing_is_issued(app, dbs, p, raw):
    programme = p.programme()
    with services(app, dbs), pytest.raises(DomainError) as error:
        issuing.import_csv(programme, raw, key(), p.official_actor)
    assert error.value.field == "file"
    assert dbs.scalar(select(func.count(Voucher.id))) == 0


def test_revoking_returns_the_budget_but_not_while_in_use(app, dbs, p):
    programme = p.programme()
    voucher = p.issue_to(programme)
    with services(app, dbs), pytest.raises(DomainError):
        spending.revoke(voucher, "  ", p.official_actor)
    with services(app, dbs):
        spending.revoke(voucher, "企业已注销", p.official_actor)
    dbs.refresh(programme)
    assert voucher.status is VoucherStatus.REVOKED and programme.issued_fen == 0
    in_use = p.issue_to(programme)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    with services(app, dbs), pytest.raises(DomainError) as error:
        spending.revoke(in_use, "理由", p.official_actor)
    assert "in use" in en(error.value.message)
    books_balance(app, dbs)


# --- spending ---------------------------------------------------------------------------


def the_line(dbs, enterprise):
    order = dbs.scalars(
        select(Order).where(Order.enterprise_id == enterprise.id).order_by(Order.id.desc())
    ).first()
    return order.lines[0]


# From placed to accepted by the enterprise (验收).
ACCEPTED = (LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER, LineEvent.ACCEPT_DELIVERY)


def move(app, dbs, line, *events):
    kinds = {
        LineEvent.ACCEPT: "provider",
        LineEvent.REJECT: "provider",
        LineEvent.START: "provider",
        LineEvent.DELIVER: "provider",
        LineEvent.CANCEL: "enterprise",
        LineEvent.ACCEPT_DELIVERY: "enterprise",
    }
    for event in events:
        with services(app, dbs):
            orders.transition(line, event, "理由", Actor(None, None, None), kinds[event])


def test_subsidy_is_the_smallest_of_rate_balance_and_cap(app, dbs, p):
    programme = p.programme(rate_bp=5_000)  # 50 % of ¥60,000 = ¥30,000
    first = p.issue_to(programme)  # ¥20,000
    second = p.issue_to(programme)  # ¥20,000: together ¥40,000 = the cap
    with services(app, dbs):
        shown = spending.plan(p.enterprise.id, _claims(p))
    assert shown[0].subsidy_fen == 30_000_00 and shown[0].copay_fen == 30_000_00
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    dbs.refresh(first), dbs.refresh(second)
    assert (first.reserved_fen, second.reserved_fen) == (20_000_00, 10_000_00)
    # the next order is limited by what is left under the cap (¥10,000)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    line = the_line(dbs, p.enterprise)
    reserved = dbs.scalar(
        select(func.sum(Reservation.amount_fen)).where(Reservation.order_line_id == line.id)
    )
    assert reserved == 10_000_00
    books_balance(app, dbs)


def _claims(p):
    from marketplace.orders import bundles

    b = p.bundle()
    with services(p.app, p.dbs):
        return bundles.voucher_claims(bundles.lines(b), bundles.integration(b))


def test_rejection_releases_and_acceptance_redeems(app, dbs, p):
    programme = p.programme()
    voucher = p.issue_to(programme)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    rejected = the_line(dbs, p.enterprise)
    move(app, dbs, rejected, LineEvent.REJECT)
    dbs.refresh(voucher)
    assert voucher.reserved_fen == 0 and voucher.available_fen == 20_000_00
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    line = the_line(dbs, p.enterprise)
    move(app, dbs, line, *ACCEPTED)
    dbs.refresh(voucher)
    assert (voucher.reserved_fen, voucher.redeemed_fen) == (0, 20_000_00)
    kinds = list(dbs.scalars(select(VoucherEntry.kind).order_by(VoucherEntry.id)))
    assert kinds == [
        EntryKind.ISSUE,
        EntryKind.RESERVE,
        EntryKind.RELEASE,
        EntryKind.RESERVE,
        EntryKind.REDEEM,
    ]
    books_balance(app, dbs)


def test_a_failure_after_the_reservation_leaves_nothing_behind(app, dbs, p, monkeypatch):
    programme = p.programme()
    voucher = p.issue_to(programme)
    bundle = p.bundle()

    def explode(*args, **kwargs):
        raise RuntimeError("the payment scheduler fell over")

    monkeypatch.setattr(orders.audit, "record", explode)
    with services(app, dbs), pytest.raises(RuntimeError):
        orders.checkout(p.enterprise, bundle, p.enterprise_actor)
    dbs.refresh(voucher)
    assert voucher.reserved_fen == 0
    assert dbs.scalar(select(func.count(Reservation.id))) == 0
    assert dbs.scalar(select(func.count(OrderLine.id))) == 0
    monkeypatch.undo()
    books_balance(app, dbs)


def test_an_enterprise_never_spends_anothers_voucher(app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    other = OrganisationFactory()
    user = UserFactory(org=other, email="other@v.cn")
    with services(app, dbs):
        orders.checkout(other, p.bundle(other, user), Actor(user.id, other.id, None))
        assert spending.spendable(other.id) == []
    assert dbs.scalar(select(func.count(Reservation.id))) == 0


def test_open_mode_needs_an_admitted_provider_and_a_covered_category(app, dbs, p):
    programme = p.programme(category_codes=["predictive_maintenance"])
    p.issue_to(programme)
    with services(app, dbs):
        assert spending.plan(p.enterprise.id, _claims(p))[0].subsidy_fen == 0


def test_expiry_releases_reservations_and_expires_the_rest(app, dbs, p):
    programme = p.programme()
    voucher = p.issue_to(programme)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    with services(app, dbs):
        assert spending.expire_due(SYSTEM, today=programme.redeem_by) == (0, 0)
        expired, released = spending.expire_due(
            SYSTEM, today=programme.redeem_by + timedelta(days=1)
        )
    dbs.refresh(voucher)
    assert (expired, released) == (1, 20_000_00)
    assert voucher.status is VoucherStatus.EXPIRED and voucher.expired_fen == 20_000_00
    assert voucher.available_fen == 0
    books_balance(app, dbs)


# --- settlement and risk ---------------------------------------------------------------


def accepted_order(app, dbs, p):
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    line = the_line(dbs, p.enterprise)
    move(app, dbs, line, *ACCEPTED)
    return line


def test_settlement_from_draft_to_paid(app, dbs, p, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)  # delivered in a plausible time
    programme = p.programme()
    voucher = p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        due = settlement.due_by_provider(programme)
        assert [(d.provider.id, d.ready_fen) for d in due] == [(p.provider.id, 20_000_00)]
        s = settlement.draw_up(programme, p.provider.id, p.official_actor)
    with services(app, dbs), pytest.raises(DomainError):  # nothing left to settle twice
        settlement.draw_up(programme, p.provider.id, p.official_actor)
    with services(app, dbs), pytest.raises(DomainError):  # approve first
        settlement.mark_paid(s, "HX202611230001", p.official_actor)
    with services(app, dbs):
        settlement.approve(s, s.total_fen, "已核对明细与账号", p.official2_actor)
        settlement.mark_paid(s, "HX202611230001", p.official_actor)
        report = settlement.as_csv(s)
    dbs.refresh(voucher)
    assert voucher.settled_fen == 20_000_00
    assert "HX202611230001" not in report and "20000.00" in report  # no bank reference
    books_balance(app, dbs)


def test_shared_details_hold_a_redemption_until_an_official_decides(app, dbs, p):
    p.provider.contact_phone = "+86 0311 6666 8888"
    dbs.commit()
    programme = p.programme()
    voucher = p.issue_to(programme)
    accepted_order(app, dbs, p)
    flags = list(dbs.scalars(select(RiskFlag)))
    reasons = {f.reason.value for f in flags}
    assert "shared_phone" in reasons and "fast_delivery" in reasons
    with services(app, dbs):
        assert settlement.due_by_provider(programme)[0].held_fen == 20_000_00
        with pytest.raises(DomainError):
            settlement.draw_up(programme, p.provider.id, p.official_actor)
    with services(app, dbs):
        risk.clear(flags[0], "已核实", p.official_actor)
    with services(app, dbs), pytest.raises(DomainError):  # one flag is still open
        settlement.draw_up(programme, p.provider.id, p.official_actor)
    p.claw_back(flags[1], "虚假交付")
    dbs.refresh(voucher)
    assert (voucher.redeemed_fen, voucher.clawed_back_fen) == (0, 20_000_00)
    assert dbs.scalar(select(Reservation.status)) is ReservationStatus.CLAWED_BACK
    assert {f.status for f in dbs.scalars(select(RiskFlag))} == {
        FlagStatus.CLEARED,
        FlagStatus.UPHELD,
    }
    books_balance(app, dbs)


# --- the ledger ---------------------------------------------------------------------------


def test_the_ledger_is_append_only(app, dbs, p):
    p.issue_to(p.programme())
    for statement in ("UPDATE voucher_entries SET amount_fen = 1", "DELETE FROM voucher_entries"):
        with pytest.raises(DBAPIError), dbs.begin_nested():
            dbs.execute(text(statement))


def test_check_finds_every_difference(app, dbs, p, capsys):
    programme = p.programme()
    voucher = p.issue_to(programme)
    books_balance(app, dbs)
    dbs.execute(text("UPDATE vouchers SET reserved_fen = 5 WHERE id = :id"), {"id": voucher.id})
    dbs.execute(
        text("UPDATE voucher_programmes SET issued_fen = 1 WHERE id = :id"), {"id": programme.id}
    )
    with services(app, dbs):
        problems = ledger.check()
    assert any("reserved_fen is 5" in x for x in problems)
    assert any("issued_fen 1" in x for x in problems)


def test_programme_states(app, dbs, p):
    programme = p.programme()
    assert programme.status is ProgrammeStatus.OPEN
    with services(app, dbs), pytest.raises(DomainError):
        programmes.open_programme(programme, p.official_actor)
    with services(app, dbs):
        draft = programmes.create_programme(
            p.agency, rules(name="集成", mode=ProgrammeMode.INTEGRATOR), p.official_actor
        )
    with services(app, dbs), pytest.raises(DomainError):  # no integrator appointed
        programmes.open_programme(draft, p.official_actor)
    assert LineStatus  # imported for readers of move()


def test_every_state_has_its_own_label(app):
    from marketplace.vouchers import models

    enums = [
        models.ProgrammeStatus,
        models.ProgrammeMode,
        models.VoucherStatus,
        models.EntryKind,
        models.ReservationStatus,
        models.ApplicationStatus,
        models.SettlementStatus,
        models.RiskReason,
        models.FlagStatus,
    ]
    with app.test_request_context(), force_locale("en"):
        assert all(member.label for enum in enums for member in enum)
        assert models.ProgrammeMode.OPEN.label == "Open mode"
        assert models.FlagStatus.OPEN.label == "Held for review"
        assert models.ProgrammeStatus.OPEN.label == "Open for vouchers"


def test_integrator_mode_pays_only_appointed_integrators_curated_bundles(app, dbs, p):
    from marketplace.catalog import curated_bundles
    from marketplace.orders import bundles
    from tests.functional.catalog_helpers import (
        membership,
        provider_with_owner,
        published_package,
    )
    from tests.functional.voucher_helpers import ONE_TIME

    integrator, i_owner = provider_with_owner("i@v.cn", integrator=True)
    other, other_owner = provider_with_owner("q@v.cn")
    membership(dbs, integrator, p.agency)
    membership(dbs, other, p.agency)
    mes = published_package(
        app, dbs, other, other_owner, plans=(ONE_TIME,), category_code="mes", title="另一家 MES"
    )
    fields = curated_bundles.BundleFields(
        "联网+MES 套餐", "", "machining", "small", 10_000_00, [p.package.id, mes.id]
    )
    with services(app, dbs):
        curated = curated_bundles.create_bundle(
            integrator, fields, Actor(i_owner.id, integrator.id, None)
        )
    programme = p.programme(
        mode=ProgrammeMode.INTEGRATOR,
        integrators=[integrator],
        rate_bp=2_000,
        face_value_fen=40_000_00,
        cap_fen=40_000_00,
    )
    voucher = p.issue_to(programme)
    with services(app, dbs):  # the packages on their own: integrator mode pays nothing
        assert all(s.subsidy_fen == 0 for s in spending.plan(p.enterprise.id, _claims(p)))
    with services(app, dbs):
        whole = bundles.from_curated(p.enterprise, curated.id, p.enterprise_actor)
        orders.checkout(p.enterprise, whole, p.enterprise_actor)
    rows = dbs.execute(
        select(Reservation.amount_fen, Reservation.is_integration).order_by(Reservation.id)
    ).all()
    # 20 % of ¥60,000, of ¥60,000 and of the ¥10,000 integration fee
    assert [tuple(r) for r in rows] == [(12_000_00, False), (12_000_00, False), (2_000_00, True)]
    dbs.refresh(voucher)
    assert voucher.reserved_fen == 26_000_00
    books_balance(app, dbs)


def test_many_identical_amounts_from_one_provider_are_held(app, dbs, p, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    monkeypatch.setitem(app.config, "RISK_REPEATED_AMOUNT_COUNT", 3)
    programme = p.programme(rate_bp=2_000, face_value_fen=12_000_00, cap_fen=36_000_00)
    for _ in range(3):
        p.issue_to(programme)
    for _ in range(3):
        accepted_order(app, dbs, p)
    flags = list(dbs.scalars(select(RiskFlag)))
    assert [f.reason.value for f in flags] == ["repeated_amounts"]
    held = list(dbs.scalars(select(Reservation.held).order_by(Reservation.id)))
    assert held == [False, False, True]


def test_the_check_and_expire_commands(app, dbs, p, client):
    programme = p.programme()
    voucher = p.issue_to(programme)
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["vouchers", "check"])
    assert ok.exit_code == 0 and "agree" in ok.output
    dbs.execute(text("UPDATE vouchers SET redeemed_fen = 7 WHERE id = :id"), {"id": voucher.id})
    bad = runner.invoke(args=["vouchers", "check"])
    assert bad.exit_code == 1
    assert f"voucher {voucher.code}: redeemed_fen is 7 but the ledger says 0" in bad.output
    dbs.execute(text("UPDATE vouchers SET redeemed_fen = 0 WHERE id = :id"), {"id": voucher.id})
    expired = runner.invoke(args=["vouchers", "expire"])
    assert expired.exit_code == 0 and "vouchers expired: 0" in expired.output


def test_acceptance_after_the_redeem_by_date_releases_instead_of_spending(app, dbs, p):
    programme = p.programme()
    voucher = p.issue_to(programme)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    line = the_line(dbs, p.enterprise)
    move(app, dbs, line, LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER)
    programme.redeem_by = local_today() - timedelta(days=1)  # the expiry job has not run yet
    dbs.commit()
    move(app, dbs, line, LineEvent.ACCEPT_DELIVERY)
    dbs.refresh(voucher)
    assert (voucher.reserved_fen, voucher.redeemed_fen) == (0, 0)
    assert dbs.scalar(select(Reservation.status)) is ReservationStatus.RELEASED
    books_balance(app, dbs)


def test_checkout_refuses_a_subsidy_other_than_the_one_shown(app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    bundle = p.bundle()
    with services(app, dbs), pytest.raises(DomainError) as error:
        orders.checkout(p.enterprise, bundle, p.enterprise_actor, subsidy_shown_fen=30_000_00)
    assert "¥20,000.00" in en(error.value.message)
    assert dbs.scalar(select(func.count(Order.id))) == 0
    with services(app, dbs):
        orders.checkout(p.enterprise, bundle, p.enterprise_actor, subsidy_shown_fen=20_000_00)
    assert dbs.scalar(select(func.sum(Reservation.amount_fen))) == 20_000_00


def test_an_issuing_key_serves_one_kind_of_form(app, dbs, p):
    programme = p.programme()
    shared = key()
    with services(app, dbs):
        issuing.issue_batch(programme, shared, p.official_actor)
    with services(app, dbs), pytest.raises(DomainError):
        issuing.issue_one(programme, p.enterprise.credit_code, shared, p.official_actor)


def test_settlement_csv_does_not_let_a_name_run_as_a_formula(app, dbs, p, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p.enterprise.name = '=HYPERLINK("http://x")'
    dbs.commit()
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        s = settlement.draw_up(programme, p.provider.id, p.official_actor)
        text_out = settlement.as_csv(s)
    assert "'=HYPERLINK" in text_out


def test_check_finds_money_on_the_wrong_enterprise(app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    other = OrganisationFactory()
    dbs.execute(text("UPDATE voucher_reservations SET enterprise_id = :o"), {"o": other.id})
    dbs.execute(text("UPDATE voucher_reservations SET line_amount_fen = 3000000"))  # 50 % = 15,000
    with services(app, dbs):
        problems = ledger.check()
    assert any("not its voucher's enterprise" in x for x in problems)
    assert any("more than the rate allows" in x for x in problems)
