"""The deterministic Chinese demo dataset (`flask --app app seed-demo`).

Everything comes from one seeded random generator, so two runs give the same data. Every
demo user has the same password; its hash is computed once and shared, which is fine for
demo data and keeps loading fast.
"""

from __future__ import annotations

import random
import secrets

from sqlalchemy import MetaData, select

from marketplace import migrate, notifications
from marketplace.accounts import credit_code, passwords, profile_changes
from marketplace.accounts.models import (
    Industry,
    MemberRole,
    Organisation,
    OrgKind,
    ProviderType,
    Region,
    User,
)
from marketplace.db import db, utcnow
from marketplace.demo import (
    advisors_seed,
    catalog_seed,
    needs_seed,
    orders_seed,
    outcomes_seed,
    oversight_seed,
    trials_seed,
    usage_seed,
    vouchers_seed,
)
from marketplace.security import Actor

DEMO_PASSWORD = "zhuanxing2026"
SEED = 2026

CITIES = {  # city code: (short name, district codes)
    "130100": ("石家庄", ["130102", "130104", "130105", "130108", "130111", "130123", "130181"]),
    "350200": ("厦门", ["350203", "350205", "350206", "350211", "350212", "350213"]),
}
OTHER_CITIES = ["330100", "340100", "320500"]
SECOND_OFFICIALS = {"130100": "周立新", "350200": "林晓梅"}

WORDS = [
    "恒达",
    "华盛",
    "永泰",
    "金鼎",
    "鑫源",
    "宏远",
    "瑞丰",
    "天成",
    "嘉禾",
    "博远",
    "正泰",
    "铭泰",
    "东升",
    "信诚",
    "福瑞",
    "万通",
    "三利",
    "长城",
    "海川",
    "德润",
    "聚力",
    "新元",
    "盛邦",
    "汇通",
    "中运",
    "顺昌",
    "坤泰",
    "启明",
    "晨光",
    "鸿基",
    "隆兴",
    "协力",
    "诚达",
    "恒昌",
    "安泰",
    "九州",
]
INDUSTRY_SUFFIXES = {
    "machining": ["精密机械", "机械制造", "数控设备", "液压机械"],
    "textile": ["纺织", "服饰", "针织", "制衣"],
    "electronics": ["电子", "电子科技", "智能电子", "线路板"],
    "food": ["食品", "农产品加工", "乳业", "调味品"],
    "auto_parts": ["汽车零部件", "汽配", "车桥", "制动系统"],
    "furniture": ["家具", "木业", "家居"],
    "hardware": ["五金", "五金制品", "紧固件", "工具"],
}
SCENARIO_PROVIDERS = [
    ("智联设备", "设备联网与数据采集，支持主流 PLC 与数控系统协议。"),
    ("云视工厂", "生产过程可视化看板，订单、工序与设备状态实时呈现。"),
    ("预见运维", "基于振动与电流数据的设备预测性维护。"),
    ("质链追溯", "来料、在制品与成品的质量追溯与批次管理。"),
    ("轻量MES", "面向中小工厂的轻量化 MES，按工位快速上线。"),
    ("易仓WMS", "仓储管理 SaaS，扫码出入库与库存周转分析。"),
    ("排程优化", "APS 高级排程，插单与交期评估。"),
    ("能效管家", "分项计量与单位产品能耗分析。"),
    ("安盾工控", "工业控制系统安全防护与等保咨询。"),
    ("数据中台", "工业数据中台与指标体系建设。"),
    ("云ERP", "业财一体化的云 ERP。"),
    ("客源CRM", "面向制造企业的客户与销售管理。"),
    ("三维设计", "三维设计与仿真 SaaS。"),
    ("数智学院", "数字化转型培训与咨询。"),
    ("织造云", "纺织行业织机联网与计件管理。"),
    ("食安码", "食品加工企业的质量安全追溯。"),
    ("汽配质检", "汽车零部件视觉质检与 SPC 分析。"),
    ("木工排产", "家具行业订单拆单与排产。"),
    ("紧固云检", "五金紧固件在线检测与质量数据采集。"),
    ("电装看板", "电子组装产线 SMT 看板与良率分析。"),
]
INTEGRATORS = [
    ("工赋数字科技", "130100", "集成服务商，提供诊断、方案设计、改造实施与运维的全栈式服务。"),
    ("冀智工业互联网", "130100", "聚焦装备制造与五金行业的总集成服务。"),
    ("燕赵云链", "130100", "面向食品与纺织产业集群的集成改造。"),
    ("鹭岛智造", "350200", "厦门首批集成服务商，覆盖电子组装与食品加工。"),
    ("海西数字工场", "350200", "为中小企业提供“小快轻准”的整体转型方案。"),
    ("闽南工业云", "350200", "集成设备联网、MES 与质量追溯的一站式服务。"),
    ("之江数科", "330100", "跨区域集成服务商，擅长汽车零部件行业。"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "勇",
    "艳",
    "杰",
    "军",
    "涛",
    "明",
    "超",
    "霞",
    "平",
    "刚",
    "桂英",
]


def _code(rng: random.Random, prefix: str, region: str) -> str:
    body = "".join(rng.choice(credit_code.ALPHABET) for _ in range(9))
    return credit_code.complete(prefix + region + body)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}"


class _Builder:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.password_hash = passwords.hash_password(DEMO_PASSWORD)
        self.codes: set[str] = set()
        self.names: set[str] = set()

    def code(self, prefix: str, region: str) -> str:
        while True:
            code = _code(self.rng, prefix, region)
            if code not in self.codes:
                self.codes.add(code)
                return code

    def user(
        self, org: Organisation, email: str, name: str, role: MemberRole = MemberRole.OWNER
    ) -> User:
        user = User(
            org=org,
            email=email,
            name=name,
            password_hash=self.password_hash,
            role=role,
            session_token=secrets.token_hex(16),
            email_confirmed_at=utcnow(),
        )
        db.session.add(user)
        return user


def load() -> dict[str, int]:
    """Load the demo world; its history is told in the app only, nobody is e-mailed."""
    with notifications.in_app_only():
        return _load()


def _load() -> dict[str, int]:
    b = _Builder()
    rng = b.rng
    industries = {i.code: i for i in db.session.query(Industry)}
    regions = {r.code: r for r in db.session.query(Region)}

    platform = Organisation(
        kind=OrgKind.PLATFORM, name="转型包服务平台运营中心", credit_code=b.code("91", "130100")
    )
    db.session.add(platform)
    b.user(platform, "admin@platform.demo", "郑晓东")
    # A second administrator: payouts to providers need two, one proposes and the other
    # approves (four eyes).
    b.user(platform, "admin2@platform.demo", "韩雪")

    for city, (short, _districts) in CITIES.items():
        agency = Organisation(
            kind=OrgKind.AGENCY, name=f"{short}市工业和信息化局", credit_code=b.code("11", city)
        )
        db.session.add(agency)
        email = f"official@{'sjz' if city == '130100' else 'xm'}.demo"
        b.user(agency, email, _person(rng))  # a person's name: the page shows the bureau
        b.user(agency, email.replace("official", "analyst"), _person(rng), MemberRole.MEMBER)
        # A second official (an owner too): settlements need two, one drafts and the other
        # approves (four eyes). Named without the generator so the rest of the data stays.
        b.user(agency, email.replace("official", "official2"), SECOND_OFFICIALS[city])

    assessor = Organisation(
        kind=OrgKind.ASSESSOR,
        name="河北省中小企业数字化转型评估中心",
        credit_code=b.code("12", "130100"),
    )
    db.session.add(assessor)
    b.user(assessor, "assessor@assess.demo", _person(rng))

    all_industries = list(INDUSTRY_SUFFIXES)
    providers = 0
    for i, (word, city, text) in enumerate(INTEGRATORS, start=1):
        short = {"130100": "石家庄", "350200": "厦门", "330100": "杭州"}[city]
        org = Organisation(
            kind=OrgKind.PROVIDER,
            provider_type=ProviderType.INTEGRATOR,
            name=f"{short}{word}有限公司",
            credit_code=b.code("91", city),
            contact_name=_person(rng),
            contact_phone=_phone(rng),
            contact_email=f"bd{i:02d}@integrator.demo",
            description=text,
        )
        org.industries_served = [industries[c] for c in rng.sample(all_industries, 4)]
        org.regions_served = [
            regions[city],
            *(regions[c] for c in ("130100", "350200") if c != city and rng.random() < 0.4),
        ]
        db.session.add(org)
        b.user(org, f"i{i:02d}@provider.demo", org.contact_name or "")
        providers += 1
    for i, (word, text) in enumerate(SCENARIO_PROVIDERS, start=1):
        city = rng.choice([*CITIES, *OTHER_CITIES])
        short = {
            "130100": "石家庄",
            "350200": "厦门",
            "330100": "杭州",
            "340100": "合肥",
            "320500": "苏州",
        }[city]
        org = Organisation(
            kind=OrgKind.PROVIDER,
            provider_type=ProviderType.SCENARIO,
            name=f"{short}{word}科技有限公司",
            credit_code=b.code("91", city),
            contact_name=_person(rng),
            contact_phone=_phone(rng),
            contact_email=f"sales{i:02d}@scenario.demo",
            description=text,
        )
        org.industries_served = [
            industries[c] for c in rng.sample(all_industries, rng.randint(2, 5))
        ]
        org.regions_served = [
            regions[c] for c in sorted({city, *rng.sample(list(CITIES), rng.randint(1, 2))})
        ]
        db.session.add(org)
        b.user(org, f"s{i:02d}@provider.demo", org.contact_name or "")
        providers += 1
    enterprises = 0
    for n in range(1, 127):
        city = "130100" if n % 2 else "350200"
        short, districts = CITIES[city]
        district = rng.choice(districts)
        industry = all_industries[n % len(all_industries)]
        while True:
            name = f"{short}{rng.choice(WORDS)}{rng.choice(INDUSTRY_SUFFIXES[industry])}有限公司"
            if name not in b.names:
                b.names.add(name)
                break
        tier = rng.choices(["micro", "small", "medium", "large"], weights=[35, 45, 18, 2])[0]
        employees, revenue_wan = {
            "micro": (rng.randint(5, 19), rng.randint(80, 900)),
            "small": (rng.randint(20, 299), rng.randint(300, 1999)),
            "medium": (rng.randint(300, 999), rng.randint(2000, 39000)),
            "large": (rng.randint(1000, 3000), rng.randint(40000, 90000)),
        }[tier]
        org = Organisation(
            kind=OrgKind.ENTERPRISE,
            name=name,
            credit_code=b.code("91", district),
            industry_code=industry,
            region_code=district,
            employees=employees,
            annual_revenue_fen=revenue_wan * 10_000 * 100,
        )
        db.session.add(org)
        b.user(org, f"e{n:03d}@enterprise.demo", _person(rng))
        enterprises += 1
    db.session.flush()
    summary = {
        "agencies": len(CITIES),
        "assessors": 1,
        "providers": providers,
        "enterprises": enterprises,
    }
    summary.update(catalog_seed.load(rng))
    summary.update(vouchers_seed.programmes(rng))
    summary.update(vouchers_seed.admissions(rng))
    summary.update(orders_seed.load(rng))
    summary.update(vouchers_seed.aftermath(rng))
    summary.update(outcomes_seed.load(rng))
    summary.update(usage_seed.load(rng))
    summary.update(oversight_seed.load(rng))
    summary.update(needs_seed.load(rng))
    summary.update(vouchers_seed.new_versions_for_review(rng))
    summary["profile_changes"] = _pending_profile_change()
    summary["new orders for s01"] = orders_seed.new_order_for("s01@provider.demo")
    summary.update(advisors_seed.load(b.code, b.user))
    summary.update(vouchers_seed.cooling_off(rng))
    summary.update(trials_seed.load())
    return summary


def _pending_profile_change() -> int:
    """e002 (a Xiamen enterprise) asks to count more employees: the Xiamen bureau's queue of
    profile changes to verify is not empty (issue 16)."""
    owner = db.session.scalar(select(User).where(User.email == "e002@enterprise.demo"))
    if owner is None:
        return 0
    org = owner.org
    assert org.employees is not None and org.annual_revenue_fen is not None
    asked = profile_changes.request_changes(
        org,
        {
            "region_code": org.region_code or "",
            "employees": org.employees + 40,
            "annual_revenue_fen": org.annual_revenue_fen,
        },
        Actor(owner.id, org.id, "demo"),
    )
    return len(asked)


def wipe() -> None:
    """Drop every table and migrate again (the audit trail refuses row deletes). The tables
    are dropped as they are, not downgraded: a downgrade keeps the rows, and data of a later
    feature (usage invoices, several a line) need not fit an earlier revision's keys."""
    db.session.rollback()
    db.session.close()
    tables = MetaData()
    tables.reflect(bind=db.engine)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            for name in tables.tables:
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    else:  # packages and their versions refer to each other: without the checks, outside
        raw = db.engine.raw_connection()  # a transaction (the driver autocommits here)
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA foreign_keys = OFF")
            for name in tables.tables:
                cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()
        finally:
            raw.close()
    migrate.upgrade(db.engine)


DEMO_LOGINS = [
    ("platform admin", "admin@platform.demo"),
    ("second platform administrator (approves payouts)", "admin2@platform.demo"),
    ("agency official", "official@sjz.demo"),
    ("second agency official (approves settlements and claw-backs)", "official2@sjz.demo"),
    ("agency official", "official@xm.demo"),
    ("second agency official (approves settlements and claw-backs)", "official2@xm.demo"),
    ("assessor", "assessor@assess.demo"),
    ("integrator", "i01@provider.demo"),
    ("scenario provider", "s01@provider.demo"),
    ("enterprise", "e001@enterprise.demo"),
    ("enterprise", "e002@enterprise.demo"),
    ("digital transformation advisor", "adv01@advisor.demo"),
    ("digital transformation advisor (applied to Shijiazhuang's pool)", "adv02@advisor.demo"),
]


def logins_text() -> str:
    """The demo accounts with their organisations, read from the database."""
    emails = [email for _role, email in DEMO_LOGINS]
    users = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(emails)))}
    width = max(len(e) for e in emails)
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD})"]
    for role, email in DEMO_LOGINS:
        if email in users:
            lines.append(f"  {email.ljust(width)}  {role}: {users[email].org.name}")
    if len(lines) == 1:
        lines.append("  (no demo data; run: flask --app app seed-demo)")
    return "\n".join(lines)
