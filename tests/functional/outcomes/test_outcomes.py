"""Outcome contracts, invoices and bank-transfer payments through the services."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from marketplace.db import local_today, utcnow
from marketplace.errors import DomainError
from marketplace.orders import bundles
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import (
    ContractStatus,
    Measurement,
    MeasurementStatus,
    OutcomeContract,
)
from marketplace.payments import services as payments
from marketplace.payments.models import Invoice, InvoiceKind, InvoiceStatus, Payment
from marketplace.security import Actor
from marketplace.vouchers import spending
from tests.factories import OrganisationFactory
from tests.functional.catalog_helpers import OUTCOME, published_package, services
from tests.functional.order_helpers import accept_delivery, deliver
from tests.functional.voucher_helpers import pilot

SYSTEM = Actor(None, None, None)
KIND = {
    LineEvent.ACCEPT: "provider",
    LineEvent.START: "provider",
    LineEvent.DELIVER: "provider",
    LineEvent.ACCEPT_DELIVERY: "enterprise",
}


def en(message):
    with force_locale("en"):
        return str(message)


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="out")


def order_outcome_line(app, dbs, p, *events):
    package = published_package(
        app, dbs, p.provider, p.provider_owner, plans=(OUTCOME,), title="OEE 提升（按效果付费）"
    )
    with services(app, dbs):
        b = bundles.create(p.enterprise, "效果方案", p.enterprise_actor)
        bundles.add(b, package.id, None, p.enterprise_actor)
        order = orders.checkout(p.enterprise, b, p.enterprise_actor)
        line = order.lines[0]
        for event in events:
            orders.transition(line, event, "", SYSTEM, KIND[event])
    return line


def contract_of(dbs, line):
    return dbs.scalar(select(OutcomeContract).where(OutcomeContract.order_line_id == line.id))


def measuring(app, dbs, p):
    line = order_outcome_line(app, dbs, p, LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER)
    contract = contract_of(dbs, line)
    today = local_today()
    with services(app, dbs):
        outcomes.propose_baseline(
            contract, "60", today - timedelta(days=30), today, "MES 记录", p.official_actor
        )
        outcomes.agree_baseline(contract, line, p.enterprise_actor)
    assert contract.status is ContractStatus.AWAITING_GO_LIVE  # delivery not accepted yet
    with services(app, dbs):
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    dbs.refresh(contract)
    assert contract.status is ContractStatus.MEASURING
    assert contract.window_end - contract.window_start == timedelta(days=90)
    return line, contract


def reading(n, value, start=None, days=1):
    start = start or local_today()
    return outcomes.Reading(f"mes-{n}", start, start + timedelta(days=days - 1), str(value))


def measuring_since(dbs, contract, days):
    """The window opened ``days`` ago, so that there are past days to measure (one
    measurement per period)."""
    contract.window_start = local_today() - timedelta(days=days)
    dbs.flush()


def day(n):
    """The n-th last day: a period of its own."""
    return local_today() - timedelta(days=n)


def test_ordering_an_outcome_line_opens_a_contract_with_the_plans_terms(app, dbs, p):
    line = order_outcome_line(app, dbs, p)
    contract = contract_of(dbs, line)
    assert contract.status is ContractStatus.AWAITING_BASELINE
    assert (contract.metric_code, contract.target_value, contract.success_fee_fen) == (
        "oee",
        Decimal("5.00"),
        30_000_00,
    )


def test_the_baseline_is_proposed_disputed_proposed_again_and_then_fixed(app, dbs, p):
    line = order_outcome_line(app, dbs, p)
    contract = contract_of(dbs, line)
    today = local_today()
    with services(app, dbs), pytest.raises(DomainError) as error:
        outcomes.propose_baseline(contract, "120", today - timedelta(days=9), today, "x", SYSTEM)
    assert error.value.field == "value"  # OEE over 100 %
    with services(app, dbs), pytest.raises(DomainError):
        outcomes.propose_baseline(contract, "abc", today - timedelta(days=9), today, "x", SYSTEM)
    with services(app, dbs):
        outcomes.propose_baseline(
            contract, "58.5", today - timedelta(days=9), today, "月报", SYSTEM
        )
        outcomes.dispute_baseline(contract, "取数口径不对", SYSTEM)
        outcomes.propose_baseline(contract, "60", today - timedelta(days=9), today, "月报", SYSTEM)
        outcomes.agree_baseline(contract, line, SYSTEM)
    with services(app, dbs), pytest.raises(DomainError) as error:
        outcomes.propose_baseline(contract, "50", today - timedelta(days=9), today, "改", SYSTEM)
    assert "agreed" in en(error.value.message)
    dbs.refresh(contract)
    assert contract.baseline_value == Decimal("60")


def test_measurements_are_idempotent_and_checked(app, dbs, p):
    _line, contract = measuring(app, dbs, p)
    with services(app, dbs):
        first, created = outcomes.submit(contract, reading(1, "63.2"), SYSTEM)
        again, created_again = outcomes.submit(contract, reading(1, "63.2"), SYSTEM)
    assert created and not created_again and first.id == again.id
    with services(app, dbs), pytest.raises(outcomes.Conflict):
        outcomes.submit(contract, reading(1, "64"), SYSTEM)
    bad = [
        (reading(2, "101"), "value"),
        (reading(3, "x"), "value"),
        (reading(4, "60", start=contract.window_start - timedelta(days=1)), "period_start"),
        (reading(5, "60", start=local_today() + timedelta(days=1)), "period_end"),
    ]
    for r, field in bad:
        with services(app, dbs), pytest.raises(DomainError) as error:
            outcomes.submit(contract, r, SYSTEM)
        assert error.value.field == field, r
    assert dbs.scalar(select(func.count(Measurement.id))) == 1


def test_confirm_dispute_verify_and_auto_confirm(app, dbs, p):
    _line, contract = measuring(app, dbs, p)
    measuring_since(dbs, contract, 3)
    with services(app, dbs):
        a, _ = outcomes.submit(contract, reading(1, "66", day(1)), SYSTEM)
        b, _ = outcomes.submit(contract, reading(2, "70", day(2)), SYSTEM)
        c, _ = outcomes.submit(contract, reading(3, "50", day(3)), SYSTEM)
        outcomes.confirm(a, SYSTEM)
        outcomes.dispute(b, "停机两天未计入", SYSTEM)
        outcomes.verify(b, False, "现场核查：数据有误", SYSTEM)
    with services(app, dbs), pytest.raises(DomainError):  # the assessor's word is final
        outcomes.verify(b, True, "改判", SYSTEM)
    dbs.execute(
        text("UPDATE measurements SET created_at = :t WHERE id = :id"),
        {"t": (utcnow() - timedelta(days=8)).replace(tzinfo=None), "id": c.id},
    )
    with services(app, dbs):
        assert outcomes.auto_confirm(7, SYSTEM) == 1
    dbs.refresh(c)
    assert c.status is MeasurementStatus.CONFIRMED
    assert outcomes.achieved([a, b, c]) == Decimal("58")  # 66 and 50; 70 was rejected


def test_a_met_window_bills_the_success_fee_and_a_missed_one_does_not(app, dbs, p):
    _line, contract = measuring(app, dbs, p)
    with services(app, dbs):
        m, _ = outcomes.submit(contract, reading(1, "65"), SYSTEM)  # exactly on target
        outcomes.confirm(m, SYSTEM)
    with services(app, dbs), pytest.raises(DomainError):  # the window is still open
        outcomes.settle(contract, SYSTEM)
    with services(app, dbs):
        settled = outcomes.settle_due(SYSTEM, today=contract.window_end + timedelta(days=1))
    assert settled == [contract] and contract.status is ContractStatus.MET
    assert contract.computation["improvement"] == "5" and contract.fee_fen == 30_000_00
    fee = dbs.scalar(select(Invoice).where(Invoice.kind == InvoiceKind.SUCCESS_FEE))
    assert fee.amount_fen == 30_000_00 and fee.status is InvoiceStatus.FINALISED

    other = pilot(app, dbs, tag="out2")
    _l2, missed = measuring(app, dbs, other)
    with services(app, dbs):
        m, _ = outcomes.submit(missed, reading(1, "64.99"), SYSTEM)
        outcomes.confirm(m, SYSTEM)
        outcomes.settle(missed, SYSTEM, today=missed.window_end + timedelta(days=1))
    assert missed.status is ContractStatus.MISSED and missed.fee_fen == 0
    assert (
        dbs.scalar(select(func.count(Invoice.id)).where(Invoice.kind == InvoiceKind.SUCCESS_FEE))
        == 1
    )


def test_co_payment_falls_due_when_the_enterprise_accepts_the_delivery(app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    line = order.lines[0]
    assert dbs.scalar(select(func.count(Invoice.id))) == 0  # nothing when ordered
    with services(app, dbs):
        deliver(line)  # the provider accepted the order and delivered
    assert dbs.scalar(select(func.count(Invoice.id))) == 0  # nothing before 验收
    with services(app, dbs):
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    invoice = dbs.scalar(select(Invoice))
    assert (invoice.gross_fen, invoice.voucher_fen, invoice.amount_fen) == (
        60_000_00,
        20_000_00,
        40_000_00,
    )
    assert invoice.number == f"ZD{p.provider.id:05d}-000001"


def test_invoice_numbers_are_gap_free_per_provider_and_a_rollback_returns_its_number(app, dbs, p):
    lines = []
    for _ in range(3):
        with services(app, dbs):
            order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
            deliver(order.lines[0])
        lines.append(order.lines[0])
    with services(app, dbs):
        orders.transition(lines[0], LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    with services(app, dbs), pytest.raises(RuntimeError), payments_fails_after_numbering():
        orders.transition(lines[1], LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    with services(app, dbs):
        orders.transition(lines[2], LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    numbers = list(dbs.scalars(select(Invoice.sequence).order_by(Invoice.id)))
    assert numbers == [1, 2]


class payments_fails_after_numbering:
    def __enter__(self):
        from marketplace import audit

        self.original = audit.record

        def record(actor, action, *args, **kwargs):
            if action == "invoice.finalised":
                raise RuntimeError("the connection dropped")
            return self.original(actor, action, *args, **kwargs)

        audit.record = record
        return self

    def __exit__(self, *exc):
        from marketplace import audit

        audit.record = self.original
        return False


def test_bank_transfers_pay_an_invoice_once(app, dbs, p):
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        accept_delivery(order.lines[0])
    invoice = dbs.scalar(select(Invoice))
    day = utcnow()
    with services(app, dbs), pytest.raises(DomainError) as error:
        payments.record_transfer(invoice, 60_000_01, "HX1", day, SYSTEM)
    assert error.value.field == "amount"
    with services(app, dbs):
        payments.record_transfer(invoice, 20_000_00, "HX1", day, SYSTEM)
    with services(app, dbs), pytest.raises(DomainError):  # the same transfer twice
        payments.record_transfer(invoice, 20_000_00, "HX1", day, SYSTEM)
    with services(app, dbs):
        payments.record_transfer(invoice, 40_000_00, "HX2", day, SYSTEM)
    assert invoice.status is InvoiceStatus.PAID and invoice.paid_fen == 60_000_00
    with services(app, dbs), pytest.raises(DomainError):  # paying a paid invoice
        payments.record_transfer(invoice, 1, "HX3", day, SYSTEM)
    with services(app, dbs), pytest.raises(DomainError):  # voiding a paid invoice
        payments.void(invoice, "开错了", SYSTEM)
    assert dbs.scalar(select(func.count(Payment.id))) == 2
    with pytest.raises(IntegrityError), dbs.begin_nested():  # the database holds it too
        dbs.execute(text("UPDATE invoices SET paid_fen = amount_fen + 1"))


def test_a_void_invoice_cannot_be_paid(app, dbs, p):
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        accept_delivery(order.lines[0])
    invoice = dbs.scalar(select(Invoice))
    with services(app, dbs):
        payments.void(invoice, "价格录入错误，另开", SYSTEM)
    with services(app, dbs), pytest.raises(DomainError):
        payments.record_transfer(invoice, 1_00, "HX9", utcnow(), SYSTEM)


def test_others_cannot_see_contracts_or_invoices(app, dbs, p):
    line = order_outcome_line(app, dbs, p)
    contract = contract_of(dbs, line)
    stranger = OrganisationFactory()
    with services(app, dbs), pytest.raises(DomainError):
        outcomes.contract_for(stranger, contract.id)
    with services(app, dbs):
        assert outcomes.contract_for(p.agency, contract.id) == contract  # the pool's agency


def test_vouchers_pay_part_of_a_success_fee_where_the_programme_allows(app, dbs, p):
    programme = p.programme(
        covers_success_fees=True, face_value_fen=40_000_00, cap_fen=40_000_00, rate_bp=5_000
    )
    voucher = p.issue_to(programme)
    _line, contract = measuring(app, dbs, p)  # the ¥5,000 base fee: ¥2,500 from the voucher
    with services(app, dbs):
        m, _ = outcomes.submit(contract, reading(1, "66"), SYSTEM)
        outcomes.confirm(m, SYSTEM)
        outcomes.settle(contract, SYSTEM, today=contract.window_end + timedelta(days=1))
    fee = dbs.scalar(select(Invoice).where(Invoice.kind == InvoiceKind.SUCCESS_FEE))
    assert (fee.gross_fen, fee.voucher_fen, fee.amount_fen) == (30_000_00, 15_000_00, 15_000_00)
    dbs.refresh(voucher)
    assert voucher.redeemed_fen == 15_000_00 + 2_500_00
    from marketplace.vouchers import ledger

    with services(app, dbs):
        assert ledger.check() == []


def test_without_the_programmes_leave_vouchers_do_not_pay_success_fees(app, dbs, p):
    programme = p.programme(face_value_fen=40_000_00, cap_fen=40_000_00)
    p.issue_to(programme)
    _line, contract = measuring(app, dbs, p)
    with services(app, dbs):
        m, _ = outcomes.submit(contract, reading(1, "66"), SYSTEM)
        outcomes.confirm(m, SYSTEM)
        outcomes.settle(contract, SYSTEM, today=contract.window_end + timedelta(days=1))
    fee = dbs.scalar(select(Invoice).where(Invoice.kind == InvoiceKind.SUCCESS_FEE))
    assert fee.voucher_fen == 0 and fee.amount_fen == 30_000_00


def test_the_scheduled_commands(app, dbs, p, client):
    _line, contract = measuring(app, dbs, p)
    with services(app, dbs):
        outcomes.submit(contract, reading(1, "66"), SYSTEM)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outcomes", "auto-confirm", "--days", "1"])
    assert result.exit_code == 0 and "confirmed automatically: 0" in result.output
    result = runner.invoke(args=["outcomes", "settle"])
    assert result.exit_code == 0 and "contracts settled: 0" in result.output  # window open


def legacy_invoice(app, dbs, p):
    """A line its provider accepted before invoices waited for 验收: it was invoiced then."""
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        line = order.lines[0]
        orders.transition(line, LineEvent.ACCEPT, "", SYSTEM, "provider")
        payments.bill(
            InvoiceKind.CO_PAYMENT,
            line.id,
            line.provider_id,
            p.enterprise.id,
            line.committed_fen,
            spending.line_funding(line.id).reserved_fen,
            line.title,
            SYSTEM,
        )
    return order


def test_a_cancelled_line_paid_by_transfer_is_owed_back_by_the_provider(app, dbs, p):
    from marketplace.payments.models import Refund

    order = legacy_invoice(app, dbs, p)
    invoice = dbs.scalar(select(Invoice))
    with services(app, dbs):
        payments.record_transfer(invoice, 10_000_00, "HX-P1", utcnow(), SYSTEM)
        orders.transition(order.lines[0], LineEvent.CANCEL, "改期", SYSTEM, "enterprise")
    dbs.refresh(invoice)
    refund = dbs.scalar(select(Refund))
    assert invoice.status is InvoiceStatus.VOID
    assert (refund.amount_fen, refund.status) == (10_000_00, "pending")
    with services(app, dbs):
        payments.record_refund(refund, "HX-BACK-1", SYSTEM)
    assert refund.status == "done"
    with services(app, dbs), pytest.raises(DomainError):
        payments.record_refund(refund, "HX-BACK-2", SYSTEM)


def test_a_subscription_billed_monthly_is_invoiced_month_by_month(app, dbs, p):
    from tests.functional.catalog_helpers import SUBSCRIPTION

    monthly = published_package(
        app,
        dbs,
        p.provider,
        p.provider_owner,
        title="按月订阅版",
        plans=(replace(SUBSCRIPTION, billed_monthly=True, term_months=3),),
    )
    programme = p.programme(rate_bp=1_000)  # vouchers pay 10 %: ¥600 of ¥6,000
    p.issue_to(programme)
    with services(app, dbs):
        b = bundles.create(p.enterprise, "按月方案", p.enterprise_actor)
        bundles.add(b, monthly.id, None, p.enterprise_actor)
        order = orders.checkout(p.enterprise, b, p.enterprise_actor)
        line = order.lines[0]
        deliver(line)
    assert dbs.scalar(select(func.count(Invoice.id))) == 0  # not before the go-live (验收)
    with services(app, dbs):
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    first = dbs.scalar(select(Invoice))
    assert (first.period, first.gross_fen, first.voucher_fen, first.amount_fen) == (
        1,
        2_000_00,
        200_00,
        1_800_00,
    )
    accepted = local_today()
    with services(app, dbs):
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=29)) == 0
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=30)) == 1
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=400)) == 1
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=400)) == 0
    invoices = list(dbs.scalars(select(Invoice).order_by(Invoice.period)))
    assert [i.period for i in invoices] == [1, 2, 3]
    assert sum(i.voucher_fen for i in invoices) == 600_00
    assert sum(i.gross_fen for i in invoices) == line.committed_fen
    assert [i.sequence for i in invoices] == [1, 2, 3]


def test_settlement_waits_for_undecided_measurements(app, dbs, p):
    _line, contract = measuring(app, dbs, p)
    with services(app, dbs):
        m, _ = outcomes.submit(contract, reading(1, "70"), SYSTEM)
        outcomes.dispute(m, "数据有误", SYSTEM)
    after = contract.window_end + timedelta(days=1)
    with services(app, dbs):
        assert outcomes.settle_due(SYSTEM, today=after) == []  # the assessor has not ruled
    assert contract.status is ContractStatus.MEASURING
    with services(app, dbs):
        outcomes.verify(m, True, "核实属实", SYSTEM)
        assert outcomes.settle_due(SYSTEM, today=after) == [contract]
    assert contract.status is ContractStatus.MET


def test_a_rejected_outcome_line_cancels_its_contract(app, dbs, p):
    line = order_outcome_line(app, dbs, p)
    with services(app, dbs):
        orders.transition(line, LineEvent.REJECT, "排期已满", SYSTEM, "provider")
    contract = contract_of(dbs, line)
    assert contract.status is ContractStatus.CANCELLED
    with services(app, dbs), pytest.raises(DomainError):
        outcomes.propose_baseline(
            contract, "60", local_today() - timedelta(days=5), local_today(), "x", SYSTEM
        )


def test_only_agencies_that_admitted_the_provider_oversee_its_contracts(app, dbs, p):
    from marketplace.pool.models import PoolStatus
    from tests.functional.catalog_helpers import membership

    line = order_outcome_line(app, dbs, p)
    contract = contract_of(dbs, line)
    applied_only = OrganisationFactory(agency=True)
    membership(dbs, p.provider, applied_only, status=PoolStatus.APPLIED)
    with services(app, dbs), pytest.raises(DomainError):
        outcomes.contract_for(applied_only, contract.id)


def test_voucher_money_released_before_acceptance_is_not_deducted(app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        line = order.lines[0]
        deliver(line)  # ¥20,000 set aside, nothing invoiced
    with services(app, dbs):  # the programme ends before the delivery is accepted
        spending.expire_due(SYSTEM, today=programme.redeem_by + timedelta(days=1))
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    invoice = dbs.scalar(select(Invoice))
    assert (invoice.gross_fen, invoice.voucher_fen, invoice.amount_fen) == (60_000_00, 0, 60_000_00)
    assert dbs.scalar(select(func.count(Invoice.id))) == 1  # no shortfall: nothing was counted


def test_voucher_money_released_after_invoicing_is_billed_to_the_enterprise(app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    order = legacy_invoice(app, dbs, p)  # it counted on the ¥20,000 set aside
    with services(app, dbs):  # the programme ends before the delivery is accepted
        spending.expire_due(SYSTEM, today=programme.redeem_by + timedelta(days=1))
    shortfall = dbs.scalar(select(Invoice).where(Invoice.kind == InvoiceKind.VOUCHER_SHORTFALL))
    assert (shortfall.amount_fen, shortfall.voucher_fen) == (20_000_00, 0)
    assert order.lines[0].id == shortfall.order_line_id
    with services(app, dbs):  # running it again bills nothing more
        spending.expire_due(SYSTEM, today=programme.redeem_by + timedelta(days=2))
    assert (
        dbs.scalar(
            select(func.count(Invoice.id)).where(Invoice.kind == InvoiceKind.VOUCHER_SHORTFALL)
        )
        == 1
    )


def test_a_void_invoice_is_replaced_by_a_corrected_one(app, dbs, p):
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        accept_delivery(order.lines[0])
    invoice = dbs.scalar(select(Invoice))
    with services(app, dbs), pytest.raises(DomainError):  # void it first
        payments.reissue(invoice, 55_000_00, SYSTEM)
    with services(app, dbs):
        payments.void(invoice, "按合同折扣应为 ¥55,000", SYSTEM)
        corrected = payments.reissue(invoice, 55_000_00, SYSTEM)
    assert corrected.amount_fen == 55_000_00 and corrected.sequence == 2
    assert corrected.period == invoice.period and corrected.kind is invoice.kind
