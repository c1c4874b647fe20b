"""Demo data whose dates do not contradict each other (issue 20): a contract's baseline is
measured before its window opens (from the months before the order: the shift reports it
was agreed on), the window opens after the order, measurements lie in the window, and every
start comes before its end."""

import pytest
from sqlalchemy import select

from marketplace.db import db
from marketplace.orders.models import Order, OrderLine
from marketplace.outcomes.models import Measurement, OutcomeContract
from marketplace.oversight.models import EvaluationRound
from marketplace.vouchers.models import VoucherProgramme
from tests.functional.demo.test_seed import seeded_app

pytestmark = pytest.mark.slow


def test_demo_dates_agree(tmp_path):
    app = seeded_app(tmp_path / "dates.sqlite3")
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        contracts = db.session.scalars(select(OutcomeContract)).all()
        with_window = [c for c in contracts if c.window_start is not None]
        assert with_window
        for c in with_window:
            assert c.baseline_period_end is not None
            assert c.baseline_period_start <= c.baseline_period_end < c.window_start, c.title
            assert c.window_start <= c.window_end
            line = db.session.get(OrderLine, c.order_line_id)
            order = db.session.get(Order, line.order_id)
            for placed in (line.created_at, order.created_at):
                assert placed.date() <= c.window_start, c.title
        for m in db.session.scalars(select(Measurement)):
            c = m.contract
            assert c.window_start <= m.period_start <= m.period_end <= c.window_end
        for p in db.session.scalars(select(VoucherProgramme)):
            assert p.issue_from <= p.redeem_by
        for r in db.session.scalars(select(EvaluationRound)):
            assert r.period_start <= r.period_end
            assert r.opened_at.date() >= r.period_start
