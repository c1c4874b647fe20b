"""Advisors, their pool memberships and on-site diagnosis requests for tests."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy.orm import Session

from marketplace.accounts.models import Organisation, User
from marketplace.db import local_today
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import services as diagnoses
from marketplace.diagnosis import visits
from marketplace.diagnosis.models import AdvisorVisit, Diagnosis
from marketplace.pool.models import AdvisorMembership, PoolStatus
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services


def advisor_with_owner(email: str) -> tuple[Organisation, User]:
    org = OrganisationFactory(advisor=True)
    return org, UserFactory(org=org, email=email)


def region_agency(email: str, region: str = "130100") -> tuple[Organisation, User]:
    """An agency whose jurisdiction is the factories' enterprises' city (Shijiazhuang)."""
    org = OrganisationFactory(agency=True, region_code=region)
    return org, UserFactory(org=org, email=email)


def advisor_membership(
    dbs: Session,
    advisor: Organisation,
    agency: Organisation,
    status: PoolStatus = PoolStatus.ADMITTED,
) -> AdvisorMembership:
    m = AdvisorMembership(
        advisor=advisor,
        agency=agency,
        status=status,
        years_of_experience=8,
        expertise="两化融合评估，设备联网与车间数字化诊断。",
        certifications="两化融合管理体系评估师",
        contact_name="李顾问",
        contact_phone="13900000000",
        contact_email="li@advisor.cn",
    )
    dbs.add(m)
    dbs.commit()
    return m


def enterprise_with_diagnosis(
    app: Flask, dbs: Session, email: str
) -> tuple[Organisation, User, Diagnosis]:
    """An enterprise of Shijiazhuang (130102) with an owner and a completed diagnosis."""
    org = OrganisationFactory()
    user = UserFactory(org=org, email=email)
    answers = {q.code: 1 for q in qn.QUESTIONS}
    with services(app, dbs):
        d = diagnoses.diagnose(org, answers, [], "200k_1m", Actor(user.id, org.id, None))
    return org, user, d


def requested_visit(
    app: Flask, dbs: Session, d: Diagnosis, membership: AdvisorMembership, user: User
) -> AdvisorVisit:
    with services(app, dbs):
        return visits.request(
            d,
            membership.id,
            local_today() + timedelta(days=7),
            "请重点看注塑车间的设备联网。",
            Actor(user.id, user.org_id, None),
        )
