"""Set-up for the caps and simulator tests (issue 22): a pilot with a second provider,
buyers with vouchers, orders of one package or of a curated bundle."""

from __future__ import annotations

from typing import Any

import pytest
from flask_babel import force_locale

from marketplace.accounts.models import Organisation, User
from marketplace.catalog import curated_bundles
from marketplace.errors import DomainError
from marketplace.orders import bundles as bundle_service
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.security import Actor
from marketplace.vouchers import cap_holds
from marketplace.vouchers.models import CapPolicy, VoucherProgramme
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    membership,
    provider_with_owner,
    published_package,
    services,
)
from tests.functional.voucher_helpers import ONE_TIME, Pilot, pilot


def en(message: Any) -> str:
    with force_locale("en"):
        return str(message)


def cap_pilot(app, dbs) -> Pilot:
    return pilot(app, dbs, "cap")


def make_rival(app, dbs, p):
    """A second admitted provider (乙) with a ¥60,000 package of the same category."""
    provider, owner = provider_with_owner("rival@cap.cn")
    provider.name = "乙方工业互联网有限公司"
    membership(dbs, provider, p.agency)
    package = published_package(app, dbs, provider, owner, plans=(ONE_TIME,))
    return provider, package


def buyer(p: Pilot, programme: VoucherProgramme, n: int) -> tuple[Organisation, User]:
    org = OrganisationFactory()
    user = UserFactory(org=org, email=f"buyer{n}@cap.cn")
    p.issue_to(programme, org)
    return org, user


def order(p: Pilot, org: Organisation, user: User, package_id: int) -> Order:
    actor = Actor(user.id, org.id, None)
    with services(p.app, p.dbs):
        b = bundle_service.create(org, f"方案{package_id}-{org.id}", actor)
        bundle_service.add(b, package_id, None, actor)
    with services(p.app, p.dbs):
        return orders.checkout(org, b, actor)


def refused(p: Pilot, org: Organisation, user: User, package_id: int) -> str:
    """The order is refused: the reason, in English."""
    actor = Actor(user.id, org.id, None)
    with services(p.app, p.dbs):
        b = bundle_service.create(org, f"方案{package_id}-{org.id}", actor)
        bundle_service.add(b, package_id, None, actor)
    with services(p.app, p.dbs), pytest.raises(DomainError) as error:
        orders.checkout(org, b, actor)
    return en(error.value.message)


def capped(p: Pilot, policy: CapPolicy = CapPolicy.REFUSE, **caps: Any) -> VoucherProgramme:
    """An open programme: vouchers of ¥20,000 pay half of a ¥60,000 line, so each order
    reserves ¥20,000. A provider may hold 50 % once ¥30,000 is in use."""
    programme = p.programme()
    with services(p.app, p.dbs):
        cap_holds.set_caps(
            programme,
            caps.get("provider_cap_bp", 5_000),
            caps.get("integration_fee_cap_bp"),
            policy,
            caps.get("cap_from_fen", 30_000_00),
            p.official_actor,
        )
    return programme


def curated(app, dbs, p, rival, fee_fen):
    """An integrator's curated bundle of 甲's and 乙's packages."""
    integrator, i_owner = provider_with_owner("integrator@cap.cn", integrator=True)
    integrator.name = "丙方集成服务商"
    membership(dbs, integrator, p.agency)
    _provider_b, package_b = rival
    fields = curated_bundles.BundleFields(
        "上云套餐", "", "machining", "small", fee_fen, [p.package.id, package_b.id]
    )
    with services(app, dbs):
        bundle = curated_bundles.create_bundle(
            integrator, fields, Actor(i_owner.id, integrator.id, None)
        )
    return bundle, integrator


def order_curated(p, org, user, curated_id, refuse=False):
    actor = Actor(user.id, org.id, None)
    with services(p.app, p.dbs):
        b = bundle_service.from_curated(org, curated_id, actor)
    if refuse:
        with services(p.app, p.dbs), pytest.raises(DomainError) as error:
            orders.checkout(org, b, actor)
        return en(error.value.message)
    with services(p.app, p.dbs):
        return orders.checkout(org, b, actor)
