"""``flask --app app …`` commands: the database, demo data and accounts.

Each command commits once at its end, or not at all when it fails.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from marketplace import migrate, tasks
from marketplace.db import db

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    migrate.upgrade(db.engine, revision)
    click.echo(f"database at {revision}")


@db_cli.command("check")
def db_check() -> None:
    """Fail when the models and the migrated schema disagree."""
    migrate.check(db.engine)
    click.echo("models and migrations agree")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    from alembic import command

    command.revision(migrate.alembic_config(db.engine), message=message, autogenerate=True)


def _database_is_empty() -> bool:
    from marketplace.accounts.models import Organisation

    return (db.session.scalar(select(func.count(Organisation.id))) or 0) == 0


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--reset", is_flag=True, help="Delete all data first (never on a production database)."
)
@click.option("--if-empty", is_flag=True, help="Do nothing, successfully, when data exists.")
def seed_demo(reset: bool, if_empty: bool) -> None:
    """Load the deterministic Chinese demo dataset."""
    from marketplace.demo import seed

    if not _database_is_empty():
        if if_empty:
            click.echo("demo data already present; keeping it")
            return
        if not reset:
            click.echo(
                "The database is not empty. Use --reset to delete all data and reload the demo.",
                err=True,
            )
            sys.exit(1)
        if not current_app.config["DEMO_RESET_ALLOWED"]:
            click.echo(
                "--reset drops every table, the audit trail included; it runs only where"
                " MARKETPLACE_ENV=development or DEMO_RESET_ALLOWED=1 is set.",
                err=True,
            )
            sys.exit(1)
        seed.wipe()
    summary = seed.load()
    db.session.commit()
    click.echo("demo data loaded: " + ", ".join(f"{n} {what}" for what, n in summary.items()))


@click.command("demo-logins")
@with_appcontext
def demo_logins() -> None:
    """Print the demo accounts."""
    from marketplace.demo import seed

    click.echo(seed.logins_text())


@click.command("create-account")
@with_appcontext
@click.option(
    "--kind", type=click.Choice(["agency", "assessor", "advisor", "platform"]), required=True
)
@click.option("--name", required=True, help="Organisation name")
@click.option("--credit-code", default=None)
@click.option("--owner-name", required=True)
@click.option("--email", required=True)
@click.option(
    "--password",
    envvar="ACCOUNT_PASSWORD",
    default=None,
    help="The owner's password (prompted when neither this nor --send-link is given).",
)
@click.option(
    "--send-link",
    is_flag=True,
    help="E-mail the owner a one-time link to set a password instead.",
)
def create_account(
    kind: str,
    name: str,
    credit_code: str | None,
    owner_name: str,
    email: str,
    password: str | None,
    send_link: bool,
) -> None:
    """Create an agency, assessor, advisor or platform organisation with its first user
    (owner); an advisor needs its unified social credit code."""
    from marketplace.accounts import services
    from marketplace.accounts.models import OrgKind
    from marketplace.errors import DomainError
    from marketplace.security import Actor

    if send_link and password:
        raise click.UsageError("give either --password or --send-link, not both")
    if not send_link and not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = services.create_organisation(
            OrgKind(kind),
            name,
            credit_code,
            owner_name,
            email,
            Actor(None, None, "cli"),
            password=None if send_link else password,
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(str(error.message)) from error
    db.session.commit()
    click.echo(f"created {kind} organisation #{user.org_id} with owner {user.email}")
    if send_link:
        click.echo(f"an e-mail with a link to set a password was queued for {user.email}")


@click.command("auto-accept")
@with_appcontext
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Days of silence after delivery (default AUTO_ACCEPT_DAYS).",
)
def auto_accept(days: int | None) -> None:
    """Remind enterprises of lines about to be accepted, then accept delivered lines left
    silent (the queue runs this hourly; each line is its own transaction)."""
    from marketplace.orders import services as orders

    if days is not None:
        current_app.config["AUTO_ACCEPT_DAYS"] = days
    wait = timedelta(days=current_app.config["AUTO_ACCEPT_DAYS"])
    reminder = timedelta(days=current_app.config["AUTO_ACCEPT_REMINDER_DAYS"])
    for line_id in orders.due_for_reminder(wait, reminder):
        click.echo(f"reminder: line {line_id} will be accepted automatically soon")
    _run("auto_accept_reminders", "reminders sent: {moved}")
    _run("auto_accept", "accepted automatically: {moved} line(s)")


def _run(job: str, done: str | None = None) -> tasks.Outcome:
    outcome = tasks.run_now(job)
    if done is not None:
        click.echo(done.format(moved=outcome.moved, due=outcome.due, total=outcome.total))
    if outcome.failed:
        click.echo(f"{job}: {outcome.failed} item(s) failed; see the log", err=True)
    return outcome


@click.command("sla-check")
@with_appcontext
def sla_check() -> None:
    """Record support tickets past an SLA deadline, first answer or resolution (queue: every
    15 min)."""
    _run("sla_breaches", "SLA breaches recorded: {moved}")


vouchers_cli = AppGroup("vouchers", help="Voucher ledger and scheduled voucher jobs.")


@vouchers_cli.command("check")
def vouchers_check() -> None:
    """Verify that the ledger, the balance columns and the invariants agree (exit 1 if not)."""
    from marketplace.vouchers import ledger

    problems = ledger.check()
    db.session.rollback()
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.ClickException(f"{len(problems)} difference(s) found")
    click.echo("vouchers: ledger, balances and invariants agree")


@vouchers_cli.command("expire")
def vouchers_expire() -> None:
    """Release reservations past their redeem-by date and expire the balances (queue: daily)."""
    released = _run("reservation_expiry").total
    expired = _run("voucher_expiry").total
    click.echo(f"vouchers expired: {expired}; reserved money released: {released / 100:.2f} yuan")


@vouchers_cli.command("redeem-cooled-off")
def vouchers_redeem_cooled_off() -> None:
    """Spend the voucher money of lines accepted while cooling off whose cooling-off period
    is over (queue: hourly; safe to run twice)."""
    redeemed = _run("cooling_off_redemption").total
    click.echo(f"cooling-off over: {redeemed / 100:.2f} yuan redeemed")


search_cli = AppGroup("search", help="The catalogue's full-text index.")


@search_cli.command("rebuild")
def search_rebuild() -> None:
    """Write every published version's search document again (after a bulk load, or to
    check the index: it is otherwise kept in step by every change)."""
    import time

    from marketplace.catalog import freshness, search, search_index

    started = time.perf_counter()
    written = search_index.rebuild()
    search.count_common_titles()
    # cards and results kept by the workers were made from the index: made again
    freshness.changed(freshness.PACKAGES)
    db.session.commit()
    click.echo(f"search index: {written} documents in {time.perf_counter() - started:.1f} s")


@click.command("bill-subscriptions")
@with_appcontext
def bill_subscriptions() -> None:
    """Bill the months of monthly subscriptions that have begun (queue: daily)."""
    _run("subscription_billing", "lines with months billed: {moved}")


@click.command("send-refunds")
@with_appcontext
def send_refunds() -> None:
    """Send queued Stripe refunds (queue: every 5 minutes)."""
    _run("stripe_refunds", "refunds sent: {moved}")


@click.command("concentration-check")
@with_appcontext
def concentration_check() -> None:
    """Bring market-concentration alerts of open programmes to today's figures (queue: daily)."""
    _run("concentration_scans", "concentration alerts raised or cleared: {total}")


outcomes_cli = AppGroup("outcomes", help="Scheduled jobs of pay-for-results contracts.")


@outcomes_cli.command("auto-confirm")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Days of silence (default MEASUREMENT_CONFIRM_DAYS).",
)
def outcomes_auto_confirm(days: int | None) -> None:
    """Confirm measurements the enterprise left unanswered (queue: hourly)."""
    if days is not None:
        current_app.config["MEASUREMENT_CONFIRM_DAYS"] = days
    _run("measurement_confirmation", "measurements confirmed automatically: {moved}")


@outcomes_cli.command("bill-usage")
def outcomes_bill_usage() -> None:
    """Rate and invoice the ended months of usage plans (queue: daily)."""
    _run("usage_billing", "usage lines with months billed: {moved}")


@outcomes_cli.command("settle")
def outcomes_settle() -> None:
    """Settle contracts whose measurement window has ended (queue: daily)."""
    _run("contract_settlement", "contracts settled: {moved}")


jobs_cli = AppGroup("jobs", help="The scheduled jobs (run by the queue; here by hand).")


@jobs_cli.command("list")
def jobs_list() -> None:
    """Every job, its interval and what it does."""
    for name, every in tasks.intervals(current_app.config).items():
        click.echo(f"{name:28} every {every}  {tasks.JOBS[name].doc}")


@jobs_cli.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run one job now in this process (each item in its own transaction)."""
    if name not in tasks.JOBS:
        raise click.BadParameter(f"no job {name!r}; see `flask jobs list`", param_hint="NAME")
    _run(name, f"{name}: {{moved}} of {{due}} item(s) moved")


api_token_cli = click.Group("api-token", help="Open API tokens.")


@api_token_cli.command("create")
@with_appcontext
@click.option("--org", "credit_code", required=True, help="The organisation's credit code")
@click.option("--name", required=True, help="What the token is for, e.g. the MES's name")
@click.option("--scopes", required=True, help="Comma-separated, e.g. orders:read,contracts:read")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
def api_token_create(credit_code: str, name: str, scopes: str, expires_in_days: int | None) -> None:
    """Print a new token for an organisation's system (shown only this once)."""
    from datetime import timedelta

    from sqlalchemy import select

    from marketplace.accounts import api_tokens
    from marketplace.accounts.models import Organisation
    from marketplace.db import utcnow
    from marketplace.errors import DomainError
    from marketplace.security import Actor

    org = db.session.scalar(
        select(Organisation).where(Organisation.credit_code == credit_code.strip().upper())
    )
    if org is None:
        raise click.ClickException(f"no organisation has the credit code {credit_code}")
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        _token, plain = api_tokens.create(
            org,
            name,
            [s.strip() for s in scopes.split(",") if s.strip()],
            expires,
            Actor(None, org.id, "cli"),
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(str(error.message)) from error
    db.session.commit()
    click.echo(plain)


def register_cli(app: Flask) -> None:
    app.cli.add_command(api_token_cli)
    app.cli.add_command(outcomes_cli)
    app.cli.add_command(bill_subscriptions)
    app.cli.add_command(send_refunds)
    app.cli.add_command(concentration_check)
    app.cli.add_command(vouchers_cli)
    app.cli.add_command(search_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(demo_logins)
    app.cli.add_command(create_account)
    app.cli.add_command(auto_accept)
    app.cli.add_command(sla_check)
