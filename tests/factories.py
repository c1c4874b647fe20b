"""factory_boy factories with traits; they write through the test's session."""

from __future__ import annotations

import secrets

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from marketplace.accounts import credit_code, passwords
from marketplace.accounts.models import (
    Industry,
    MemberRole,
    Organisation,
    OrgKind,
    ProviderType,
    Region,
    User,
)
from marketplace.db import utcnow
from marketplace.diagnosis.models import Diagnosis

PASSWORD = "correct-horse-battery"
_session: Session | None = None


def bind(session: Session) -> None:
    global _session
    _session = session


def current_session() -> Session:
    assert _session is not None, "use the dbs fixture"
    return _session


def make_credit_code(n: int, region: str = "130102") -> str:
    return credit_code.complete(f"91{region}{n:09d}")


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = current_session
        sqlalchemy_session_persistence = "commit"


class OrganisationFactory(Base):
    class Meta:
        model = Organisation

    kind = OrgKind.ENTERPRISE
    name = factory.Sequence(lambda n: f"测试机械有限公司{n}")
    credit_code = factory.Sequence(make_credit_code)
    industry_code = "machining"
    region_code = "130102"
    employees = 50
    annual_revenue_fen = 5_000_000_00

    class Params:
        provider = factory.Trait(
            kind=OrgKind.PROVIDER,
            name=factory.Sequence(lambda n: f"测试数字科技有限公司{n}"),
            provider_type=ProviderType.SCENARIO,
            industry_code=None,
            region_code=None,
            employees=None,
            annual_revenue_fen=None,
            contact_name="王工",
            contact_phone="13800000000",
            contact_email="bd@provider.cn",
        )
        integrator = factory.Trait(provider=True, provider_type=ProviderType.INTEGRATOR)
        agency = factory.Trait(
            kind=OrgKind.AGENCY,
            name=factory.Sequence(lambda n: f"测试市工业和信息化局{n}"),
            credit_code=None,
            industry_code=None,
            region_code=None,
            employees=None,
            annual_revenue_fen=None,
        )
        assessor = factory.Trait(agency=True, kind=OrgKind.ASSESSOR, name="测试评估中心")
        advisor = factory.Trait(
            kind=OrgKind.ADVISOR,
            name=factory.Sequence(lambda n: f"测试数字化咨询工作室{n}"),
            industry_code=None,
            region_code=None,
            employees=None,
            annual_revenue_fen=None,
            contact_name="李顾问",
            contact_phone="13900000000",
            contact_email="li@advisor.cn",
            description="两化融合评估、设备联网诊断",
        )
        platform = factory.Trait(agency=True, kind=OrgKind.PLATFORM, name="平台运营中心")

    @factory.post_generation
    def served(obj: Organisation, create: bool, extracted: object, **kwargs: object) -> None:
        if obj.kind is OrgKind.PROVIDER and create:
            session = current_session()
            obj.industries_served = [session.get(Industry, "machining")]  # type: ignore[list-item]
            obj.regions_served = [session.get(Region, "130100")]  # type: ignore[list-item]
            session.commit()


_hash_cache: dict[str, str] = {}


def hashed(password: str) -> str:
    if password not in _hash_cache:
        _hash_cache[password] = passwords.hash_password(password)
    return _hash_cache[password]


class UserFactory(Base):
    class Meta:
        model = User

    org = factory.SubFactory(OrganisationFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.cn")
    name = factory.Sequence(lambda n: f"用户{n}")
    password_hash = factory.LazyFunction(lambda: hashed(PASSWORD))
    role = MemberRole.OWNER
    session_token = factory.LazyFunction(lambda: secrets.token_hex(16))
    email_confirmed_at = factory.LazyFunction(utcnow)

    class Params:
        member = factory.Trait(role=MemberRole.MEMBER)
        unconfirmed = factory.Trait(email_confirmed_at=None)


def diagnosis(enterprise_id: int, level: int = 2) -> Diagnosis:
    """A completed diagnosis at a maturity level (its overall score to match)."""
    d = Diagnosis(
        enterprise_id=enterprise_id,
        answers={},
        pain_points=[],
        budget="under_50k",
        dimension_scores={},
        overall=level * 20,
        level=level,
    )
    current_session().add(d)
    return d
