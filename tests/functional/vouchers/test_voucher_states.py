"""A Hypothesis state machine: random sequences of issue, reserve (checkout), release
(rejection, cancellation), redeem (acceptance), settle, expire, revoke and risk decisions
(claw-backs proposed, then approved, rejected or withdrawn);
after every step the ledger check finds nothing and the budget holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from marketplace.db import db
from marketplace.errors import DomainError
from marketplace.orders import bundles as bundle_service
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, LineStatus, Order, OrderLine
from marketplace.security import Actor
from marketplace.vouchers import issuing, ledger, programmes, risk, settlement, spending
from marketplace.vouchers.models import (
    ClawBack,
    ClawBackStatus,
    FlagStatus,
    RiskFlag,
    Voucher,
    VoucherProgramme,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.voucher_helpers import key, pilot, rules

SYSTEM = Actor(None, None, None)
FORWARD = [LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER, LineEvent.ACCEPT_DELIVERY]
KIND = {
    LineEvent.ACCEPT: "provider",
    LineEvent.START: "provider",
    LineEvent.DELIVER: "provider",
    LineEvent.REJECT: "provider",
    LineEvent.CANCEL: "enterprise",
    LineEvent.ACCEPT_DELIVERY: "enterprise",
}


@pytest.mark.slow
def test_random_voucher_histories_keep_the_books(app, dbs, app_ctx):
    p = pilot(app, dbs, tag="hyp")
    extra = [OrganisationFactory() for _ in range(2)]
    enterprises = [p.enterprise, *extra]
    users = [p.owner, *(UserFactory(org=org) for org in extra)]
    counter = iter(range(10_000))

    class Vouchers(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.savepoint = db.session.begin_nested()
            # budget for five vouchers; an enterprise may hold two
            self.programme = programmes.create_programme(
                p.agency,
                rules(name=f"随机券{next(counter)}", budget_fen=100_000_00),
                p.official_actor,
            )
            programmes.open_programme(self.programme, p.official_actor)

        def teardown(self) -> None:
            self.savepoint.rollback()

        def _try(self, action, *args):  # type: ignore[no-untyped-def]
            try:
                return action(*args)
            except DomainError:
                return None

        @rule(who=st.integers(0, 2))
        def issue(self, who: int) -> None:
            self._try(
                issuing.issue_one,
                self.programme,
                enterprises[who].credit_code,
                key(),
                p.official_actor,
            )

        @rule()
        def batch(self) -> None:
            self._try(issuing.issue_batch, self.programme, key(), p.official_actor)

        @rule(who=st.integers(0, 2))
        def checkout(self, who: int) -> None:
            actor = Actor(users[who].id, enterprises[who].id, None)
            bundle = bundle_service.create(enterprises[who], f"方案{next(counter)}", actor)
            bundle_service.add(bundle, p.package.id, None, actor)
            self._try(orders.checkout, enterprises[who], bundle, actor)

        def _lines(self, status: LineStatus) -> list[OrderLine]:
            return list(
                db.session.scalars(
                    select(OrderLine).where(OrderLine.status == status).order_by(OrderLine.id)
                )
            )

        @rule(pick=st.integers(0, 20), event=st.sampled_from([LineEvent.REJECT, LineEvent.CANCEL]))
        def release(self, pick: int, event: LineEvent) -> None:
            lines = self._lines(LineStatus.PLACED)
            if lines:
                orders.transition(lines[pick % len(lines)], event, "理由", SYSTEM, KIND[event])

        @rule(pick=st.integers(0, 20))
        def redeem(self, pick: int) -> None:
            lines = self._lines(LineStatus.PLACED)
            if lines:
                line = lines[pick % len(lines)]
                for event in FORWARD:
                    orders.transition(line, event, "", SYSTEM, KIND[event])

        @rule(propose=st.booleans())
        def decide_flag(self, propose: bool) -> None:
            flag = db.session.scalars(
                select(RiskFlag).where(RiskFlag.status == FlagStatus.OPEN)
            ).first()
            if flag is not None:  # refused while a claw-back of it waits for approval
                decide = risk.propose_clawback if propose else risk.clear
                self._try(decide, flag, "核查", p.official_actor)

        @rule(decision=st.sampled_from(["approve", "reject", "withdraw"]))
        def decide_clawback(self, decision: str) -> None:
            proposal = db.session.scalars(
                select(ClawBack).where(ClawBack.status == ClawBackStatus.PROPOSED)
            ).first()
            if proposal is None:
                return
            if decision == "approve":
                risk.approve_clawback(proposal, proposal.amount_fen, "复核", p.official2_actor)
            elif decision == "reject":
                risk.reject_clawback(proposal, "证据不足", p.official2_actor)
            else:
                risk.withdraw_clawback(proposal, "撤回重核", p.official_actor)

        @rule(pay=st.booleans())
        def settle(self, pay: bool) -> None:
            s = self._try(settlement.draw_up, self.programme, p.provider.id, p.official_actor)
            if s is not None and pay:
                settlement.approve(s, s.total_fen, "已核对", p.official2_actor)
                settlement.mark_paid(s, "HX-1", p.official_actor)

        @rule(pick=st.integers(0, 20))
        def revoke(self, pick: int) -> None:
            found = list(
                db.session.scalars(
                    select(Voucher)
                    .where(Voucher.programme_id == self.programme.id)
                    .order_by(Voucher.id)
                )
            )
            if found:
                self._try(spending.revoke, found[pick % len(found)], "核查不符", p.official_actor)

        @rule()
        def expire(self) -> None:
            spending.expire_due(SYSTEM, today=self.programme.redeem_by + timedelta(days=1))

        @invariant()
        def books_balance(self) -> None:
            assert ledger.check() == []
            programme = db.session.get(VoucherProgramme, self.programme.id)
            db.session.refresh(programme)
            assert 0 <= programme.issued_fen <= programme.budget_fen
            for v in db.session.scalars(select(Voucher)).all():
                db.session.refresh(v)
                assert 0 <= v.reserved_fen + v.redeemed_fen <= v.face_value_fen

    run_state_machine_as_test(
        Vouchers,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
    assert Order  # the orders made by the machine were rolled back with it
