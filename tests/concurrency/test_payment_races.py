"""A duplicate webhook delivered concurrently has one effect; so has a duplicate measurement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from marketplace.catalog import services as catalog
from marketplace.db import db, local_today, writing
from marketplace.orders import bundles
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import Measurement, OutcomeContract
from marketplace.payments import stripe_gateway
from marketplace.payments.models import Invoice, InvoiceStatus, Payment, ProviderBalance
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from tests import factories
from tests.concurrency.conftest import in_parallel
from tests.functional.catalog_helpers import FIELDS, OUTCOME
from tests.stripe_fake import FakeStripe

SECRET = "whsec_race"
SYSTEM = Actor(None, None, None)


def one_outcome_order(app: Flask, tag: str) -> dict[str, Any]:
    """An enterprise's accepted outcome line with an agreed baseline: invoiced (the base fee)
    and measuring. Committed for real."""
    with app.app_context():
        factories.bind(db.session)
        agency = factories.OrganisationFactory(agency=True)
        provider = factories.OrganisationFactory(provider=True)
        seller = factories.UserFactory(org=provider, email=f"seller@{tag}.cn")
        db.session.add(
            PoolMembership(
                provider=provider,
                agency=agency,
                status=PoolStatus.ADMITTED,
                years_in_business=5,
                reference_customer_count=3,
                reference_customers="甲",
                capability_statement="能力",
                contact_name="王工",
                contact_phone="138",
                contact_email="bd@p.cn",
            )
        )
        enterprise = factories.OrganisationFactory()
        owner = factories.UserFactory(org=enterprise, email=f"owner@{tag}.cn")
        actor = Actor(seller.id, provider.id, None)
        package = catalog.create_package(provider, FIELDS, actor)
        catalog.add_plan(package, OUTCOME, actor)
        catalog.add_interface(package, "consumes", "opc_ua", "device_telemetry", actor)
        catalog.submit(package, actor)
        catalog.publish(package, actor)
        buyer = Actor(owner.id, enterprise.id, None)
        bundle = bundles.create(enterprise, "效果方案", buyer)
        bundles.add(bundle, package.id, None, buyer)
        order = orders.checkout(enterprise, bundle, buyer)
        line = order.lines[0]
        contract = db.session.scalar(
            select(OutcomeContract).where(OutcomeContract.order_line_id == line.id)
        )
        today = local_today()
        outcomes.propose_baseline(contract, "60", today - timedelta(days=9), today, "MES", actor)
        outcomes.agree_baseline(contract, line, buyer)
        for event, kind in (
            (LineEvent.ACCEPT, "provider"),
            (LineEvent.START, "provider"),
            (LineEvent.DELIVER, "provider"),
            (LineEvent.ACCEPT_DELIVERY, "enterprise"),
        ):
            orders.transition(line, event, "", SYSTEM, kind)
        db.session.commit()
        invoice = db.session.scalar(select(Invoice).where(Invoice.order_line_id == line.id))
        return {"contract_id": contract.id, "invoice_id": invoice.id, "provider_id": provider.id}


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
        with race_app.app_context(), writing():
            contract = db.session.get(OutcomeContract, data["contract_id"])
            _m, created = outcomes.submit(
                contract, outcomes.Reading("MES-1", today, today, "66.5"), SYSTEM, source="api"
            )
            db.session.commit()
            return created

    results = in_parallel(submit, 6)
    assert results.count(True) == 1, results
    assert results.count(False) == 5, results
    with race_app.app_context():
        assert (
            db.session.scalar(
                select(func.count(Measurement.id)).where(
                    Measurement.contract_id == data["contract_id"]
                )
            )
            == 1
        )


def test_measurements_with_other_ids_for_one_period_at_once_store_one(race_app: Flask) -> None:
    """Six different measurements of the same period at once: one is stored, five refused
    with the period's message (the UNIQUE constraint settles the race)."""
    data = one_outcome_order(race_app, "period")
    today = local_today()

    def submit(i: int) -> str:
        with race_app.app_context(), writing():
            contract = db.session.get(OutcomeContract, data["contract_id"])
            try:
                outcomes.submit(
                    contract, outcomes.Reading(f"MES-{i}", today, today, "66.5"), SYSTEM
                )
            except outcomes.Conflict as error:
                db.session.rollback()
                return error.field or ""
            db.session.commit()
            return "stored"

    results = in_parallel(submit, 6)
    assert sorted(results) == ["period_start"] * 5 + ["stored"], results
    with race_app.app_context():
        assert (
            db.session.scalar(
                select(func.count(Measurement.id)).where(
                    Measurement.contract_id == data["contract_id"]
                )
            )
            == 1
        )


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

    def post(_i: int) -> tuple[int, int]:
        response = race_app.test_client().post(
            f"/api/v1/contracts/{data['contract_id']}/measurements",
            json=body,
            headers={"Authorization": f"Bearer {plain}"},
        )
        return response.status_code, (response.json or {}).get("id")

    results = in_parallel(post, 20)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 19 + [201], results
    assert len({measurement_id for _, measurement_id in results}) == 1, results
    with race_app.app_context():
        stored = db.session.scalar(
            select(func.count(Measurement.id)).where(Measurement.contract_id == data["contract_id"])
        )
        assert stored == 1


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
