"""The load test's data: the demo dataset plus a voucher programme with a small budget, and
afterwards the checks of the voucher books. Runs in the pytest process (never in locust's).

The small programme pays 50 % of a line, its vouchers are worth ¥10,000 each and the package
the buyers order costs at least ¥20,000, so one checkout takes a whole voucher: parallel
checkouts of one enterprise contend for it, and the officials issuing more vouchers contend
for the few yuan of budget left.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from marketplace import create_app
from marketplace.accounts import api_tokens, credit_code, passwords
from marketplace.accounts.models import (
    ApiScope,
    MemberRole,
    Organisation,
    OrgKind,
    User,
)
from marketplace.catalog.models import Package, PackageVersion, PlanKind, PricePlan
from marketplace.config import Config
from marketplace.db import db, local_today, utcnow
from marketplace.demo import seed
from marketplace.outcomes.models import ContractStatus, OutcomeContract
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers import admission, issuing, ledger, programmes
from marketplace.vouchers.models import (
    ProgrammeMode,
    Reservation,
    ReservationStatus,
    Voucher,
    VoucherProgramme,
)

YUAN = 100
FACE_FEN = 10_000 * YUAN
BUYERS = 24  # enterprises holding a voucher of the small programme, for the checkout rushes
WAITING = 10  # enterprises without one, for the officials' issuing
SPARE = 2  # vouchers the budget still covers after the setup: most issuing is refused
PROGRAMME = "负载测试小额转型券"
PASSWORD = seed.DEMO_PASSWORD


def make_app(url: str) -> Flask:
    config = Config()
    config.SECRET_KEY = "load-test-setup"
    config.DATABASE_URL = url
    return create_app(config)


def _owner(org: Organisation) -> User:
    return next(u for u in org.users if u.role is MemberRole.OWNER)


def _actor(org: Organisation) -> Actor:
    return Actor(_owner(org).id, org.id, "127.0.0.1")


def _enterprises(count: int, prefix: str) -> list[tuple[Organisation, User]]:
    password_hash = passwords.hash_password(PASSWORD)
    made = []
    for n in range(1, count + 1):
        org = Organisation(
            kind=OrgKind.ENTERPRISE,
            name=f"石家庄负载测试{prefix}{n:02d}机械制造有限公司",
            credit_code=credit_code.complete(f"91130102LT{prefix}{n:06d}"),
            industry_code="machining",
            region_code="130102",
            employees=80,
            annual_revenue_fen=1_000 * 10_000 * YUAN,
        )
        user = User(
            org=org,
            email=f"{prefix.lower()}{n:02d}@load.demo",
            name=f"负载{prefix}{n:02d}",
            password_hash=password_hash,
            role=MemberRole.OWNER,
            session_token=f"load-{prefix}-{n:02d}-" + "0" * 20,
            email_confirmed_at=utcnow(),  # ordering needs a confirmed address
        )
        db.session.add_all([org, user])
        made.append((org, user))
    db.session.flush()
    return made


def _package_to_buy(agency: Organisation) -> tuple[int, int, int]:
    """A published package of a provider admitted to the agency's pool, with a one-time plan
    whose half is more than a voucher holds: (package id, plan id, amount)."""
    row = db.session.execute(
        select(Package.id, PricePlan.id, PricePlan.amount_fen)
        .join(PackageVersion, PackageVersion.id == Package.published_version_id)
        .join(PricePlan, PricePlan.version_id == PackageVersion.id)
        .join(PoolMembership, PoolMembership.provider_id == Package.provider_id)
        .where(
            PoolMembership.agency_id == agency.id,
            PoolMembership.status == PoolStatus.ADMITTED,
            PricePlan.kind == PlanKind.ONE_TIME,
            PricePlan.amount_fen >= 2 * FACE_FEN,
        )
        .order_by(Package.id, PricePlan.id)
        .limit(1)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def prepare(url: str) -> dict[str, Any]:
    """Seed the (migrated, empty) database; return what the locustfile needs to know."""
    app = make_app(url)
    try:
        with app.app_context():
            seed.load()
            db.session.commit()
            plan = _small_programme()
            plan |= _catalogue() | _api()
            db.session.commit()
            return plan
    finally:
        app.extensions["db"].engine.dispose()


def _small_programme() -> dict[str, Any]:
    agency = db.session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.AGENCY).order_by(Organisation.id)
    ).first()
    assert agency is not None
    official = _actor(agency)
    buyers = _enterprises(BUYERS, "B")
    waiting = _enterprises(WAITING, "W")
    rules = programmes.Rules(
        name=PROGRAMME,
        mode=ProgrammeMode.OPEN,
        budget_fen=(BUYERS + SPARE) * FACE_FEN,
        face_value_fen=FACE_FEN,
        rate_bp=5_000,
        cap_fen=FACE_FEN,
        issue_from=local_today() - timedelta(days=1),
        redeem_by=local_today() + timedelta(days=90),
    )
    programme = programmes.create_programme(agency, rules, official)
    programmes.open_programme(programme, official)
    for n, (org, _user) in enumerate(buyers):
        assert org.credit_code is not None
        issuing.issue_one(programme, org.credit_code, f"load-setup-issue-{n:04d}", official)
    package_id, plan_id, amount = _package_to_buy(agency)
    # vouchers pay only for admitted versions (issue 22): the agency admits the package
    package = db.session.get(Package, package_id)
    assert package is not None and package.published_version is not None
    admission.set_rules(programme, "资源池内服务商、明码标价、标准数据接口", None, official)
    admission.decide(programme, package.published_version, True, "符合准入标准", agency, official)
    demo_programmes = db.session.scalars(
        select(VoucherProgramme.id).where(
            VoucherProgramme.agency_id == agency.id, VoucherProgramme.id != programme.id
        )
    ).all()
    return {
        "programme_id": programme.id,
        "demo_programme_ids": list(demo_programmes),
        "official": _owner(agency).email,
        "buyers": [user.email for _org, user in buyers],
        "waiting_codes": [org.credit_code for org, _user in waiting],
        "package_id": package_id,
        "plan_id": plan_id,
        "package_amount_fen": amount,
        "password": PASSWORD,
    }


def _catalogue() -> dict[str, Any]:
    provider_emails = db.session.scalars(
        select(User.email)
        .join(Organisation, Organisation.id == User.org_id)
        .where(Organisation.kind == OrgKind.PROVIDER, User.role == MemberRole.OWNER)
        .order_by(User.email)
    ).all()
    return {
        "providers": list(provider_emails),
        "enterprises": [f"e{n:03d}@enterprise.demo" for n in range(1, 21)],
    }


def _api() -> dict[str, Any]:
    """Tokens for the providers of the contracts now measuring, and for a demo enterprise."""
    contracts = db.session.scalars(
        select(OutcomeContract)
        .where(OutcomeContract.status == ContractStatus.MEASURING)
        .order_by(OutcomeContract.id)
    ).all()
    assert contracts, "the demo data has no contract in its measuring window"
    today = local_today()
    clients = []
    for contract in contracts:
        provider = db.session.get(Organisation, contract.provider_id)
        assert provider is not None and contract.window_start and contract.window_end
        _token, plain = api_tokens.create(
            provider,
            f"负载测试 {contract.id}",
            [
                ApiScope.CATALOG_READ,
                ApiScope.ORDERS_READ,
                ApiScope.CONTRACTS_READ,
                ApiScope.MEASUREMENTS_WRITE,
            ],
            None,
            _actor(provider),
        )
        # The days the client may measure: a contract takes one measurement per period, so
        # each new one picks its own period among these.
        end = min(today - timedelta(days=1), contract.window_end)
        start = contract.window_start
        clients.append(
            {
                "token": plain,
                "contract_id": contract.id,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            }
        )
    enterprise = db.session.scalars(
        select(Organisation).join(User).where(User.email == "e001@enterprise.demo")
    ).one()
    _token, plain = api_tokens.create(
        enterprise,
        "负载测试 ERP",
        [ApiScope.ORDERS_READ, ApiScope.INVOICES_READ, ApiScope.VOUCHERS_READ],
        None,
        _actor(enterprise),
    )
    return {"api_providers": clients, "api_enterprise": plain}


# --- afterwards ----------------------------------------------------------------------


def books(url: str, programme_id: int) -> dict[str, Any]:
    """``flask vouchers check`` over the whole database, and the small programme's limits
    checked directly: what is reserved or redeemed never exceeds the budget, the issued
    amount, or any voucher's face value, and no voucher pays two orders."""
    app = make_app(url)
    try:
        with app.app_context():
            programme = db.session.get(VoucherProgramme, programme_id)
            assert programme is not None
            held = (
                select(
                    Reservation.voucher_id,
                    func.count(Reservation.id).label("uses"),
                    func.sum(Reservation.amount_fen).label("amount"),
                )
                .where(Reservation.status != ReservationStatus.RELEASED)
                .group_by(Reservation.voucher_id)
                .subquery()
            )
            rows = db.session.execute(
                select(
                    Voucher.code,
                    Voucher.face_value_fen,
                    Voucher.reserved_fen,
                    Voucher.redeemed_fen,
                    func.coalesce(held.c.uses, 0),
                    func.coalesce(held.c.amount, 0),
                )
                .outerjoin(held, held.c.voucher_id == Voucher.id)
                .where(Voucher.programme_id == programme_id)
            ).all()
            used = sum(int(r[2]) + int(r[3]) for r in rows)
            twice = [r[0] for r in rows if int(r[4]) > 1]
            over_face = [r[0] for r in rows if int(r[2]) + int(r[3]) > int(r[1])]
            mismatched = [r[0] for r in rows if int(r[2]) + int(r[3]) != int(r[5])]
            orders_paid = db.session.scalar(
                select(func.count(func.distinct(Reservation.order_line_id))).where(
                    Reservation.programme_id == programme_id,
                    Reservation.status != ReservationStatus.RELEASED,
                )
            )
            return {
                "ledger_problems": ledger.check(),
                "budget_fen": programme.budget_fen,
                "issued_fen": programme.issued_fen,
                "vouchers": len(rows),
                "vouchers_face_fen": sum(int(r[1]) for r in rows),
                "reserved_plus_redeemed_fen": used,
                "vouchers_used_twice": twice,
                "vouchers_over_face": over_face,
                "vouchers_unlike_reservations": mismatched,
                "lines_paid_by_vouchers": int(orders_paid or 0),
            }
    finally:
        app.extensions["db"].engine.dispose()
