"""Parallel checkouts and issues against vouchers and budgets that cover only some of them.

These requests really commit, so they run on a database of their own (SQLite by default,
PostgreSQL under ``TEST_DATABASE_URL``), through the Flask test client in real threads:
the same request hooks, transactions and conditional UPDATEs as production.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.accounts.models import Organisation
from marketplace.db import db, local_today
from marketplace.orders import bundles
from marketplace.orders.models import Order
from marketplace.security import Actor
from marketplace.vouchers import admission, issuing, ledger, programmes
from marketplace.vouchers.models import (
    ProgrammeMode,
    Reservation,
    Voucher,
    VoucherProgramme,
)
from tests import factories
from tests.concurrency.conftest import (
    THREADS,
    advance,
    committed,
    in_parallel,
    ordered,
    pooled_provider,
    published,
    signed_in,
)
from tests.functional.voucher_helpers import ONE_TIME


def setup(app: Flask, tag: str, enterprises: int = 1, **rules: Any) -> dict[str, Any]:
    """An agency with an open programme, an admitted provider with a ¥60,000 package, and
    ``enterprises`` enterprise owners; committed for real."""
    with app.app_context():
        session: Session = db.session
        factories.bind(session)
        agency = factories.OrganisationFactory(agency=True)
        official = factories.UserFactory(org=agency, email=f"official@{tag}.cn")
        provider, seller = pooled_provider(agency, f"seller@{tag}.cn")
        orgs = [factories.OrganisationFactory() for _ in range(enterprises)]
        owners = [
            factories.UserFactory(org=org, email=f"owner{i}@{tag}.cn") for i, org in enumerate(orgs)
        ]
        package = published(provider, seller, ONE_TIME)
        official_actor = Actor(official.id, agency.id, None)
        base = {
            "name": f"并发测试券{tag}",
            "mode": ProgrammeMode.OPEN,
            "budget_fen": 1_000_000_00,
            "face_value_fen": 20_000_00,
            "rate_bp": 5_000,
            "cap_fen": 20_000_00,
            "issue_from": local_today() - timedelta(days=1),
            "redeem_by": local_today() + timedelta(days=90),
        }
        programme = programmes.create_programme(
            agency, programmes.Rules(**(base | rules)), official_actor
        )
        programmes.open_programme(programme, official_actor)
        # vouchers pay only for admitted versions (issue 22): the agency admits the package
        admission.set_rules(programme, "并发测试的准入标准", None, official_actor)
        admission.decide(programme, package.latest, True, "符合准入标准", agency, official_actor)
        session.commit()
        return {
            "programme_id": programme.id,
            "package_id": package.id,
            "enterprise_ids": [o.id for o in orgs],
            "owner_emails": [u.email for u in owners],
            "official_email": official.email,
            "official_actor": official_actor,
            "codes": [o.credit_code for o in orgs],
        }


def accepted_on_voucher(data: dict[str, Any], tag: str, name: str) -> tuple[Any, Order]:
    """Inside a write context: ``setup``'s first enterprise gets a voucher, orders the package
    with it and accepts its delivery at once; the programme and the order."""
    programme = db.session.get(VoucherProgramme, data["programme_id"])
    assert programme is not None
    issuing.issue_one(programme, data["codes"][0], f"race-issue-{tag}-0001", data["official_actor"])
    enterprise = db.session.get(Organisation, data["enterprise_ids"][0])
    assert enterprise is not None
    order = ordered(enterprise, data["package_id"], name, Actor(None, enterprise.id, None))
    advance(order.lines[0])
    return programme, order


def books(app: Flask) -> list[str]:
    with app.app_context():
        return ledger.check()


def test_parallel_checkouts_never_reserve_more_than_the_voucher_holds(race_app: Flask) -> None:
    # Eight bundles of one ¥60,000 line at 50 %: each wants ¥30,000, the voucher holds
    # ¥20,000, so exactly ¥20,000 may be reserved, by one order or spread over several.
    data = setup(race_app, "ck")
    with race_app.app_context():
        programme = db.session.get(VoucherProgramme, data["programme_id"])
        issuing.issue_one(programme, data["codes"][0], "race-issue-ck-0001", data["official_actor"])
        enterprise = db.session.get(Organisation, data["enterprise_ids"][0])
        actor = Actor(None, enterprise.id, None)
        ids = []
        for i in range(THREADS):
            b = bundles.create(enterprise, f"并发方案{i}", actor)
            bundles.add(b, data["package_id"], None, actor)
            ids.append(b.id)
        db.session.commit()
    clients, tokens = signed_in(race_app, [data["owner_emails"][0]] * THREADS)

    def checkout(i: int) -> int:
        response = clients[i].post(
            f"/my-bundles/{ids[i]}/checkout",
            data={"csrf_token": tokens[i], "key": f"race-checkout-{i:04d}-xxxx"},
        )
        return response.status_code

    statuses = in_parallel(checkout)
    assert all(s == 302 for s in statuses), statuses  # refused or placed, never an error
    with race_app.app_context():
        voucher = db.session.scalars(select(Voucher)).one()
        reserved = db.session.scalar(select(func.sum(Reservation.amount_fen))) or 0
        orders = db.session.scalar(select(func.count(Order.id)))
    assert voucher.reserved_fen == reserved == 20_000_00  # exactly what the balance allowed
    assert voucher.available_fen == 0
    assert 1 <= orders <= THREADS
    assert books(race_app) == []


def test_parallel_issues_never_exceed_the_budget(race_app: Flask) -> None:
    # Room for five vouchers, ten enterprises asking at once.
    data = setup(race_app, "iss", enterprises=10, budget_fen=100_000_00)

    def issue(i: int) -> str:
        def once() -> str:
            programme = db.session.get(VoucherProgramme, data["programme_id"])
            issuing.issue_one(
                programme, data["codes"][i], f"race-issue-{i:04d}-xxxxxxxx", data["official_actor"]
            )
            return "issued"

        return committed(race_app, once)

    results = in_parallel(issue, 10)
    assert results.count("issued") == 5, results
    assert results.count("refused") == 5, results
    with race_app.app_context():
        programme = db.session.get(VoucherProgramme, data["programme_id"])
        assert programme.issued_fen == programme.budget_fen == 100_000_00
    assert books(race_app) == []


def test_parallel_batch_issues_apply_once(race_app: Flask) -> None:
    # every enterprise of the module's earlier tests is eligible too: no four-eyes proposal
    data = setup(race_app, "bat", enterprises=6, batch_approval_threshold_fen=1_000_000_00)

    def batch(i: int) -> str:
        def once() -> str:
            programme = db.session.get(VoucherProgramme, data["programme_id"])
            run = issuing.issue_batch(
                programme, f"race-batch-{i:04d}-xxxxxxxx", data["official_actor"]
            )
            return f"issued {run.count}"

        return committed(race_app, once)

    results = in_parallel(batch, 4)
    issued = [r for r in results if r.startswith("issued")]
    assert len(issued) == 1, results
    with race_app.app_context():
        programme = db.session.get(VoucherProgramme, data["programme_id"])
        holders = db.session.scalar(
            select(func.count(Voucher.id)).where(Voucher.programme_id == programme.id)
        )
        assert programme.issued_fen == holders * 20_000_00 <= programme.budget_fen
    assert books(race_app) == []
