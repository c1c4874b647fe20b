"""Parallel checkouts racing at a programme's provider share cap (issue 22): exactly the
orders the cap allows pass (or pass unheld), whatever the interleaving. Run on PostgreSQL
with ``TEST_DATABASE_URL`` (the programme's row is locked FOR UPDATE) and on SQLite (the
checkout's BEGIN IMMEDIATE)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.accounts.models import Organisation
from marketplace.db import db
from marketplace.orders import bundles
from marketplace.orders import services as orders
from marketplace.orders.models import Order, OrderLine
from marketplace.security import Actor
from marketplace.vouchers import admission, cap_holds, issuing, ledger
from marketplace.vouchers.models import CapHold, CapPolicy, Reservation, VoucherProgramme
from tests import factories
from tests.concurrency.conftest import THREADS, in_parallel, pooled_provider, published, signed_in
from tests.concurrency.test_voucher_races import setup
from tests.functional.voucher_helpers import ONE_TIME

ALREADY = 3  # orders of the other provider before the race, ¥20,000 of vouchers each


def market(app: Flask, tag: str, policy: CapPolicy) -> dict[str, Any]:
    """``setup``'s programme and provider 甲, a second provider 乙 whose three orders hold
    ¥60,000 of voucher money, then a cap of 50 % per provider: 甲 may take ¥60,000 more,
    three orders of ¥20,000; eight enterprises race for them."""
    data = setup(app, tag, enterprises=ALREADY + THREADS)
    with app.app_context():
        session: Session = db.session
        factories.bind(session)
        programme = session.get(VoucherProgramme, data["programme_id"])
        agency = programme.agency
        other, seller = pooled_provider(agency, f"other@{tag}.cn")
        package = published(other, seller, ONE_TIME)
        # vouchers pay only for admitted versions (issue 22)
        admission.decide(
            programme, package.latest, True, "符合准入标准", agency, data["official_actor"]
        )
        for i, code in enumerate(data["codes"]):
            issuing.issue_one(programme, code, f"race-cap-{tag}-{i:04d}-xx", data["official_actor"])
        bundle_ids = []
        for i, enterprise_id in enumerate(data["enterprise_ids"]):
            enterprise = session.get(Organisation, enterprise_id)
            buyer = Actor(None, enterprise.id, None)
            b = bundles.create(enterprise, f"方案{i}", buyer)
            bundles.add(b, package.id if i < ALREADY else data["package_id"], None, buyer)
            if i < ALREADY:
                orders.checkout(enterprise, b, buyer)
            else:
                bundle_ids.append(b.id)
        cap_holds.set_caps(programme, 5_000, None, policy, 0, data["official_actor"])
        session.commit()
    return data | {"bundle_ids": bundle_ids, "other_id": other.id, "tag": tag}


def race(app: Flask, data: dict[str, Any]) -> list[int]:
    clients, tokens = signed_in(app, data["owner_emails"][ALREADY:])

    def checkout(i: int) -> int:
        response = clients[i].post(
            f"/my-bundles/{data['bundle_ids'][i]}/checkout",
            data={"csrf_token": tokens[i], "key": f"race-{data['tag']}-checkout-{i:04d}-xxxx"},
        )
        return response.status_code

    return in_parallel(checkout)


def provider_money(app: Flask, data: dict[str, Any], unheld: bool = False) -> int:
    with app.app_context():
        stmt = select(func.coalesce(func.sum(Reservation.amount_fen), 0)).where(
            Reservation.programme_id == data["programme_id"],
            Reservation.provider_id != data["other_id"],
        )
        if unheld:
            stmt = stmt.where(Reservation.cap_hold_id.is_(None))
        return int(db.session.scalar(stmt) or 0)


@pytest.mark.parametrize("policy", [CapPolicy.REFUSE, CapPolicy.HOLD])
def test_parallel_checkouts_at_the_cap_pass_exactly_as_many_as_it_allows(
    race_app: Flask, policy: CapPolicy
) -> None:
    data = market(race_app, f"cap{policy.value}", policy)
    statuses = race(race_app, data)
    assert all(s == 302 for s in statuses), statuses  # placed or refused, never an error
    with race_app.app_context():
        placed = db.session.scalar(
            select(func.count(func.distinct(Order.id)))
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.package_id == data["package_id"])
        )
        holds = db.session.scalar(
            select(func.count(CapHold.id)).where(CapHold.programme_id == data["programme_id"])
        )
        problems = ledger.check()
    if policy is CapPolicy.REFUSE:
        # 甲 may hold 50 %: 60,000 of 120,000, three orders; the other five are refused
        assert placed == 3, statuses
        assert holds == 0
        assert provider_money(race_app, data) == 60_000_00
    else:
        # all are placed; exactly three unheld, five held for an official
        assert placed == THREADS
        assert holds == THREADS - 3
        assert provider_money(race_app, data, unheld=True) == 60_000_00
    assert problems == []
