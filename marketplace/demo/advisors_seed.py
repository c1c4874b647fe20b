"""Demo advisors (数字化顾问): two independent advisory firms. The first is admitted to the
Shijiazhuang bureau's pool, has visited one enterprise (findings recorded, rated) and has an
open request from e001; the second is admitted to Xiamen's pool and waits for Shijiazhuang's
decision. Made through the services, at moments of the demo's story; no random numbers (the
rest of the demo keeps its data)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.db import clock_at, db
from marketplace.demo import clock
from marketplace.diagnosis import visits
from marketplace.diagnosis.models import Diagnosis
from marketplace.pool import advisors as pool
from marketplace.pool.models import PoolEvent
from marketplace.security import Actor

ADVISORS = [
    # (login, name, region of the credit code, contact, expertise)
    (
        "adv01@advisor.demo",
        "石家庄智诊数字化转型咨询有限公司",
        "130100",
        "田立新",
        "两化融合管理体系与智能制造能力成熟度评估；机加工、汽配与五金企业的设备联网、"
        "生产管理和质量追溯现场诊断。",
    ),
    (
        "adv02@advisor.demo",
        "厦门鹭岛数字化咨询事务所",
        "350200",
        "陈思远",
        "纺织、电子与食品企业的数字化转型规划，MES/WMS 选型与供应链协同诊断。",
    ),
]


def owner(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    assert user is not None, email
    return user


def _as(user: User) -> Actor:
    return Actor(user.id, user.org_id, "demo")


def _agency(name: str) -> tuple[Organisation, User]:
    agency = db.session.scalar(select(Organisation).where(Organisation.name == name))
    assert agency is not None, name
    official = db.session.scalar(
        select(User).where(User.org_id == agency.id).order_by(User.id).limit(1)
    )
    assert official is not None
    return agency, official


def _latest_diagnosis(email: str) -> Diagnosis:
    user = owner(email)
    found = db.session.scalar(
        select(Diagnosis)
        .where(Diagnosis.enterprise_id == user.org_id)
        .order_by(Diagnosis.id.desc())
        .limit(1)
    )
    assert found is not None, email
    return found


def load(code: Callable[[str, str], str], user: Callable[..., User]) -> dict[str, int]:
    """``code`` and ``user``: the seed builder's unique credit codes and users with the demo
    password."""
    made: list[tuple[Organisation, User]] = []
    for email, name, region, contact, expertise in ADVISORS:
        org = Organisation(
            kind=OrgKind.ADVISOR,
            name=name,
            credit_code=code("91", region),
            contact_name=contact,
            contact_phone="13803110" + email[3:6].replace("0", "1") + "8",
            contact_email=email.replace("@", ".bd@"),
            description=expertise,
        )
        db.session.add(org)
        made.append((org, user(org, email, contact)))
    db.session.flush()

    sjz, sjz_official = _agency("石家庄市工业和信息化局")
    xm, xm_official = _agency("厦门市工业和信息化局")
    (first, first_owner), (second, second_owner) = made

    def apply(org: Organisation, owner: User, agency: Organisation, years: int) -> object:
        return pool.apply(
            org,
            agency.id,
            pool.AdvisorQualification(
                years_of_experience=years,
                expertise=org.description or "",
                certifications="两化融合管理体系评估师；智能制造能力成熟度评估师",
                contact_name=org.contact_name or "",
                contact_phone=org.contact_phone or "",
                contact_email=org.contact_email or "",
            ),
            _as(owner),
        )

    with clock_at(clock.days_ago(60)):
        admitted = apply(first, first_owner, sjz, 11)
        xm_admitted = apply(second, second_owner, xm, 7)
    with clock_at(clock.days_ago(57)):
        pool.decide(
            admitted,  # type: ignore[arg-type]
            PoolEvent.ADMIT,
            "资质齐全，具备两化融合评估经验，同意入库。",
            _as(sjz_official),
        )
        pool.decide(
            xm_admitted,  # type: ignore[arg-type]
            PoolEvent.ADMIT,
            "从业经历与本市纺织、电子产业匹配，同意入库。",
            _as(xm_official),
        )
    with clock_at(clock.days_ago(3)):
        apply(second, second_owner, sjz, 7)  # waits for Shijiazhuang's decision

    # A completed visit: e003 (Shijiazhuang) asked, the advisor visited and recorded findings,
    # the enterprise rated it.
    e003 = owner("e003@enterprise.demo")
    d = _latest_diagnosis("e003@enterprise.demo")
    start = clock.days_ago(20, 9)
    asked, accepted, visited, rated = clock.steps(
        start, [timedelta(0), timedelta(hours=5), timedelta(days=6), timedelta(days=8)]
    )
    with clock_at(asked):
        done = visits.request(
            d,
            admitted.id,  # type: ignore[attr-defined]
            asked.date() + timedelta(days=6),
            "请重点看数控车间的设备联网和首件检验记录，生产厂长全程陪同。",
            _as(e003),
        )
    with clock_at(accepted):
        visits.accept(done, _as(first_owner))
    with clock_at(visited):
        visits.record_findings(
            done,
            [
                visits.FindingInput(
                    "equipment",
                    "32 台数控机床中仅 6 台接入网络，其余靠班组长手工抄表，停机原因无记录。",
                    -5,
                    "high",
                ),
                visits.FindingInput(
                    "quality",
                    "首件检验与巡检记录为纸质，客户投诉时无法追溯到批次和机台。",
                    -10,
                    "high",
                ),
                visits.FindingInput(
                    "production",
                    "排产依赖 Excel，插单时靠电话协调；但工单已按班次下达，基础较好。",
                    5,
                    "medium",
                ),
            ],
            "先做设备联网与生产可视化（小快轻准，1 个月内见效），把停机原因采集起来；"
            "再上质量追溯，与设备数据打通；排产优化放在第二阶段。",
            _as(first_owner),
        )
    with clock_at(rated):
        visits.rate(done, 5, "诊断细致，建议很实在，帮我们理清了先后顺序。", _as(e003))

    # An open request: e001 asks for a visit next week.
    e001 = owner("e001@enterprise.demo")
    with clock_at(clock.days_ago(1, 16)):
        visits.request(
            _latest_diagnosis("e001@enterprise.demo"),
            admitted.id,  # type: ignore[attr-defined]
            clock.real_now().date() + timedelta(days=7),
            "想请顾问看看仓库和供应链这块，我们准备申请转型券。",
            _as(e001),
        )
    return {"advisors": len(made), "advisor visits": 2}
