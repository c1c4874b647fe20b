"""Realistic Chinese text for the bench catalogue: providers' names and packages' titles,
summaries and descriptions, made from each category's products, features and methods, each
industry's workshops and equipment, and a few sentence patterns, e.g.

    注塑车间设备联网与OEE看板          基于振动分析的空压机预测性维护
    苏州云智工业软件有限公司            汽车零部件质量追溯（标准版）

Deterministic for a given random generator.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Vocabulary:
    products: tuple[str, ...]  # what the package is
    features: tuple[str, ...]  # what it does
    methods: tuple[str, ...]  # how ("基于…的")
    outcomes: tuple[str, ...]  # what the buyer gets ({n} is a number)


CATEGORY_WORDS: dict[str, Vocabulary] = {
    "equipment_networking": Vocabulary(
        ("设备联网", "设备数据采集", "工业物联网平台", "PLC数采网关", "边缘采集盒子"),
        ("OEE看板", "停机原因分析", "设备状态监控", "稼动率统计", "报警推送", "能耗采集"),
        ("边缘计算", "OPC UA", "Modbus协议", "5G专网", "MQTT消息"),
        ("设备开动率提升{n}%", "停机时间减少{n}%", "数据采集覆盖{n}台设备"),
    ),
    "production_visualisation": Vocabulary(
        ("生产可视化", "车间电子看板", "数字孪生车间", "可视化大屏", "生产指挥中心"),
        ("实时产量看板", "安灯系统", "异常呼叫", "班组绩效", "工序进度跟踪", "交期预警"),
        ("三维建模", "数字孪生", "低代码组态", "实时数据流"),
        ("异常响应时间缩短{n}%", "管理人员巡线减少{n}%", "{n}分钟完成看板上线"),
    ),
    "predictive_maintenance": Vocabulary(
        ("预测性维护", "设备健康管理", "故障预警系统", "点检巡检管理", "备件管理"),
        ("振动监测", "轴承故障诊断", "剩余寿命预测", "维修工单", "点检路线", "润滑管理"),
        ("振动分析", "温度监测", "电流特征分析", "机器学习", "油液分析", "声纹识别"),
        ("非计划停机减少{n}%", "维修成本降低{n}%", "提前{n}天发现故障"),
    ),
    "quality_traceability": Vocabulary(
        ("质量追溯", "质量管理系统", "SPC统计过程控制", "视觉检测", "批次追溯平台"),
        ("来料检验", "首件检验", "不良品管理", "一物一码", "质量看板", "客户投诉追溯"),
        ("机器视觉", "二维码标识", "统计过程控制", "深度学习"),
        ("不良率下降{n}%", "追溯时间从{n}小时缩短到分钟级", "客诉减少{n}%"),
    ),
    "mes": Vocabulary(
        ("MES", "制造执行系统", "车间管理系统", "生产管理系统", "轻量化MES"),
        ("工单管理", "生产报工", "工艺路线", "物料齐套", "在制品管理", "计件工资"),
        ("扫码报工", "低代码配置", "移动端", "云原生架构"),
        ("生产效率提升{n}%", "在制品减少{n}%", "报工准确率达到{n}%"),
    ),
    "erp": Vocabulary(
        ("ERP", "企业资源计划", "进销存系统", "业财一体化", "成本核算系统"),
        ("采购管理", "销售订单", "库存台账", "应收应付", "成本核算", "BOM管理"),
        ("业财一体", "云端部署", "移动审批", "多组织架构"),
        ("月结时间缩短{n}天", "库存资金占用下降{n}%", "对账效率提升{n}%"),
    ),
    "wms": Vocabulary(
        ("WMS", "仓储管理系统", "智能仓储", "条码仓库管理", "立体库控制系统"),
        ("条码出入库", "库位管理", "先进先出", "盘点管理", "AGV调度", "拣货路径优化"),
        ("RFID", "PDA扫码", "波次拣货", "AGV调度"),
        ("库存准确率达到{n}%", "拣货效率提升{n}%", "盘点时间减少{n}%"),
    ),
    "crm": Vocabulary(
        ("CRM", "客户关系管理", "经销商管理系统", "销售管理平台", "售后服务管理"),
        ("线索管理", "销售漏斗", "报价管理", "合同回款", "售后工单", "客户画像"),
        ("移动办公", "企业微信集成", "数据分析", "智能推荐"),
        ("成单率提升{n}%", "回款周期缩短{n}天", "客户流失减少{n}%"),
    ),
    "aps": Vocabulary(
        ("APS", "高级计划排程", "智能排产", "生产计划系统", "插单排程"),
        ("有限产能排程", "物料需求计划", "插单模拟", "交期承诺", "产能负荷分析", "换线优化"),
        ("遗传算法", "约束规划", "运筹优化", "启发式算法"),
        ("准时交付率提升{n}%", "排产时间从{n}小时缩短到分钟级", "换线次数减少{n}%"),
    ),
    "energy_management": Vocabulary(
        ("能源管理", "能耗监测平台", "碳排放核算", "空压站节能", "综合能效管理"),
        ("分项计量", "峰谷用电分析", "碳足迹核算", "能耗对标", "需量管理", "光伏监控"),
        ("智能电表", "物联网采集", "能效模型", "碳核算方法学"),
        ("单位产品能耗下降{n}%", "年节约电费{n}万元", "碳排放减少{n}%"),
    ),
    "design_3d": Vocabulary(
        ("三维设计", "CAD", "PDM产品数据管理", "工艺仿真", "参数化设计"),
        ("图纸管理", "BOM协同", "设计变更", "模具设计", "钣金展开", "装配仿真"),
        ("参数化建模", "云端协同", "有限元分析", "知识库"),
        ("设计周期缩短{n}%", "图纸差错减少{n}%", "重复设计减少{n}%"),
    ),
    "data_platform": Vocabulary(
        ("数据平台", "工业大数据平台", "数据中台", "BI分析", "经营驾驶舱"),
        ("数据治理", "指标体系", "报表中心", "数据集成", "主数据管理", "自助分析"),
        ("湖仓一体", "实时计算", "低代码报表", "数据建模"),
        ("报表出具时间缩短{n}%", "打通{n}个业务系统", "决策效率提升{n}%"),
    ),
    "industrial_security": Vocabulary(
        ("工业安全", "工控安全防护", "等保合规", "工业防火墙", "安全审计平台"),
        ("网络隔离", "主机加固", "漏洞扫描", "安全审计", "勒索病毒防护", "等保测评"),
        ("白名单", "零信任", "流量分析", "安全基线"),
        ("高危漏洞清零", "安全事件响应缩短到{n}分钟", "通过等保{n}级测评"),
    ),
    "training_advisory": Vocabulary(
        ("数字化诊断", "转型咨询", "精益生产培训", "智能制造评估", "数字化人才培训"),
        ("现状诊断", "转型路线图", "精益改善", "两化融合贯标", "项目监理", "数据素养培训"),
        ("成熟度模型", "精益方法", "标杆对标", "现场辅导"),
        ("{n}周完成诊断", "培训{n}名骨干", "形成{n}项改善课题"),
    ),
}

INDUSTRY_WORDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # code: (name, workshops, equipment)
    "machining": (
        "机械加工",
        ("机加车间", "数控车间", "热处理车间"),
        ("数控机床", "加工中心", "磨床"),
    ),
    "textile": ("纺织服装", ("染整车间", "纺纱车间", "缝制车间"), ("织机", "染色机", "缝纫机")),
    "electronics": ("电子组装", ("SMT车间", "组装车间", "测试车间"), ("贴片机", "回流焊", "AOI")),
    "food": ("食品加工", ("灌装车间", "烘焙车间", "冷库"), ("灌装线", "杀菌釜", "包装机")),
    "auto_parts": (
        "汽车零部件",
        ("冲压车间", "焊装车间", "注塑车间"),
        ("冲压线", "注塑机", "压铸机"),
    ),
    "furniture": ("家具制造", ("板式车间", "喷涂车间", "实木车间"), ("封边机", "开料机", "喷涂线")),
    "hardware": ("五金制品", ("冲压车间", "电镀车间", "装配车间"), ("冲床", "电镀线", "抛光机")),
    "chemicals": ("化工", ("合成车间", "罐区", "包装车间"), ("反应釜", "储罐", "精馏塔")),
    "building_materials": (
        "建材",
        ("窑炉车间", "搅拌站", "成型车间"),
        ("陶瓷窑炉", "搅拌机", "压砖机"),
    ),
    "pharma": ("医药制造", ("GMP车间", "制剂车间", "洁净车间"), ("压片机", "冻干机", "包衣机")),
}
COMMON_EQUIPMENT = ("空压机", "锅炉", "冷水机组", "变压器", "水泵", "风机", "叉车")
EDITIONS = ("标准版", "专业版", "轻量版", "企业版", "SaaS版", "云端版", "本地部署版")
BUYERS = ("中小制造企业", "小微工厂", "规上工业企业", "专精特新企业", "产业集群企业")
DELIVERY = (
    "按月订阅，{n}天快速上线",
    "私有化部署，提供{n}天驻场实施",
    "开箱即用，支持{n}天免费试用",
    "按年订阅，含{n}次上门培训",
    "云端交付，{n}个工作日完成配置",
)

CITIES = (
    "苏州", "石家庄", "厦门", "杭州", "合肥", "武汉", "宁波", "东莞", "佛山", "无锡",
    "常州", "深圳", "青岛", "济南", "郑州", "成都", "重庆", "西安", "长沙", "南京",
    "天津", "保定", "唐山", "泉州", "温州", "台州", "嘉兴", "绍兴", "廊坊", "沧州",
)  # fmt: skip
BRANDS = (
    "云智", "智联", "数创", "工讯", "精益", "汇通", "博瑞", "鼎新", "华辰", "中科",
    "天工", "易造", "星火", "蓝海", "普惠", "联创", "信达", "卓越", "恒远", "致远",
    "慧眼", "数衡", "睿控", "新程", "启明", "凌云", "众诚", "格物", "匠心", "云途",
    "智造", "科睿", "华数", "鸿图", "辰星", "知行", "智源", "德盛", "海纳", "远景",
)  # fmt: skip
TRADES = (
    "工业软件", "信息技术", "智能科技", "网络科技", "自动化", "数据科技",
    "物联网科技", "软件技术", "企业管理咨询", "智能装备",
)  # fmt: skip


def provider_names(n: int, rng: random.Random) -> list[str]:
    """``n`` different company names, e.g. 苏州云智工业软件有限公司."""
    combos = list(itertools.product(CITIES, BRANDS, TRADES, ("有限公司", "股份有限公司")))
    rng.shuffle(combos)
    names = ["".join(c) for c in combos[:n]]
    for k in range(len(names), n):  # more than the combinations: number the rest
        city, brand, trade, form = combos[k % len(combos)]
        names.append(f"{city}{brand}{trade}{k // len(combos) + 1}{form}")
    return names


@dataclass(frozen=True)
class PackageText:
    title: str
    summary: str
    description: str
    industries: tuple[str, ...]  # industry codes, the first one named in the text
    tags: str  # the provider's own search words, comma-separated


def package_text(category: str, rng: random.Random) -> PackageText:
    """A package of this category: its title, summary and description, and the industries it
    serves (one to three)."""
    words = CATEGORY_WORDS[category]
    industries = tuple(rng.sample(sorted(INDUSTRY_WORDS), rng.choice((1, 1, 2, 3))))
    industry, workshops, equipment = INDUSTRY_WORDS[industries[0]]
    workshop = rng.choice(workshops)
    machine = rng.choice(equipment + COMMON_EQUIPMENT)
    product = rng.choice(words.products)
    feature, other = rng.sample(words.features, 2)
    method = rng.choice(words.methods)
    n = rng.randint(2, 60)
    title = rng.choice(
        (
            f"{workshop}{product}与{feature}",
            f"基于{method}的{machine}{product}",
            f"{industry}{product}（{rng.choice(EDITIONS)}）",
            f"{rng.choice(BRANDS)}{product}{rng.choice(EDITIONS)}",
            f"面向{rng.choice(BUYERS)}的{product}解决方案",
            f"{machine}{feature}与{other}",
            f"{industry}行业{feature}{rng.choice(('平台', '系统', '工具', '服务'))}",
        )
    )
    outcome = rng.choice(words.outcomes).format(n=n)
    delivery = rng.choice(DELIVERY).format(n=rng.choice((3, 5, 7, 10, 14, 30)))
    summary = rng.choice(
        (
            f"为{industry}企业提供{feature}、{other}等功能的转型包，{outcome}。",
            f"{product}转型包：{feature}+{other}，{delivery}。",
            f"面向{rng.choice(BUYERS)}，覆盖{workshop}的{feature}和{other}；典型客户{outcome}。",
            f"基于{method}的轻量化转型包，聚焦{machine}{feature}，{delivery}。",
        )
    )
    served = "、".join(INDUSTRY_WORDS[c][0] for c in industries)
    description = (
        f"本转型包面向{served}等行业的{rng.choice(BUYERS)}，"
        f"以{product}为核心，包含{feature}、{other}和{rng.choice(words.features)}三个模块。"
        f"采用{method}，可对接{machine}、{rng.choice(equipment)}等设备及现有ERP/MES系统，"
        f"支持OPC UA、Modbus TCP、REST/JSON等接口。{delivery}，"
        f"提供实施培训和{rng.choice(('7×24小时', '工作日', '专属顾问'))}售后支持。"
        f"参考案例：某{industry}企业{workshop}上线后{outcome}。"
    )
    tags = rng.sample(words.features + words.methods, rng.randint(2, 4))
    return PackageText(title, summary, description, industries, ",".join(tags))


FIELD_PROTOCOLS = ("opc_ua", "modbus_tcp", "mqtt", "profinet")
SYSTEM_PROTOCOLS = ("rest_json", "csv_excel", "database_view")
FIELD_DATA = ("device_telemetry", "energy_readings")
# category: (data objects it may consume, data objects it may produce)
CATEGORY_DATA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "equipment_networking": (("device_telemetry",), ("device_telemetry", "energy_readings")),
    "production_visualisation": (("device_telemetry", "production_orders"), ("production_orders",)),
    "predictive_maintenance": (("device_telemetry",), ("maintenance_records",)),
    "quality_traceability": (("production_orders",), ("quality_records",)),
    "mes": (("production_orders", "schedules", "bill_of_materials"), ("quality_records",)),
    "erp": (("customer_orders", "inventory"), ("production_orders", "bill_of_materials")),
    "wms": (("production_orders", "customer_orders"), ("inventory",)),
    "crm": (("inventory",), ("customer_orders",)),
    "aps": (("production_orders", "bill_of_materials", "inventory"), ("schedules",)),
    "energy_management": (("energy_readings", "device_telemetry"), ("energy_readings",)),
    "design_3d": (("customer_orders",), ("bill_of_materials",)),
    "data_platform": (("production_orders", "quality_records", "inventory"), ("quality_records",)),
    "industrial_security": (("device_telemetry",), ("device_telemetry",)),
    "training_advisory": (("quality_records",), ("schedules",)),
}


def interfaces(category: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """One interface the package consumes and one it produces: (flow, protocol, data object);
    field data comes over a field protocol, the rest over a system one."""
    consumes, produces = CATEGORY_DATA[category]
    rows = []
    for flow, choices in (("consumes", consumes), ("produces", produces)):
        data = rng.choice(choices)
        protocol = rng.choice(FIELD_PROTOCOLS if data in FIELD_DATA else SYSTEM_PROTOCOLS)
        rows.append((flow, protocol, data))
    return rows
