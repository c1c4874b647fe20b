"""A duplicate webhook delivered concurrently has one effect; so has a duplicate measurement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from marketplace.db import db, local_today, writing
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import Measurement, OutcomeContract
from marketplace.payments import stripe_gateway
from marketplace.payments.models import Invoice, InvoiceStatus, Payment, ProviderBalance
from marketplace.security import Actor
from tests.concurrency.conftest import (
    SYSTEM,
    advance,
    bought,
    committed,
    in_parallel,
    posted_at_once,
)
from tests.functional.catalog_helpers import OUTCOME
from tests.stripe_fake import FakeStripe

SECRET = "whsec_race"


def one_outcome_order(app: Flask, tag: str) -> dict[str, Any]:
    """An enterprise's accepted outcome line with an agreed baseline: invoiced (the base fee)
    and measuring. Committed for real."""
    with app.app_context():
        line, actor, buyer = bought(tag, OUTCOME, "效果方案")
        contract = db.session.scalar(
            select(OutcomeContract).where(OutcomeContract.order_line_id == line.id)
        )
        today = local_today()
        outcomes.propose_baseline(contract, "60", today - timedelta(days=9), today, "MES", actor)
        outcomes.agree_baseline(contract, line, buyer)
        advance(line)
        db.session.commit()
        invoice = db.session.scalar(select(Invoice).where(Invoice.order_line_id == line.id))
        return {
            "contract_id": contract.id,
            "invoice_id": invoice.id,
            "provider_id": line.provider_id,
        }


def measurements(app: Flask, contract_id: int) -> int:
    with app.app_context():
        stmt = select(func.count(Measurement.id)).where(Measurement.contract_id == contract_id)
        return int(db.session.scalar(stmt) or 0)


def test_a_duplicate_webhook_delivered_concurrently_has_one_effect(race_app: Flask) -> None:
    data = one_outcome_order(race_app, "hook")
    with FakeStripe() as fake:
        race_app.config.update(
            PAYMENT_BACKEND="stripe",
            STRIPE_SECRET_KEY="sk_test_race",
            STRIPE_WEBHOOK_SECRET=SECRET,
            STRIPE_API_BASE=fake.url,
        )
        try:
            with race_app.test_request_context(), writing():
                invoice = db.session.get(Invoice, data["invoice_id"])
                url = stripe_gateway.start_checkout(invoice, "http://x/ok", "http://x/no", SYSTEM)
                db.session.commit()
            session = fake.pay(url.rsplit("/", 1)[1])
            payload = fake.event("checkout.session.completed", session, "evt_race_1")
            signature = fake.sign(payload, SECRET)

            def deliver(_i: int) -> Any:
                response = race_app.test_client().post(
                    "/payments/stripe/webhook",
                    data=payload,
                    content_type="application/json",
                    headers={"Stripe-Signature": signature},
                )
                return response.status_code, (response.json or {}).get("outcome")

            results = in_parallel(deliver, 6)
        finally:
            race_app.config.update(PAYMENT_BACKEND="manual", STRIPE_API_BASE="")
    assert all(status == 200 for status, _ in results), results
    assert sorted(outcome for _, outcome in results).count("applied") == 1, results
    with race_app.app_context():
        invoice = db.session.get(Invoice, data["invoice_id"])
        assert invoice.status is InvoiceStatus.PAID
        assert db.session.scalar(select(func.count(Payment.id))) == 1
        balance = db.session.get(ProviderBalance, data["provider_id"])
        assert balance.collected_fen == invoice.amount_fen


def test_a_duplicate_measurement_submitted_concurrently_counts_once(race_app: Flask) -> None:
    data = one_outcome_order(race_app, "meas")
    today = local_today()

    def submit(_i: int) -> bool:
        def once() -> bool:
            contract = db.session.get(OutcomeContract, data["contract_id"])
            _m, created = outcomes.submit(
                contract, outcomes.Reading("MES-1", today, today, "66.5"), SYSTEM, source="api"
            )
            return created

        return committed(race_app, once, refused=lambda error: error)

    results = in_parallel(submit, 6)
    assert results.count(True) == 1, results
    assert results.count(False) == 5, results
    assert measurements(race_app, data["contract_id"]) == 1


def test_measurements_with_other_ids_for_one_period_at_once_store_one(race_app: Flask) -> None:
    """Six different measurements of the same period at once: one is stored, five refused
    with the period's message (the UNIQUE constraint settles the race)."""
    data = one_outcome_order(race_app, "period")
    today = local_today()

    def submit(i: int) -> str:
        def once() -> str:
            contract = db.session.get(OutcomeContract, data["contract_id"])
            outcomes.submit(contract, outcomes.Reading(f"MES-{i}", today, today, "66.5"), SYSTEM)
            return "stored"

        return committed(race_app, once, refused=lambda error: error.field or "")

    results = in_parallel(submit, 6)
    assert sorted(results) == ["period_start"] * 5 + ["stored"], results
    assert measurements(race_app, data["contract_id"]) == 1


def test_the_same_measurement_posted_20_times_at_once_through_the_api_stores_one(
    race_app: Flask,
) -> None:
    from marketplace.accounts import api_tokens
    from marketplace.accounts.models import Organisation

    data = one_outcome_order(race_app, "apimeas")
    with race_app.app_context():
        provider = db.session.get(Organisation, data["provider_id"])
        _token, plain = api_tokens.create(
            provider, "MES", ["measurements:write"], None, Actor(None, provider.id, None)
        )
        db.session.commit()
    today = local_today().isoformat()
    body = {"external_id": "MES-API-1", "period_start": today, "period_end": today, "value": 67}

    posted_at_once(race_app, f"/api/v1/contracts/{data['contract_id']}/measurements", body, plain)
    assert measurements(race_app, data["contract_id"]) == 1


def test_parallel_api_reads_that_note_a_tokens_use_all_succeed(race_app: Flask) -> None:
    """A token's first use in a minute writes ``last_used_at``: such reads take the write lock
    up front (SQLite), so eight at once queue instead of failing with "database is locked"."""
    from marketplace.accounts import api_tokens
    from marketplace.accounts.models import Organisation

    data = one_outcome_order(race_app, "apiread")
    with race_app.app_context():
        provider = db.session.get(Organisation, data["provider_id"])
        plains = []
        for n in range(8):
            _token, plain = api_tokens.create(
                provider, f"MES {n}", ["orders:read"], None, Actor(None, provider.id, None)
            )
            plains.append(plain)
        db.session.commit()

    def read(i: int) -> int:
        response = race_app.test_client().get(
            "/api/v1/orders", headers={"Authorization": f"Bearer {plains[i]}"}
        )
        return response.status_code

    assert in_parallel(read, 8) == [200] * 8
