"""A job run by hand (the CLI) moves each item in its own transaction: one item that fails
rolls back alone and the others stay done."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from marketplace import jobs, tasks
from marketplace.jobs.models import JobPeriod


def test_one_failing_item_does_not_stop_the_others(app_ctx, monkeypatch):
    def item(n: int) -> bool:
        jobs.claim_period("test-items", str(n))  # the item's write
        if n == 2:
            raise RuntimeError("the bank's gateway is down")
        return True

    job = tasks.Job("test_items", timedelta(hours=1), lambda: [1, 2, 3], item, "test items")
    monkeypatch.setitem(tasks.JOBS, "test_items", job)
    outcome = tasks.run_now("test_items")
    assert (outcome.due, outcome.moved, outcome.failed) == (3, 2, 1)
    kept = app_ctx.scalars(select(JobPeriod.period).where(JobPeriod.job == "test-items")).all()
    assert sorted(kept) == ["1", "3"]  # item 2's write was rolled back with it


def test_the_cli_lists_and_runs_jobs(app):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list"])
    assert listed.exit_code == 0 and "stripe_refunds" in listed.output
    assert "every 0:05:00" in listed.output
    ran = runner.invoke(args=["jobs", "run", "sla_breaches"])
    assert ran.exit_code == 0 and "sla_breaches: 0 of 0 item(s) moved" in ran.output
    assert runner.invoke(args=["jobs", "run", "nothing"]).exit_code == 2
