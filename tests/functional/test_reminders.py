"""Reminders before silent deadlines go out once per deadline: the job run twice, two
schedulers sweeping (for different periods, so both claim one) and sending the same item
twice, all send one notification, with the deadline as its ``by``; a new deadline is
reminded again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from marketplace import tasks
from marketplace.accounts import api_tokens, grants
from marketplace.accounts.models import ApiScope, GrantScope
from marketplace.db import db, local_today, utcnow
from marketplace.notifications import Notification
from marketplace.notifications import text as notification_text
from marketplace.orders import services as orders
from marketplace.outcomes import services as outcomes
from marketplace.oversight.models import SCORING_DAYS, EvaluationEntry, EvaluationRound, RoundStatus
from marketplace.payments.models import Invoice
from marketplace.todos import SentReminder
from tests.factories import OrganisationFactory
from tests.functional.catalog_helpers import services
from tests.functional.grant_helpers import ordered_from
from tests.functional.order_helpers import accept_delivery
from tests.functional.outcomes.test_outcomes import (
    SYSTEM,
    day,
    measuring,
    measuring_since,
    reading,
)
from tests.functional.voucher_helpers import pilot


class Scheduler:
    """A stand-in for the broker: records the item tasks a sweep sends."""

    def __init__(self, app: Any) -> None:
        self.flask_app = app
        self.sent: list[tuple[str, list[Any]]] = []

    def send_task(self, name: str, args: list[Any], headers: Any = None) -> None:
        self.sent.append((name, args))


def sent(dbs, kind: str) -> list[Notification]:
    return list(dbs.scalars(select(Notification).where(Notification.kind == kind)))


def run_every_way(app, job: str) -> None:
    """Two schedulers whose sweeps claim two different periods, both listing the same due
    items before either runs; each item then delivered again; then the CLI, twice."""
    first, second = Scheduler(app), Scheduler(app)
    tasks.sweep(first, tasks.JOBS[job], "2026-12-05")  # type: ignore[arg-type]
    tasks.sweep(second, tasks.JOBS[job], "2026-12-05T10:00:00")  # type: ignore[arg-type]
    for _name, args in first.sent + second.sent + first.sent:
        tasks.JOBS[job].item(*args)
    db.session.commit()
    tasks.run_now(job)
    tasks.run_now(job)


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, "rem")


def test_a_voucher_with_money_left_is_reminded_once_before_it_expires(app, app_ctx, p):
    redeem_by = local_today() + timedelta(days=10)
    programme = p.programme(redeem_by=redeem_by)
    voucher = p.issue_to(programme)
    far = p.programme(name="远期项目", redeem_by=local_today() + timedelta(days=120))
    p.issue_to(far)  # far from its deadline: no reminder yet
    app_ctx.commit()
    # two "schedulers" list it before either sends it
    first, second = Scheduler(app), Scheduler(app)
    assert tasks.sweep(first, tasks.JOBS["voucher_reminders"], "2026-12-05") == 1  # type: ignore[arg-type]
    assert tasks.sweep(second, tasks.JOBS["voucher_reminders"], "2026-12-06") == 1  # type: ignore[arg-type]
    assert tasks.sweep(second, tasks.JOBS["voucher_reminders"], "2026-12-06") == 0  # type: ignore[arg-type]
    assert first.sent == second.sent == [("marketplace.item.voucher_reminders", [voucher.id])]
    assert [tasks.JOBS["voucher_reminders"].item(voucher.id) for _ in range(3)] == [
        True,
        False,
        False,
    ]
    app_ctx.commit()
    assert tasks.run_now("voucher_reminders").due == 0
    (note,) = sent(app_ctx, "voucher_expiring")
    assert note.org_id == p.enterprise.id and note.link == f"/vouchers/{voucher.id}"
    assert note.params["by"] == redeem_by.isoformat()
    assert voucher.code in notification_text(note) and redeem_by.isoformat() in notification_text(
        note
    )
    # the agency extends the validity: a new deadline, reminded again when it comes near
    programme.redeem_by = redeem_by + timedelta(days=5)
    app_ctx.commit()
    run_every_way(app, "voucher_reminders")
    assert len(sent(app_ctx, "voucher_expiring")) == 2
    keys = app_ctx.scalars(
        select(SentReminder.deadline).where(SentReminder.kind == "voucher_expiring")
    )
    assert sorted(keys) == [redeem_by, redeem_by + timedelta(days=5)]


def test_an_invoice_is_reminded_before_it_is_due_and_the_day_after(app, app_ctx, dbs, p):
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        accept_delivery(order.lines[0])
    invoice = dbs.scalar(select(Invoice).where(Invoice.order_line_id == order.lines[0].id))
    assert invoice.due_on == local_today() + timedelta(days=30)
    run_every_way(app, "invoice_reminders")
    assert sent(dbs, "invoice_due") == []  # a month ahead: nothing yet
    invoice.due_on = local_today() + timedelta(days=2)
    dbs.commit()
    run_every_way(app, "invoice_reminders")
    (due,) = sent(dbs, "invoice_due")
    assert due.org_id == p.enterprise.id and due.params["by"] == invoice.due_on.isoformat()
    assert invoice.number in notification_text(due)
    invoice.due_on = local_today() - timedelta(days=1)  # unpaid, and the day after
    dbs.commit()
    run_every_way(app, "invoice_reminders")
    (overdue,) = sent(dbs, "invoice_overdue")
    assert overdue.link == f"/invoices/{invoice.id}"
    assert len(sent(dbs, "invoice_due")) == 1


def test_a_measurement_is_reminded_before_it_counts_as_confirmed(app, app_ctx, dbs, p):
    _line, contract = measuring(app, dbs, p)
    measuring_since(dbs, contract, 1)
    with services(app, dbs):
        m, _ = outcomes.submit(contract, reading(1, "66", day(1)), SYSTEM)
        fresh, _ = outcomes.submit(contract, reading(2, "67"), SYSTEM)
    submitted = utcnow() - timedelta(days=6)  # counts as confirmed tomorrow (7 days)
    dbs.execute(
        text("UPDATE measurements SET created_at = :t WHERE id = :id"),
        {"t": submitted.replace(tzinfo=None), "id": m.id},
    )
    dbs.commit()
    dbs.expire_all()
    run_every_way(app, "measurement_reminders")
    (note,) = sent(dbs, "measurement_confirm_soon")
    assert note.org_id == p.enterprise.id and note.link == f"/contracts/{contract.id}"
    assert note.params["by"] == (local_today() + timedelta(days=1)).isoformat()
    with services(app, dbs):
        outcomes.confirm(fresh, SYSTEM)  # answered: nothing to remind of
    run_every_way(app, "measurement_reminders")
    assert len(sent(dbs, "measurement_confirm_soon")) == 1


def test_assessors_are_reminded_once_a_round_of_their_unscored_providers(app, app_ctx, dbs, p):
    today = local_today()
    assessor, other = OrganisationFactory(assessor=True), OrganisationFactory(assessor=True)
    rnd = EvaluationRound(
        agency_id=p.agency.id,
        name="2026 Q3",
        period_start=today - timedelta(days=100),
        # scores due in three days
        period_end=today + timedelta(days=3) - timedelta(days=SCORING_DAYS),
        pass_mark=60,
        w_rating=20,
        w_outcomes=15,
        w_sla=15,
        w_coverage=10,
        w_digital=10,
        w_savings=10,
        w_assessor=20,
        savings_target_fen=10_000_00,
        waiting_days=90,
        status=RoundStatus.OPEN,
    )
    dbs.add(rnd)
    dbs.flush()
    providers = [OrganisationFactory(provider=True) for _ in range(3)]
    for n, provider in enumerate(providers):
        dbs.add(
            EvaluationEntry(
                round_id=rnd.id,
                provider_id=provider.id,
                assessor_id=(assessor if n < 2 else other).id,
            )
        )
    dbs.commit()
    run_every_way(app, "evaluation_reminders")
    notes = sent(dbs, "evaluation_scores_due")
    assert sorted((n.org_id, n.params["count"]) for n in notes) == sorted(
        [(assessor.id, 2), (other.id, 1)]
    )
    assert {n.params["by"] for n in notes} == {(today + timedelta(days=3)).isoformat()}


def test_a_data_grant_and_an_api_token_are_reminded_before_they_end(app, app_ctx, dbs, p):
    ends_on = local_today() + timedelta(days=5)
    ordered_from(dbs, p.enterprise, p.provider)  # a reason to be granted the data
    with services(app, dbs):
        grants.grant(
            p.enterprise,
            grants.GrantTerms(
                p.provider.id, frozenset({GrantScope.MEASUREMENTS}), local_today(), ends_on
            ),
            p.enterprise_actor,
        )
        api_tokens.create(
            p.enterprise,
            "ERP 对接",
            [ApiScope.ORDERS_READ],
            utcnow() + timedelta(days=3),
            p.enterprise_actor,
        )
    run_every_way(app, "grant_reminders")
    run_every_way(app, "api_token_reminders")
    (mine,) = sent(dbs, "data_grant_expiring")
    (theirs,) = sent(dbs, "data_grant_ending")
    assert (mine.org_id, theirs.org_id) == (p.enterprise.id, p.provider.id)
    assert mine.params["by"] == theirs.params["by"] == ends_on.isoformat()
    (token,) = sent(dbs, "api_token_expiring")
    assert token.org_id == p.enterprise.id and "ERP 对接" in notification_text(token)
