"""Set-up helpers for pool and catalogue tests: they call the services, as the app does."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal

from flask import Flask
from sqlalchemy import exists, insert, literal, select, true
from sqlalchemy.orm import Session

from marketplace.accounts.models import Organisation, User
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Package, PackageVersion, VersionStatus
from marketplace.db import db
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers.models import (
    AdmissionEvent,
    AdmissionState,
    PackageAdmission,
    VoucherProgramme,
)
from tests.factories import OrganisationFactory, UserFactory

FIELDS = catalog.VersionFields(
    title="设备联网网关套件（标准版）",
    summary="即插即用的工业网关，7 天完成设备上云。",
    description="支持主流 PLC。\n含现场调试。",
    category_code="equipment_networking",
    industry_codes=["machining", "hardware"],
    size_tiers=["micro", "small"],
    deployment="hybrid",
    go_live_days=7,
    sla_response_hours=4,
    enterprise_provides="车间网络接入",
)
SUBSCRIPTION = catalog.PlanFields(
    kind="subscription", name="年度订阅", monthly_fen=2_000_00, term_months=12
)
OUTCOME = catalog.PlanFields(
    kind="outcome",
    name="按效果付费",
    metric_code="oee",
    target_kind="absolute",
    target_value=Decimal("5"),
    fee_rule="fixed",
    success_fee_fen=30_000_00,
    base_fee_fen=5_000_00,
    window_days=90,
)


@contextmanager
def services(app: Flask, dbs: Session) -> Iterator[None]:
    """Run service calls on the test's session, then commit them (a savepoint)."""
    with app.app_context():
        db.session.registry.set(dbs)
        yield
        dbs.commit()
        db.session.registry.clear()  # the context's teardown must not close the test's session


def provider_with_owner(email: str, integrator: bool = False) -> tuple[Organisation, User]:
    org = OrganisationFactory(provider=True, integrator=integrator)
    return org, UserFactory(org=org, email=email)


def agency_with_official(email: str) -> tuple[Organisation, User]:
    org = OrganisationFactory(agency=True)
    return org, UserFactory(org=org, email=email)


def membership(
    dbs: Session,
    provider: Organisation,
    agency: Organisation,
    status: PoolStatus = PoolStatus.ADMITTED,
) -> PoolMembership:
    m = PoolMembership(
        provider=provider,
        agency=agency,
        status=status,
        years_in_business=5,
        reference_customer_count=3,
        reference_customers="甲\n乙\n丙",
        certifications="",
        capability_statement="能力说明",
        contact_name="王工",
        contact_phone="138",
        contact_email="bd@p.cn",
    )
    dbs.add(m)
    dbs.commit()
    return m


DEFAULT_INTERFACES = (
    ("consumes", "opc_ua", "device_telemetry"),
    ("produces", "mqtt", "device_telemetry"),
)


def published_package(
    app: Flask,
    dbs: Session,
    provider: Organisation,
    user: User,
    fields: catalog.VersionFields = FIELDS,
    plans: Iterable[catalog.PlanFields] = (SUBSCRIPTION,),
    interfaces: Iterable[tuple[str, str, str]] = DEFAULT_INTERFACES,
    admit: bool = True,
    **changes: object,
) -> Package:
    """A package published through the services, with ``changes`` to the default fields.
    With ``admit`` it is admitted in every voucher programme there is (``admit_published``);
    without, it waits for review in each."""
    if changes:
        fields = replace(fields, **changes)  # type: ignore[arg-type]
    actor = Actor(user.id, provider.id, "127.0.0.1")
    with services(app, dbs):
        package = catalog.create_package(provider, fields, actor)
        for plan in plans:
            catalog.add_plan(package, plan, actor)
        for flow, protocol, data_object in interfaces:
            catalog.add_interface(package, flow, protocol, data_object, actor)
        catalog.submit(package, actor)
        catalog.publish(package, actor)
    if admit:
        admit_published(dbs)
    return package


def admit_published(dbs: Session) -> None:
    """Every published version admitted in every voucher programme that has not decided on
    it, as the migration left the versions published before admission review began (event
    ``backfill``): for tests about something else than admission."""
    dbs.execute(
        insert(PackageAdmission).from_select(
            [
                "programme_id",
                "version_id",
                "package_id",
                "state",
                "event",
                "reason",
                "criteria",
                "pending_since",
                "decided_at",
            ],
            select(
                VoucherProgramme.id,
                PackageVersion.id,
                PackageVersion.package_id,
                literal(AdmissionState.ADMITTED.value),
                literal(AdmissionEvent.BACKFILL.value),
                literal("admitted for the test"),
                literal(""),
                PackageVersion.published_at,
                PackageVersion.published_at,
            )
            .join(VoucherProgramme, true())
            .where(
                PackageVersion.status == VersionStatus.PUBLISHED,
                ~exists().where(
                    PackageAdmission.programme_id == VoucherProgramme.id,
                    PackageAdmission.version_id == PackageVersion.id,
                ),
            ),
        )
    )
    dbs.commit()
