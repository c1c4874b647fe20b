"""Demo pools, packages and curated bundles, from the same seeded generator as the accounts."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from marketplace.accounts.models import (
    Industry,
    Organisation,
    OrgKind,
    ProviderType,
    SizeTier,
    User,
)
from marketplace.catalog.models import (
    BundleStatus,
    CuratedBundle,
    CuratedBundleItem,
    Deployment,
    FeeRule,
    Flow,
    Package,
    PackageVersion,
    PlanKind,
    PricePlan,
    TargetKind,
    VersionEvent,
    VersionInterface,
    VersionSizeTier,
    VersionStatus,
    VersionStatusChange,
)
from marketplace.db import clock_at, db, utcnow
from marketplace.demo import clock
from marketplace.pool import services as pool
from marketplace.pool.models import PoolEvent, PoolMembership, PoolStatus, PoolStatusChange

YUAN = 100

# category: (titles, summary, consumes, produces, deployment, outcome (metric, kind, target))
CATEGORY_SPECS: dict[
    str,
    tuple[
        list[str],
        str,
        list[tuple[str, str]],
        list[tuple[str, str]],
        str,
        tuple[str, str, str] | None,
    ],
] = {
    "equipment_networking": (
        ["设备联网网关套件", "数控机床数据采集", "PLC 联网与数据采集", "老旧设备加装传感器联网"],
        "即插即用的工业网关，支持主流 PLC 与数控系统，{go_live}完成设备上云。",
        [("opc_ua", "device_telemetry"), ("modbus_tcp", "device_telemetry")],
        [("mqtt", "device_telemetry"), ("rest_json", "device_telemetry")],
        "hybrid",
        ("equipment_uptime", "absolute", "5"),
    ),
    "production_visualisation": (
        ["车间生产看板", "订单进度可视化", "工序节拍大屏", "生产数据驾驶舱"],
        "订单、工序和设备状态在一块看板上实时呈现，管理者手机随时看。",
        [("mqtt", "device_telemetry"), ("rest_json", "production_orders")],
        [("rest_json", "production_orders")],
        "saas",
        ("oee", "absolute", "5"),
    ),
    "predictive_maintenance": (
        ["设备预测性维护", "主轴振动监测与预警", "空压机健康管理", "电机故障预警"],
        "基于振动与电流数据提前发现故障，减少非计划停机。",
        [("mqtt", "device_telemetry")],
        [("rest_json", "maintenance_records")],
        "saas",
        ("equipment_uptime", "absolute", "4"),
    ),
    "quality_traceability": (
        ["质量追溯系统", "批次追溯与召回管理", "来料检验数字化", "SPC 质量分析"],
        "从来料到成品的一物一码追溯，质量问题分钟级定位到批次。",
        [("rest_json", "production_orders"), ("csv_excel", "quality_records")],
        [("rest_json", "quality_records")],
        "saas",
        ("defect_rate", "relative", "20"),
    ),
    "mes": (
        ["轻量化 MES", "离散制造 MES", "工位报工与计件", "行业专版 MES"],
        "面向中小工厂的轻量 MES，按工位快速上线，支持扫码报工。",
        [
            ("rest_json", "customer_orders"),
            ("mqtt", "device_telemetry"),
            ("rest_json", "bill_of_materials"),
        ],
        [("rest_json", "production_orders"), ("rest_json", "quality_records")],
        "saas",
        ("oee", "absolute", "6"),
    ),
    "erp": (
        ["业财一体云 ERP", "进销存管理", "小微企业云 ERP", "生产制造云 ERP"],
        "采购、销售、库存与财务一体化，开箱即用。",
        [("rest_json", "production_orders")],
        [
            ("rest_json", "customer_orders"),
            ("rest_json", "bill_of_materials"),
            ("rest_json", "inventory"),
        ],
        "saas",
        ("usage_rate", "absolute", "20"),
    ),
    "wms": (
        ["仓储管理 WMS", "扫码出入库", "原料库与成品库管理", "多仓调拨与库存预警"],
        "扫码出入库、库位管理与库存周转分析，账实相符。",
        [("rest_json", "production_orders"), ("rest_json", "customer_orders")],
        [("rest_json", "inventory")],
        "saas",
        ("inventory_turnover", "relative", "15"),
    ),
    "crm": (
        ["制造业 CRM", "销售线索与报价管理", "经销商订货平台", "售后服务与客户回访"],
        "客户、商机、报价与合同全流程管理，订单直通生产。",
        [("rest_json", "inventory")],
        [("rest_json", "customer_orders")],
        "saas",
        None,
    ),
    "aps": (
        ["APS 高级排程", "插单评估与交期承诺", "多工厂协同排产", "车间作业排程"],
        "考虑设备、物料与人员约束的自动排程，插单影响一目了然。",
        [
            ("rest_json", "customer_orders"),
            ("rest_json", "inventory"),
            ("rest_json", "production_orders"),
        ],
        [("rest_json", "schedules")],
        "saas",
        ("delivery_lead_time", "relative", "15"),
    ),
    "energy_management": (
        ["能源管理系统", "分项计量与能耗分析", "空压站节能优化", "能碳管理与碳排放核算"],
        "水电气分项计量，单位产品能耗看得见、降得下。",
        [("modbus_tcp", "energy_readings"), ("mqtt", "energy_readings")],
        [("rest_json", "energy_readings")],
        "hybrid",
        ("energy_per_unit", "relative", "8"),
    ),
    "design_3d": (
        ["三维设计 SaaS", "钣金件参数化设计", "设计与 BOM 一体化", "工装夹具设计"],
        "云端三维设计与仿真，设计变更自动同步 BOM。",
        [("csv_excel", "bill_of_materials")],
        [("csv_excel", "bill_of_materials"), ("rest_json", "bill_of_materials")],
        "saas",
        None,
    ),
    "data_platform": (
        ["工业数据中台", "经营分析 BI", "数据治理与指标体系", "生产报表自动化"],
        "汇聚设备、生产与经营数据，统一指标口径。",
        [
            ("rest_json", "production_orders"),
            ("mqtt", "device_telemetry"),
            ("database_view", "inventory"),
        ],
        [("rest_json", "production_orders"), ("csv_excel", "quality_records")],
        "hybrid",
        None,
    ),
    "industrial_security": (
        ["工控安全防护", "等保 2.0 合规套件", "工业防火墙与审计", "工控主机加固"],
        "工业控制网络的边界防护、主机加固与安全审计。",
        [("opc_ua", "device_telemetry"), ("modbus_tcp", "device_telemetry")],
        [("rest_json", "maintenance_records")],
        "on_premises",
        None,
    ),
    "training_advisory": (
        ["数字化转型诊断咨询", "精益生产与数字化培训", "数字化转型规划", "数字化人才实训"],
        "现场诊断、方案规划与员工培训，帮企业想清楚再动手。",
        [("csv_excel", "production_orders")],
        [("csv_excel", "schedules")],
        "on_premises",
        None,
    ),
}
EDITIONS = [("基础版", 1.0), ("标准版", 1.8), ("专业版", 3.0)]
# Days to go live, by category where it differs from its kind of deployment: a gateway is
# plugged in within two weeks, a data platform takes months. A summary's "{go_live}" says it.
GO_LIVE_DAYS = {
    "saas": [3, 5, 7, 10, 14],
    "hybrid": [14, 21, 30, 45],
    "on_premises": [14, 21, 30, 45],
    "equipment_networking": [5, 7, 10, 14],
    "data_platform": [30, 45, 60, 90],
    "training_advisory": [7, 14, 21, 30],
}
DELIVERABLES = {
    "saas": "软件开通与配置、数据对接、操作培训和一个月的驻场陪跑。",
    "hybrid": "边缘设备安装、软件部署与配置、数据对接、操作培训和一个月的驻场陪跑。",
    "on_premises": "现场部署与配置、验收测试和操作培训。",
    "industrial_security": "安全风险评估、防护设备部署与策略配置、等保测评辅导。",
    "training_advisory": "现场诊断报告、转型规划方案和两次员工集中培训。",
}
_DEVICES = ["车间网络接入与设备清单", "一名对接人和现场网络环境"]
_ORDERS = ["ERP 账号与订单数据导出", "一名对接人和现场网络环境"]
ENTERPRISE_PROVIDES = {
    "equipment_networking": _DEVICES,
    "production_visualisation": [*_ORDERS, "车间网络接入与设备清单"],
    "predictive_maintenance": [*_DEVICES, "近一年的设备维修记录"],
    "quality_traceability": ["近一年的质量记录和工艺文件", "一名对接人和现场网络环境"],
    "mes": [*_ORDERS, "近一年的质量记录和工艺文件"],
    "erp": ["现有账套与物料、客户资料导出", "一名对接人和财务负责人"],
    "wms": ["库位清单与现有库存台账", "一名对接人和现场网络环境"],
    "crm": ["客户名录与近一年的报价记录", "一名对接人和销售负责人"],
    "aps": _ORDERS,
    "energy_management": ["配电图纸与电表清单", "一名对接人和现场网络环境"],
    "design_3d": ["现有图纸与物料编码规则", "一名对接人和设计负责人"],
    "data_platform": ["各业务系统的账号与数据导出", "一名对接人和各部门的报表样例"],
    "industrial_security": _DEVICES,
    "training_advisory": ["一名对接人和各部门负责人的访谈时间", "近一年的经营与生产数据"],
}
# Words in a title that promise a small price: such a package is the basic edition and its
# lowest plan is below every other package of its category (see _cheapest_where_claimed).
LOW_COST_WORDS = ("低成本", "小微", "入门", "轻量")


def claims_low_cost(text: str) -> bool:
    """Whether a bundle's name or a package's title (the product after the provider's short
    name: "轻量MES·APS 高级排程" is a brand, not a promise) promises a small price."""
    return any(w in text.split("·", 1)[-1] for w in LOW_COST_WORDS)


# Categories a scenario provider of a category also sells in (its trade's neighbours).
RELATED = {
    "equipment_networking": [
        "production_visualisation",
        "predictive_maintenance",
        "energy_management",
        "data_platform",
        "industrial_security",
    ],
    "production_visualisation": [
        "equipment_networking",
        "mes",
        "data_platform",
        "quality_traceability",
    ],
    "predictive_maintenance": [
        "equipment_networking",
        "energy_management",
        "data_platform",
        "production_visualisation",
    ],
    "quality_traceability": ["mes", "production_visualisation", "data_platform", "wms"],
    "mes": [
        "production_visualisation",
        "quality_traceability",
        "aps",
        "wms",
        "equipment_networking",
    ],
    "wms": ["erp", "mes", "quality_traceability", "crm"],
    "aps": ["mes", "erp", "production_visualisation", "wms"],
    "energy_management": [
        "equipment_networking",
        "data_platform",
        "predictive_maintenance",
        "production_visualisation",
    ],
    "industrial_security": ["equipment_networking", "data_platform", "training_advisory"],
    "data_platform": [
        "production_visualisation",
        "equipment_networking",
        "energy_management",
        "training_advisory",
    ],
    "erp": ["wms", "crm", "aps", "data_platform"],
    "crm": ["erp", "wms", "data_platform"],
    "design_3d": ["mes", "erp", "training_advisory"],
    "training_advisory": ["data_platform", "industrial_security", "production_visualisation"],
}
# A one-time delivery's price range in thousands of yuan (basic edition), by category.
ONE_TIME_THOUSANDS = {
    "equipment_networking": (20, 80),
    "energy_management": (40, 150),
    "data_platform": (80, 300),
    "industrial_security": (30, 120),
    "training_advisory": (20, 80),
}
PRIMARY = {  # scenario provider word → its main category
    "智联设备": "equipment_networking",
    "云视工厂": "production_visualisation",
    "预见运维": "predictive_maintenance",
    "质链追溯": "quality_traceability",
    "轻量MES": "mes",
    "易仓WMS": "wms",
    "排程优化": "aps",
    "能效管家": "energy_management",
    "安盾工控": "industrial_security",
    "数据中台": "data_platform",
    "云ERP": "erp",
    "客源CRM": "crm",
    "三维设计": "design_3d",
    "数智学院": "training_advisory",
    "织造云": "mes",
    "食安码": "quality_traceability",
    "汽配质检": "quality_traceability",
    "木工排产": "aps",
    "紧固云检": "quality_traceability",
    "电装看板": "production_visualisation",
}
BUNDLES = [
    (
        "低成本上云套餐",
        ["equipment_networking", "production_visualisation", "quality_traceability"],
        "machining",
        "small",
    ),
    (
        "设备管理提升套餐",
        ["equipment_networking", "predictive_maintenance", "energy_management"],
        "auto_parts",
        "medium",
    ),
    ("订单交付提速套餐", ["erp", "aps", "wms"], "furniture", "small"),
    (
        "纺织车间数字化套餐",
        ["equipment_networking", "mes", "production_visualisation"],
        "textile",
        "small",
    ),
    ("食品安全追溯套餐", ["quality_traceability", "wms", "erp"], "food", "micro"),
    (
        "电子组装良率提升套餐",
        ["mes", "quality_traceability", "data_platform"],
        "electronics",
        "medium",
    ),
    ("五金小微企业入门套餐", ["erp", "production_visualisation"], "hardware", "micro"),
    (
        "绿色工厂节能套餐",
        ["energy_management", "equipment_networking", "data_platform"],
        "machining",
        "medium",
    ),
    ("工控安全合规套餐", ["industrial_security", "equipment_networking"], "chemicals", "medium"),
]
REJECT_REASONS = [
    "参考客户不足三家，且无本地化服务团队。",
    "资质证明材料不全，请补充等保测评报告后重新申请。",
]


def _plans(rng: random.Random, category: str, factor: float, deployment: str) -> list[PricePlan]:
    spec = CATEGORY_SPECS[category]
    plans: list[PricePlan] = []
    if deployment == "saas":
        monthly = int(rng.randint(3, 15) * 100 * factor) * YUAN
        plans.append(
            PricePlan(
                kind=PlanKind.SUBSCRIPTION,
                name="年度订阅",
                monthly_fen=monthly,
                term_months=12,
                position=0,
            )
        )
        if rng.random() < 0.5:
            plans.append(
                PricePlan(
                    kind=PlanKind.ONE_TIME,
                    name="买断（含实施）",
                    amount_fen=monthly * rng.randint(20, 30),
                    position=1,
                )
            )
    else:
        low, high = ONE_TIME_THOUSANDS[category]
        amount = int(rng.randint(low, high) * 1000 * factor) * YUAN
        plans.append(
            PricePlan(
                kind=PlanKind.ONE_TIME, name="一次性交付（含实施）", amount_fen=amount, position=0
            )
        )
        if rng.random() < 0.4:
            plans.append(
                PricePlan(
                    kind=PlanKind.SUBSCRIPTION,
                    name="运维服务订阅",
                    monthly_fen=amount
                    // 40
                    // (100 * YUAN)
                    * (100 * YUAN),  # whole hundreds of yuan
                    term_months=24,
                    position=1,
                )
            )
    outcome = spec[5]
    if outcome and rng.random() < 0.55:
        metric, kind, target = outcome
        base = int(rng.randint(2, 8) * 1000 * factor) * YUAN
        if rng.random() < 0.5:
            plans.append(
                PricePlan(
                    kind=PlanKind.OUTCOME,
                    name="按效果付费",
                    metric_code=metric,
                    target_kind=TargetKind(kind),
                    target_value=Decimal(target),
                    fee_rule=FeeRule.FIXED,
                    base_fee_fen=base,
                    success_fee_fen=base * rng.randint(2, 4),
                    window_days=rng.choice([90, 120, 180]),
                    position=len(plans),
                )
            )
        else:
            per_unit = int(rng.randint(1, 4) * 1000 * factor) * YUAN
            plans.append(
                PricePlan(
                    kind=PlanKind.OUTCOME,
                    name="按提升幅度计费",
                    metric_code=metric,
                    target_kind=TargetKind(kind),
                    target_value=Decimal(target),
                    fee_rule=FeeRule.PER_UNIT,
                    base_fee_fen=base,
                    fee_per_unit_fen=per_unit,
                    fee_cap_fen=base + per_unit * 10,
                    window_days=180,
                    position=len(plans),
                )
            )
    return plans


def _cheapest_where_claimed(versions: list[PackageVersion]) -> None:
    """A package whose title promises a small price (轻量化, 小微企业, ...) costs less, at its
    lowest plan, than any other package of its category: its plans are scaled down to that,
    in whole hundreds of yuan."""
    for category in CATEGORY_SPECS:
        mine = [v for v in versions if v.category_code == category]
        others = [v.entry_price_fen for v in mine if not claims_low_cost(v.title)]
        if not others:
            continue
        ceiling = min(others)
        for v in mine:
            if claims_low_cost(v.title) and v.entry_price_fen > ceiling:
                ratio = Decimal(ceiling) / Decimal(v.entry_price_fen)
                for plan in v.plans:
                    _scale(plan, ratio)
                v.entry_price_fen = min(p.commitment_fen for p in v.plans)


def _scale(plan: PricePlan, ratio: Decimal) -> None:
    """The plan's amounts times ``ratio`` (below one), rounded down to hundreds of yuan."""
    step = 100 * YUAN
    for name in ("amount_fen", "monthly_fen", "base_fee_fen", "success_fee_fen"):
        value = getattr(plan, name)
        if value:
            setattr(plan, name, max(step, int(value * ratio) // step * step))
    if plan.fee_per_unit_fen:
        plan.fee_per_unit_fen = max(step, int(plan.fee_per_unit_fen * ratio) // step * step)
        plan.fee_cap_fen = (plan.base_fee_fen or 0) + plan.fee_per_unit_fen * 10


def _integration_fee(parts: list[Package], percent: int) -> int:
    """An integrator's fee: a few per cent of its modules' entry prices, in whole hundreds of
    yuan (the cities' calls for integrators cap it at 8 %, and the appointments record that)."""
    modules = sum(_entry_price(p)[0] for p in parts)
    return max(100 * YUAN, modules * percent // 100 // (100 * YUAN) * 100 * YUAN)


def _entry_price(package: Package) -> tuple[int, int]:
    version = package.published_version
    return (version.entry_price_fen if version is not None else 0, package.id)


def _membership(
    provider: Organisation,
    agency: Organisation,
    status: PoolStatus,
    official: User,
    rng: random.Random,
    reason: str = "",
) -> PoolMembership:
    m = PoolMembership(
        provider=provider,
        agency=agency,
        status=status,
        years_in_business=rng.randint(3, 20),
        reference_customer_count=rng.randint(3, 60),
        reference_customers="\n".join(
            f"{w}有限公司"
            for w in rng.sample(
                ["恒达机械", "华盛纺织", "永泰电子", "金鼎食品", "鑫源汽配", "宏远家具"], 3
            )
        ),
        certifications=rng.choice(
            [
                "ISO 9001；两化融合管理体系 AA 级",
                "ISO 27001；等保三级测评",
                "高新技术企业；CMMI 3 级",
            ]
        ),
        capability_statement=provider.description or "",
        contact_name=provider.contact_name or "",
        contact_phone=provider.contact_phone or "",
        contact_email=provider.contact_email or "",
    )
    # Applied months ago and decided ten days later (admitted before the evaluation rounds of
    # the last two quarters, so they count); an application still waiting came lately.
    waiting = status is PoolStatus.APPLIED
    m.applied_at = clock.days_ago(rng.randint(3, 20) if waiting else rng.randint(150, 300), 10)
    moments = [
        m.applied_at,
        m.applied_at + timedelta(days=10),
        clock.days_ago(45),
        clock.days_ago(12),
    ]
    db.session.add(m)
    steps: list[tuple[PoolStatus | None, PoolStatus, PoolEvent, str]] = [
        (None, PoolStatus.APPLIED, PoolEvent.APPLY, "")
    ]
    if status is PoolStatus.REJECTED:
        steps.append((PoolStatus.APPLIED, PoolStatus.REJECTED, PoolEvent.REJECT, reason))
    elif status in (PoolStatus.ADMITTED, PoolStatus.SUSPENDED, PoolStatus.EXITED):
        steps.append(
            (
                PoolStatus.APPLIED,
                PoolStatus.ADMITTED,
                PoolEvent.ADMIT,
                "资质齐全，参考案例真实，同意入库。",
            )
        )
        if status in (PoolStatus.SUSPENDED, PoolStatus.EXITED):
            steps.append(
                (
                    PoolStatus.ADMITTED,
                    PoolStatus.SUSPENDED,
                    PoolEvent.SUSPEND,
                    "连续两个季度考核不合格，暂停入库资格。",
                )
            )
        if status is PoolStatus.EXITED:
            steps.append(
                (
                    PoolStatus.SUSPENDED,
                    PoolStatus.EXITED,
                    PoolEvent.EXIT,
                    "整改期满仍未达标，按退出机制清退。",
                )
            )
    for (before, after, event, text), at in zip(steps, moments, strict=False):
        m.history.append(
            PoolStatusChange(
                from_status=before,
                to_status=after,
                event=event,
                reason=text,
                actor_user_id=None if event is PoolEvent.APPLY else official.id,
                at=at,
            )
        )
        m.updated_at = at
    db.session.flush()
    _before, _after, last, text = steps[-1]  # told as the pool tells its latest decision
    with clock_at(m.updated_at):
        pool.tell(m, last, text)
    return m


def load(rng: random.Random) -> dict[str, int]:
    providers = list(
        db.session.query(Organisation)
        .filter(Organisation.kind == OrgKind.PROVIDER)
        .order_by(Organisation.id)
    )
    agencies = list(
        db.session.query(Organisation)
        .filter(Organisation.kind == OrgKind.AGENCY)
        .order_by(Organisation.id)
    )
    officials = {a.id: next(u for u in a.users if u.role.value == "owner") for a in agencies}
    industries = {i.code: i for i in db.session.query(Industry)}
    city_agency = {"130100": agencies[0], "350200": agencies[1]}

    # Pools: most providers are admitted where they work; every status appears.
    special = {
        3: PoolStatus.APPLIED,
        9: PoolStatus.SUSPENDED,
        12: PoolStatus.EXITED,
        15: PoolStatus.REJECTED,
        20: PoolStatus.APPLIED,
    }
    admitted_ids: set[int] = set()
    memberships = 0
    for n, provider in enumerate(providers):
        home = next(
            (city_agency[r.code] for r in provider.regions_served if r.code in city_agency),
            agencies[n % 2],
        )
        status = special.get(n, PoolStatus.ADMITTED)
        reason = REJECT_REASONS[n % 2] if status is PoolStatus.REJECTED else ""
        _membership(provider, home, status, officials[home.id], rng, reason)
        memberships += 1
        if status is PoolStatus.ADMITTED:
            admitted_ids.add(provider.id)
        other = agencies[1] if home is agencies[0] else agencies[0]
        if rng.random() < 0.35:
            second = rng.choice([PoolStatus.ADMITTED, PoolStatus.APPLIED, PoolStatus.REJECTED])
            _membership(
                provider,
                other,
                second,
                officials[other.id],
                rng,
                REJECT_REASONS[0] if second is PoolStatus.REJECTED else "",
            )
            memberships += 1
            if second is PoolStatus.ADMITTED:
                admitted_ids.add(provider.id)
    db.session.flush()

    # Packages: published for admitted providers, drafts and submissions for the others.
    now = utcnow()
    by_category: dict[str, list[Package]] = {c: [] for c in CATEGORY_SPECS}
    published = 0
    versions: list[PackageVersion] = []
    tiers_for = {
        "saas": ["micro", "small", "medium"],
        "hybrid": ["small", "medium"],
        "on_premises": ["medium", "large"],
    }
    for provider in providers:
        word = next((w for w in PRIMARY if w in provider.name), None)
        primary = PRIMARY.get(word or "", rng.choice(list(CATEGORY_SPECS)))
        # an integrator's packages cover any need; a scenario provider sells next to its trade
        neighbours = (
            [c for c in CATEGORY_SPECS if c != primary]
            if provider.provider_type is ProviderType.INTEGRATOR
            else RELATED[primary]
        )
        others = rng.sample(neighbours, 3)
        count = 8 if provider.provider_type is ProviderType.INTEGRATOR else 7
        categories = [primary, primary, primary, *others, primary, others[0]][:count]
        titled: dict[str, int] = {}  # category → titles of it this provider has used
        for k, category in enumerate(categories):
            titles, summary, consumes, produces, deployment, _outcome = CATEGORY_SPECS[category]
            # each of a provider's packages a product of its own: the next title of its
            # category (never one title twice, so never "…（标准版）" twice either)
            base_title = titles[titled.get(category, 0)]
            titled[category] = titled.get(category, 0) + 1
            # what the title promises (small firms, low cost) is the basic edition
            edition, factor = EDITIONS[0 if claims_low_cost(base_title) else k % len(EDITIONS)]
            short = provider.name.removesuffix("有限公司").removesuffix("科技")
            for city in ("石家庄", "厦门", "杭州", "合肥", "苏州"):
                short = short.removeprefix(city)
            title = f"{short}·{base_title}（{edition}）"
            is_live = provider.id in admitted_ids
            version_status = (
                VersionStatus.PUBLISHED
                if is_live
                else (VersionStatus.SUBMITTED if k % 2 else VersionStatus.DRAFT)
            )
            package = Package(
                provider=provider, created_at=now - timedelta(days=rng.randint(130, 300))
            )
            chosen = rng.sample(list(industries)[:7], rng.randint(2, 5))
            go_live = rng.choice(GO_LIVE_DAYS.get(category, GO_LIVE_DAYS[deployment]))
            summary = summary.format(go_live=f"{go_live} 天")
            served = "、".join(industries[c].name_zh for c in chosen[:3])
            delivers = DELIVERABLES.get(category, DELIVERABLES[deployment])
            version = PackageVersion(
                package=package,
                number=1,
                status=version_status,
                title=title,
                summary=summary,
                description=f"{summary}\n适用场景：{served}等行业的中小企业。\n交付内容：{delivers}",
                category_code=category,
                deployment=Deployment(deployment),
                go_live_days=go_live,
                sla_response_hours=rng.choice([2, 4, 8, 24]),
                enterprise_provides=rng.choice(ENTERPRISE_PROVIDES[category]),
                published_at=now - timedelta(days=rng.randint(1, 120)) if is_live else None,
                submitted_at=now - timedelta(days=rng.randint(1, 30))
                if version_status is not VersionStatus.DRAFT
                else None,
            )
            version.industries = [industries[c] for c in chosen]
            version.size_tier_rows = [
                VersionSizeTier(tier=SizeTier(t)) for t in tiers_for[deployment]
            ]
            version.plans = _plans(rng, category, factor, deployment)
            version.entry_price_fen = min(p.commitment_fen for p in version.plans)
            version.interfaces = [
                VersionInterface(flow=Flow.CONSUMES, protocol_code=p, data_object_code=d)
                for p, d in consumes
            ] + [
                VersionInterface(flow=Flow.PRODUCES, protocol_code=p, data_object_code=d)
                for p, d in produces
            ]
            db.session.add_all([package, version])
            versions.append(version)
            if is_live:
                package.published_version = version
                published += 1
                by_category[category].append(package)
    _cheapest_where_claimed(versions)
    db.session.flush()

    # One package delisted by an agency, with its reason.
    victim = by_category["industrial_security"][-1] if by_category["industrial_security"] else None
    if victim is not None and victim.published_version is not None:
        version = victim.published_version
        version.status = VersionStatus.DELISTED
        version.delisted_at = now
        version.delist_reason = "宣传材料中的等保认证已过期，整改前暂停展示。"
        victim.published_version = None
        agency = next(
            m.agency
            for m in db.session.query(PoolMembership).filter(
                PoolMembership.provider_id == victim.provider_id
            )
        )
        db.session.add(
            VersionStatusChange(
                version_id=version.id,
                from_status=VersionStatus.PUBLISHED,
                to_status=VersionStatus.DELISTED,
                event=VersionEvent.DELIST,
                reason=version.delist_reason,
                actor_user_id=officials[agency.id].id,
            )
        )
        by_category["industrial_security"].remove(victim)
        published -= 1

    # Curated bundles by admitted integrators, from several providers' published packages.
    integrators = [
        p for p in providers if p.provider_type is ProviderType.INTEGRATOR and p.id in admitted_ids
    ]
    bundles = 0
    for n, (name, categories, industry, tier) in enumerate(BUNDLES):
        integrator = integrators[n % len(integrators)]
        parts: list[Package] = []
        for category in categories:
            taken = {p.provider_id for p in parts} | {integrator.id}
            candidates = [p for p in by_category[category] if p.provider_id not in taken]
            if candidates and claims_low_cost(name):
                parts.append(min(candidates, key=_entry_price))
            elif candidates:
                parts.append(rng.choice(candidates))
        if len({p.provider_id for p in parts}) < 2:
            continue
        bundle = CuratedBundle(
            integrator=integrator,
            name=name,
            industry_code=industry,
            size_tier=SizeTier(tier),
            # not "数据打通": the modules' interfaces do not all match; bridging them is what
            # the integration fee pays for
            summary=f"由{integrator.name}统一实施，{len(parts)}个模块之间的数据接口由集成团队"
            "负责对接，一个团队负责到底。",
            integration_fee_fen=_integration_fee(
                parts, 3 if claims_low_cost(name) else rng.randint(4, 6)
            ),
            status=BundleStatus.PUBLISHED,
        )
        bundle.items = [CuratedBundleItem(package=p, position=k) for k, p in enumerate(parts)]
        db.session.add(bundle)
        bundles += 1
    db.session.flush()
    return {
        "pool memberships": memberships,
        "published packages": published,
        "curated bundles": bundles,
    }
