"""Set-up for voucher tests: an agency's pilot with a provider, enterprises and a programme."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from marketplace.accounts.models import Organisation, User
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Package
from marketplace.db import local_today
from marketplace.orders import bundles as bundle_service
from marketplace.orders.models import Bundle
from marketplace.security import Actor
from marketplace.vouchers import appointments, issuing, programmes, risk
from marketplace.vouchers.models import ProgrammeMode, RiskFlag, VoucherProgramme
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    admit_published,
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)

ONE_TIME = catalog.PlanFields(kind="one_time", name="一次性买断", amount_fen=60_000_00)


def rules(**changes: Any) -> programmes.Rules:
    base = programmes.Rules(
        name="2026 年中小企业数字化转型券",
        mode=ProgrammeMode.OPEN,
        budget_fen=1_000_000_00,
        face_value_fen=20_000_00,
        rate_bp=5_000,
        cap_fen=40_000_00,
        issue_from=local_today() - timedelta(days=1),
        redeem_by=local_today() + timedelta(days=180),
    )
    return replace(base, **changes)


def selection(
    programme: VoucherProgramme, integrator_id: int, **changes: Any
) -> appointments.Selection:
    """An appointment recorded as a public call would: criteria, the reason, the programme's
    dates as its term and an 8 % cap on the integration fee."""
    base = appointments.Selection(
        integrator_id=integrator_id,
        reason="综合得分第一，本地实施案例最多",
        term_start=programme.issue_from,
        term_end=programme.redeem_by,
        integration_fee_cap_bp=800,
        call_reference="GXJ-2026-01",
        call_title="集成服务商公开遴选",
        criteria="案例30分、实施能力25分、费率20分",
    )
    return replace(base, **changes)


def key() -> str:
    return secrets.token_urlsafe(16)


@dataclass
class Pilot:
    app: Flask
    dbs: Session
    agency: Organisation
    official: User
    provider: Organisation
    provider_owner: User
    package: Package
    enterprise: Organisation
    owner: User
    # The agency's second official: approves the settlements the first draws up and the
    # claw-backs the first proposes (four eyes).
    official2: User

    @property
    def official_actor(self) -> Actor:
        return Actor(self.official.id, self.agency.id, "127.0.0.1")

    @property
    def official2_actor(self) -> Actor:
        return Actor(self.official2.id, self.agency.id, "127.0.0.1")

    @property
    def enterprise_actor(self) -> Actor:
        return Actor(self.owner.id, self.enterprise.id, "127.0.0.1")

    def programme(
        self,
        open_it: bool = True,
        admit: bool = True,
        integrators: Sequence[Organisation] = (),
        **changes: Any,
    ) -> VoucherProgramme:
        """A programme of the pilot's agency; ``integrators`` are appointed (``selection``)
        before it opens; with ``admit`` every package published so far is admitted in it
        (``admit_published``), else they wait for review."""
        with services(self.app, self.dbs):
            programme = programmes.create_programme(
                self.agency, rules(**changes), self.official_actor
            )
            for integrator in integrators:
                appointments.appoint(
                    programme, selection(programme, integrator.id), self.official_actor
                )
            if open_it:
                programmes.open_programme(programme, self.official_actor)
        if admit:
            admit_published(self.dbs)
        return programme

    def issue_to(self, programme: VoucherProgramme, org: Organisation | None = None) -> Any:
        org = org or self.enterprise
        with services(self.app, self.dbs):
            _run, voucher = issuing.issue_one(
                programme, org.credit_code or "", key(), self.official_actor
            )
        return voucher

    def claw_back(self, flag: RiskFlag, reason: str, note: str = "已复核交付记录与核查结论") -> Any:
        """Uphold a flag the four-eyes way: the first official proposes the claw-back with
        ``reason``, the second approves it with ``note``."""
        with services(self.app, self.dbs):
            proposal = risk.propose_clawback(flag, reason, self.official_actor)
        with services(self.app, self.dbs):
            risk.approve_clawback(proposal, proposal.amount_fen, note, self.official2_actor)
        return proposal

    def bundle(self, enterprise: Organisation | None = None, user: User | None = None) -> Bundle:
        enterprise = enterprise or self.enterprise
        actor = Actor((user or self.owner).id, enterprise.id, None)
        with services(self.app, self.dbs):
            b = bundle_service.create(enterprise, f"方案{secrets.token_hex(3)}", actor)
            bundle_service.add(b, self.package.id, None, actor)
        return b


def pilot(app: Flask, dbs: Session, tag: str = "v") -> Pilot:
    agency, official = agency_with_official(f"official@{tag}.cn")
    provider, provider_owner = provider_with_owner(f"provider@{tag}.cn")
    membership(dbs, provider, agency)
    package = published_package(app, dbs, provider, provider_owner, plans=(ONE_TIME,))
    enterprise = OrganisationFactory(contact_phone="0311-66668888")
    owner = UserFactory(org=enterprise, email=f"owner@{tag}.cn")
    official2 = UserFactory(org=agency, email=f"official2@{tag}.cn")
    return Pilot(
        app, dbs, agency, official, provider, provider_owner, package, enterprise, owner, official2
    )
