"""Demo voucher programmes: Shijiazhuang's open-mode programme, Xiamen's integrator-mode pilot
and last year's expired batch, with vouchers in every state, settlements, held risk flags and
a claw-back proposed by one official and waiting for the other's approval.

``programmes`` runs before the demo orders (so checkouts reserve voucher money) and
``aftermath`` after them (settlements, a revocation, expiry). All through the services."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import func, select

from marketplace.accounts.models import Organisation, OrgKind, ProviderType, User
from marketplace.catalog import services as catalog
from marketplace.catalog.models import BundleStatus, CuratedBundle, CuratedBundleItem, Package
from marketplace.db import clock_at, db, local_today
from marketplace.demo import clock, orders_seed
from marketplace.orders import bundles, hybrid, services
from marketplace.orders.models import LineStatus, Order, OrderLine
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers import admission, appointments, issuing, risk, settlement, spending
from marketplace.vouchers import programmes as programme_service
from marketplace.vouchers.models import (
    AdmissionChange,
    AdmissionEvent,
    AdmissionState,
    PackageAdmission,
    ProgrammeMode,
    Reservation,
    ReservationStatus,
    RiskReason,
    RunStatus,
    Voucher,
    VoucherProgramme,
    VoucherStatus,
)

YUAN = 100
# Banks with branches in every city of the demo; an account is kept at the branch in the
# organisation's city (中国工商银行石家庄分行).
BANKS = ["中国工商银行", "中国建设银行", "中国银行", "中国农业银行", "交通银行", "兴业银行"]
CITIES = {  # a city's division code (4 digits): its name and streets
    "1301": (
        "石家庄市",
        ["中山路", "裕华路", "建设大街", "槐安路", "胜利大街", "和平路", "友谊大街"],
    ),
    "3502": ("厦门市", ["湖滨南路", "嘉禾路", "厦禾路", "莲前西路", "仙岳路", "吕岭路", "金尚路"]),
    "3301": (
        "杭州市",
        ["文三路", "莫干山路", "天目山路", "江南大道", "秋涛路", "古墩路", "余杭塘路"],
    ),
    "3401": (
        "合肥市",
        ["长江西路", "黄山路", "望江西路", "金寨路", "习友路", "天达路", "创新大道"],
    ),
    "3205": (
        "苏州市",
        ["干将路", "人民路", "星湖街", "金鸡湖大道", "长江路", "狮山路", "苏州大道"],
    ),
}
SURNAMES = "王李张刘陈杨赵黄周吴"


def _owner_actor(org: Organisation) -> Actor:
    owner = next(u for u in org.users if u.role.value == "owner")
    return Actor(owner.id, org.id, "127.0.0.1")


def _second_official(agency: Organisation) -> Actor:
    """The agency's other owner: settlements are approved by someone who did not draw them up."""
    owners = [u for u in agency.users if u.role.value == "owner"]
    return Actor(owners[1].id, agency.id, "127.0.0.1")


def city_of(org: Organisation) -> tuple[str, list[str]]:
    """The city an organisation is registered in (its credit code's division) and its streets."""
    return CITIES.get((org.credit_code or "")[2:6], CITIES["1301"])


def _registered_details(rng: random.Random) -> None:
    orgs = db.session.scalars(
        select(Organisation)
        .where(Organisation.kind.in_([OrgKind.ENTERPRISE, OrgKind.PROVIDER]))
        .order_by(Organisation.id)
    )
    for org in orgs:
        city, streets = city_of(org)
        org.legal_representative = rng.choice(SURNAMES) + rng.choice(
            ["建国", "海燕", "志强", "丽华", "伟"]
        )
        org.address = f"{city}{rng.choice(streets)}{rng.randint(1, 399)}号"
        org.bank_name = f"{rng.choice(BANKS)}{city.removesuffix('市')}分行"
        org.bank_account = "".join(str(rng.randint(0, 9)) for _ in range(19))


def programmes(rng: random.Random) -> dict[str, int]:
    _registered_details(rng)
    sjz, xm = db.session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.AGENCY).order_by(Organisation.id)
    ).all()
    today = local_today()
    # Shijiazhuang's programme has run since the spring, Xiamen's pilot since the summer: the
    # demo's orders (the oldest, pay-for-results ones, some 240 days ago) came after.
    started = {"sjz": 270, "xm": 250}
    _launch(
        sjz,
        programme_service.Rules(
            name="石家庄市2026年中小企业数字化转型券",
            mode=ProgrammeMode.OPEN,
            budget_fen=3_000_000 * YUAN,
            face_value_fen=20_000 * YUAN,
            rate_bp=5_000,
            cap_fen=40_000 * YUAN,
            issue_from=today - timedelta(days=started["sjz"]),
            redeem_by=today + timedelta(days=240),
            size_tiers=["micro", "small", "medium"],
            region_codes=["130102", "130104", "130105", "130108", "130111", "130123", "130181"],
            plan_kinds=["one_time", "subscription", "outcome", "usage"],
            batch_approval_threshold_fen=500_000 * YUAN,
        ),
        started["sjz"],
        "demo-sjz-batch-1",
    )

    appointed = db.session.scalars(
        select(Organisation)
        .join(PoolMembership, PoolMembership.provider_id == Organisation.id)
        .where(
            PoolMembership.agency_id == xm.id,
            PoolMembership.status == PoolStatus.ADMITTED,
            Organisation.provider_type == ProviderType.INTEGRATOR,
        )
        .order_by(Organisation.id)
    ).all()
    _launch(
        xm,
        programme_service.Rules(
            name="厦门市集成服务商模式转型券（试点）",
            mode=ProgrammeMode.INTEGRATOR,
            budget_fen=2_000_000 * YUAN,
            face_value_fen=30_000 * YUAN,
            rate_bp=4_000,
            cap_fen=30_000 * YUAN,
            issue_from=today - timedelta(days=started["xm"]),
            redeem_by=today + timedelta(days=300),
            size_tiers=["micro", "small", "medium"],
            region_codes=["350203", "350205", "350206", "350211", "350212", "350213"],
            batch_approval_threshold_fen=300_000 * YUAN,
        ),
        started["xm"],
        "demo-xm-batch-1" if appointed else None,
        appoint=lambda p: _appoint_all(p, appointed, xm, "XMGXJ-2026-JC01"),
    )
    # The second half of the pilot: the city keeps its integrators but lets enterprises bring
    # in specialists (在集成服务商基础上引入细分领域服务商).
    _launch(
        xm,
        programme_service.Rules(
            name="厦门市混合模式转型券（集成服务商＋细分领域服务商）",
            mode=ProgrammeMode.HYBRID,
            budget_fen=1_500_000 * YUAN,
            face_value_fen=20_000 * YUAN,
            rate_bp=4_000,
            cap_fen=20_000 * YUAN,
            issue_from=today - timedelta(days=60),
            redeem_by=today + timedelta(days=300),
            size_tiers=["micro", "small", "medium"],
            region_codes=["350203", "350205", "350206", "350211", "350212", "350213"],
            batch_approval_threshold_fen=300_000 * YUAN,
            hybrid_fee_floor_bp=5_000,
        ),
        60,
        "demo-xm-hybrid-1" if appointed else None,
        appoint=lambda p: _appoint_all(p, appointed[:2], xm, "XMGXJ-2026-HH02"),
    )
    db.session.flush()
    return {"voucher programmes": 3}


def _appoint_all(
    programme: VoucherProgramme,
    integrators: Sequence[Organisation],
    agency: Organisation,
    call: str,
) -> None:
    """Each integrator appointed with how it was chosen: a public call, its criteria, every
    integrator of the pool scored, the reason, the term and a cap on the integration fee."""
    pool = list(
        db.session.scalars(
            select(Organisation)
            .join(PoolMembership, PoolMembership.provider_id == Organisation.id)
            .where(
                PoolMembership.agency_id == agency.id,
                PoolMembership.status == PoolStatus.ADMITTED,
                Organisation.provider_type == ProviderType.INTEGRATOR,
            )
            .order_by(Organisation.id)
        )
    )
    scores = {o.id: 92 - 4 * n for n, o in enumerate(pool)}
    for n, integrator in enumerate(integrators):
        appointments.appoint(
            programme,
            appointments.Selection(
                integrator_id=integrator.id,
                call_reference=call,
                call_title="厦门市中小企业数字化转型集成服务商公开遴选",
                criteria=(
                    "行业服务案例（30分）、本地化实施与运维能力（25分）、集成费率报价（20分）、"
                    "数据安全与接口开放程度（15分）、企业满意度（10分）；专家评审，得分前列者入选。"
                ),
                reason=(
                    f"综合得分{scores[integrator.id]}分，位列第{n + 1}；"
                    "在本市已完成离散制造企业设备联网与生产可视化项目，承诺集成服务费不超过套餐总价的"
                    "8%，并开放标准数据接口。"
                ),
                term_start=programme.issue_from,
                term_end=programme.redeem_by,
                integration_fee_cap_bp=800,
                applicants=[(o.id, scores[o.id]) for o in pool],
            ),
            _owner_actor(agency),
        )


def _launch(
    agency: Organisation,
    rules: programme_service.Rules,
    started: int,
    batch: str | None,
    appoint: Callable[[VoucherProgramme], None] | None = None,
) -> VoucherProgramme:
    """A programme set up ``started`` days ago and, given a ``batch`` key, opened then and its
    first batch issued two days later."""
    with clock_at(clock.days_ago(started, 9)):
        programme = programme_service.create_programme(agency, rules, _owner_actor(agency))
        if appoint is not None:
            appoint(programme)
        if batch is not None:
            programme_service.open_programme(programme, _owner_actor(agency))
    if batch is not None:
        with clock_at(clock.days_ago(started - 2, 10)):
            _issue_approved(programme, batch, agency)
    return programme


def _issue_approved(programme: VoucherProgramme, key: str, agency: Organisation) -> None:
    """The first batch of a programme is above its threshold: one official proposes it and
    the other approves it (four eyes), then it is issued."""
    run = issuing.issue_batch(
        programme,
        key,
        _owner_actor(agency),
        "首批：向全部符合条件的企业各发放一张转型券，名单已与区县工信部门核对。",
    )
    if run.status is RunStatus.PROPOSED:
        issuing.approve_batch(
            run,
            run.total_fen,
            "已核对发放名单、张数与合计金额，预算充足。",
            _second_official(agency),
        )


def _order_curated(rng: random.Random, xm: Organisation) -> int:
    """Xiamen enterprises order integrators' curated bundles whole, paid partly by vouchers."""
    programme = db.session.scalar(
        select(VoucherProgramme).where(VoucherProgramme.mode == ProgrammeMode.INTEGRATOR)
    )
    if programme is None or programme.status.value != "open":
        return 0
    appointed = {o.id for o in programme.integrators}
    curated = [
        c
        for c in db.session.scalars(
            select(CuratedBundle).where(CuratedBundle.status == BundleStatus.PUBLISHED)
        )
        if c.integrator_id in appointed
    ]
    holders = db.session.scalars(
        select(Organisation)
        .join(Voucher, Voucher.enterprise_id == Organisation.id)
        .where(Voucher.programme_id == programme.id)
        .order_by(Organisation.id)
        .limit(4)
    ).all()
    placed = 0
    for n, org in enumerate(holders):
        if not curated:
            break
        actor = _owner_actor(org)
        # the delivered ones ordered some 40 to 60 days ago, the others lately
        ago = rng.randint(40, 60) if n % 2 == 0 else rng.randint(3, 10)
        with clock_at(clock.days_ago(ago + 1, 15)):
            bundle = bundles.from_curated(org, curated[n % len(curated)].id, actor)
        with clock_at(clock.days_ago(ago, 10)):
            order = services.checkout(org, bundle, actor)
        placed += 1
        if n % 2 == 0:
            for line in order.lines:
                orders_seed.drive(line, LineStatus.COMPLETED)
    return placed


def _order_hybrid() -> int:
    """A Xiamen enterprise keeps an appointed integrator's bundle but swaps one module for a
    specialist's package that works with the rest (hybrid mode), and orders it with its
    hybrid voucher: the integration fee pro-rated, the integrator recorded on every line."""
    programme = db.session.scalar(
        select(VoucherProgramme).where(VoucherProgramme.mode == ProgrammeMode.HYBRID)
    )
    if programme is None or programme.status.value != "open":
        return 0
    appointed = {o.id for o in programme.integrators}
    curated = [
        c
        for c in db.session.scalars(
            select(CuratedBundle)
            .where(CuratedBundle.status == BundleStatus.PUBLISHED)
            .order_by(CuratedBundle.id)
        )
        if c.integrator_id in appointed
    ]
    holder = db.session.scalar(
        select(Organisation)
        .join(Voucher, Voucher.enterprise_id == Organisation.id)
        .where(Voucher.programme_id == programme.id, Voucher.reserved_fen == 0)
        .order_by(Organisation.id)
        .limit(1)
    )
    if holder is None:
        return 0
    actor = _owner_actor(holder)
    for deal in curated:
        with clock_at(clock.days_ago(6, 15)):
            saved = db.session.begin_nested()
            bundle = bundles.from_curated(holder, deal.id, actor)
            for item in list(bundle.items):
                for candidate in hybrid.candidates(bundle, item, programme):
                    shown = hybrid.preview(bundle, item.id, programme.id, candidate.package_id)
                    if shown.passes and shown.subsidy_after_fen > 0:
                        hybrid.swap(bundle, item.id, programme.id, candidate.package_id, actor)
                        saved.commit()
                        with clock_at(clock.days_ago(5, 10)):
                            services.checkout(holder, bundle, actor)
                        return 1
            saved.rollback()
    return 0


def aftermath(rng: random.Random) -> dict[str, int]:
    sjz, xm = db.session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.AGENCY).order_by(Organisation.id)
    ).all()
    curated_orders = _order_curated(rng, xm)
    hybrid_orders = _order_hybrid()
    official = _owner_actor(sjz)
    open_mode = db.session.scalar(
        select(VoucherProgramme).where(VoucherProgramme.mode == ProgrammeMode.OPEN)
    )
    assert open_mode is not None
    # One voucher revoked: the enterprise was found to have moved out of the city.
    unused = db.session.scalar(
        select(Voucher)
        .where(
            Voucher.programme_id == open_mode.id,
            Voucher.reserved_fen == 0,
            Voucher.redeemed_fen == 0,
            Voucher.status == VoucherStatus.ACTIVE,
        )
        .order_by(Voucher.id.desc())
    )
    if unused is not None:
        spending.revoke(unused, "企业已迁出本市，不再符合申领条件。", official)
    # Settlements: one paid, one approved, the rest drafts, as far as redemptions allow.
    settled = 0
    for programme in db.session.scalars(select(VoucherProgramme).order_by(VoucherProgramme.id)):
        agency_official = _owner_actor(programme.agency)
        second_official = _second_official(programme.agency)
        for due in settlement.due_by_provider(programme):
            if not due.ready_fen:
                continue
            # drawn up the day after the last redemption it settles, approved and paid on
            # the days after (as far as today allows)
            last = db.session.scalar(
                select(func.max(Reservation.redeemed_at)).where(
                    Reservation.programme_id == programme.id,
                    Reservation.provider_id == due.provider.id,
                    Reservation.status == ReservationStatus.REDEEMED,
                )
            )
            drawn, approved, paid = clock.steps(
                last or clock.days_ago(3), [timedelta(days=d, hours=1) for d in (1, 2, 4)]
            )
            with clock_at(drawn):
                s = settlement.draw_up(programme, due.provider.id, agency_official)
            if settled <= 1:
                with clock_at(approved):
                    settlement.approve(
                        s,
                        s.total_fen,
                        "已核对结算明细、服务商开户行及账号与合计金额。",
                        second_official,
                    )
            if settled == 0:
                with clock_at(paid):
                    settlement.mark_paid(s, f"HX{local_today():%Y%m%d}0001", agency_official)
            settled += 1
    # An enterprise that is still waiting: an application to Xiamen's programme.
    integrator_mode = db.session.scalar(
        select(VoucherProgramme).where(VoucherProgramme.mode == ProgrammeMode.INTEGRATOR)
    )
    if integrator_mode is not None and integrator_mode.status.value == "open":
        applicant = db.session.scalar(
            select(Organisation)
            .where(
                Organisation.kind == OrgKind.ENTERPRISE,
                Organisation.region_code.like("3502%"),
                ~Organisation.id.in_(select(Voucher.enterprise_id)),
                *issuing.eligibility_filter(integrator_mode)[1:],
            )
            .order_by(Organisation.id)
        )
        if applicant is not None:
            issuing.apply_for(
                integrator_mode,
                applicant,
                "拟引入集成商套餐，打通设备数据与生产排程。",
                _owner_actor(applicant),
            )
    proposed = _clawback_proposed(sjz)
    expired = _expired_programme(rng, sjz)
    held = db.session.scalar(
        select(Reservation.id).where(
            Reservation.held.is_(True), Reservation.status == ReservationStatus.REDEEMED
        )
    )
    db.session.flush()
    return {
        "curated orders with vouchers": curated_orders,
        "hybrid orders with a swapped module": hybrid_orders,
        "settlements": settled,
        "expired vouchers": expired,
        "held redemptions": 1 if held else 0,
        "claw-backs waiting for approval": proposed,
    }


def _clawback_proposed(agency: Organisation) -> int:
    """The implausibly fast delivery's redemption: official@ proposes clawing it back, and
    it waits for official2@'s approval (four eyes), so the approval can be tried. Any other
    held redemption is left open for a decision."""
    flags = risk.open_flags(agency)
    fast = [f for f in flags if f.reason is RiskReason.FAST_DELIVERY] or flags
    if not fast:
        return 0
    risk.propose_clawback(
        fast[0],
        "现场核查：服务商未实际部署，交付时间远短于承诺的上线周期，交付记录不实。",
        _owner_actor(agency),
    )
    return 1


def _expired_programme(rng: random.Random, sjz: Organisation) -> int:
    """Last year's pilot batch: issued more than a year ago, partly unspent, expired the day
    after its redeem-by date (35 days ago)."""
    official = _owner_actor(sjz)
    today = local_today()
    redeem_by = today - timedelta(days=35)
    old = _launch(
        sjz,
        programme_service.Rules(
            name="石家庄市2025年数字化转型试点券",
            mode=ProgrammeMode.OPEN,
            budget_fen=200_000 * YUAN,
            face_value_fen=10_000 * YUAN,
            rate_bp=3_000,
            cap_fen=10_000 * YUAN,
            issue_from=today - timedelta(days=400),
            redeem_by=redeem_by,
            region_codes=["130102"],
        ),
        400,
        "demo-sjz-2025",
    )
    with clock_at(clock.days_ago(60, 10)):
        programme_service.close_programme(old, official)
    with clock_at(clock.days_ago(34, 2)):
        expired, _released = spending.expire_due(official)
    return expired


# --- package admission (issue 22) -----------------------------------------------------------

ADMISSION_CRITERIA = {
    ProgrammeMode.OPEN: (
        "1. 服务商已入库本市服务商资源池，资质在有效期内；\n"
        "2. 价格方案公开、明码标价，不高于同类转型包市场均价的 1.3 倍；\n"
        "3. 至少提供一项标准数据接口（OPC UA、Modbus TCP、MQTT 或 REST/JSON），并附接口说明与数据字典；\n"
        "4. 上线周期不超过 90 天，并明确响应时限；\n"
        "5. 面向中小企业的轻量化部署，不捆绑与本场景无关的功能模块。"
    ),
    ProgrammeMode.INTEGRATOR: (
        "1. 可纳入指定集成服务商的集成套餐，集成服务费单独列示；\n"
        "2. 价格方案公开，不高于同类转型包市场均价的 1.3 倍；\n"
        "3. 数据接口符合本市中小企业数字化转型数据对接规范（OPC UA、MQTT 或 REST/JSON）；\n"
        "4. 提供本地化实施与运维服务。"
    ),
    ProgrammeMode.HYBRID: (
        "1. 可纳入指定集成服务商的集成套餐，或作为细分领域转型包替换套餐中的同类模块；\n"
        "2. 价格方案公开，不高于同类转型包市场均价的 1.3 倍；\n"
        "3. 替换模块须通过与套餐其余模块的数据互通检查（OPC UA、MQTT 或 REST/JSON）；\n"
        "4. 提供本地化实施与运维服务，集成服务费按本项目规则折算。"
    ),
}
ADMIT_REASONS = [
    "价格方案公开，接口说明与数据字典齐全，符合准入标准第 2、3 条。",
    "与同类转型包比价后价格合理，上线周期与响应时限符合要求，同意准入。",
    "价格方案、数据接口说明与交付清单均已核对，符合本项目准入标准。",
    "演示环境已核查，接口可与常见网关对接，价格在同类均价范围内，同意准入。",
]
# Admission review began this many days ago: versions published before then are recorded as
# admitted then (as the migration does for a running platform); later ones were decided.
REVIEW_BEGAN_DAYS = 21


def admissions(rng: random.Random) -> dict[str, int]:
    """Each programme publishes its criteria (Shijiazhuang delegates to the assessor too);
    the catalogue published before review began counts as admitted, later versions were
    decided by the officials and the assessor with their reasons."""
    began = clock.days_ago(REVIEW_BEGAN_DAYS, 9)
    assessor = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.ASSESSOR))
    decided = 0
    for programme in db.session.scalars(select(VoucherProgramme).order_by(VoucherProgramme.id)):
        agency = programme.agency
        delegate = assessor if programme.mode is ProgrammeMode.OPEN else None
        with clock_at(began):
            admission.set_rules(
                programme,
                ADMISSION_CRITERIA[programme.mode],
                delegate.id if delegate else None,
                _owner_actor(agency),
            )
        for n, item in enumerate(admission.queue(agency, programme.id, details=False)):
            if item.since < began:
                row = PackageAdmission(
                    programme_id=programme.id,
                    version_id=item.version.id,
                    package_id=item.version.package_id,
                    state=AdmissionState.ADMITTED,
                    event=AdmissionEvent.BACKFILL,
                    reason="Published before admission review began: admitted by the migration.",
                    criteria="",
                    pending_since=item.since,
                    decided_at=began,
                )
                row.history.append(
                    AdmissionChange(
                        from_state=AdmissionState.PENDING,
                        to_state=AdmissionState.ADMITTED,
                        event=AdmissionEvent.BACKFILL,
                        reason=row.reason,
                        at=began,
                    )
                )
                db.session.add(row)
                continue
            by = delegate if delegate is not None and n % 3 == 0 else agency
            (at,) = clock.steps(item.since, [timedelta(days=rng.randint(1, 6), hours=3)])
            with clock_at(at):
                admission.decide(
                    programme,
                    item.version,
                    True,
                    rng.choice(ADMIT_REASONS),
                    by,
                    _owner_actor(by),
                )
            decided += 1
    db.session.flush()
    return {"package admissions decided": decided}


def _quiet_packages(agency: Organisation) -> list[Package]:
    """Published packages of providers in the agency's pool that no order, curated bundle or
    other demo story uses (s01's packages take new orders at the end of the seed)."""
    in_bundles = select(CuratedBundleItem.package_id)
    ordered = select(OrderLine.package_id).where(OrderLine.package_id.is_not(None))
    stmt = (
        select(Package)
        .join(PoolMembership, PoolMembership.provider_id == Package.provider_id)
        .join(User, User.org_id == Package.provider_id)
        .where(
            PoolMembership.agency_id == agency.id,
            PoolMembership.status == PoolStatus.ADMITTED,
            Package.published_version_id.is_not(None),
            ~Package.id.in_(in_bundles),
            ~Package.id.in_(ordered),
            User.email != "s01@provider.demo",
        )
        .order_by(Package.id)
    )
    return list(dict.fromkeys(db.session.scalars(stmt)))


def new_versions_for_review(rng: random.Random) -> dict[str, int]:
    """After the orders: one provider raised its price in a new version, which waits for
    review (待审); another added an interface without its documentation, and Shijiazhuang's
    official did not admit it."""
    sjz = db.session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.AGENCY).order_by(Organisation.id)
    ).first()
    assert sjz is not None
    programme = db.session.scalar(
        select(VoucherProgramme).where(
            VoucherProgramme.agency_id == sjz.id, VoucherProgramme.mode == ProgrammeMode.OPEN
        )
    )
    quiet = _quiet_packages(sjz)
    if programme is None or len(quiet) < 2:
        return {"versions waiting for admission": 0}
    pending, rejected = quiet[0], quiet[-1]
    actor = _owner_actor(pending.provider)
    with clock_at(clock.days_ago(3, 15)):
        catalog.new_version(pending, actor)
        catalog.add_plan(
            pending,
            catalog.PlanFields(
                kind="subscription",
                name="年度订阅（含远程运维）",
                monthly_fen=3_800 * YUAN,
                term_months=12,
            ),
            actor,
        )
        catalog.submit(pending, actor)
        catalog.publish(pending, actor)
    actor = _owner_actor(rejected.provider)
    with clock_at(clock.days_ago(8, 11)):
        draft = catalog.new_version(rejected, actor)
        have = {(i.flow.value, i.protocol_code) for i in draft.interfaces}
        protocol = next(
            p
            for p in ("modbus_tcp", "csv_excel", "database_view", "rest_json")
            if ("consumes", p) not in have
        )
        catalog.add_interface(rejected, "consumes", protocol, "device_telemetry", actor)
        catalog.submit(rejected, actor)
        version = catalog.publish(rejected, actor)
    with clock_at(clock.days_ago(5, 16)):
        admission.decide(
            programme,
            version,
            False,
            "新增的数据接口未附接口说明与数据字典，不符合本项目准入标准第 3 条；补充后请发布新版本。",
            sjz,
            _owner_actor(sjz),
        )
    db.session.flush()
    return {"versions waiting for admission": 1, "versions not admitted": 1}


SJZ_PROGRAMME = "石家庄市2026年中小企业数字化转型券"


def cooling_off(rng: random.Random) -> dict[str, int]:
    """Shijiazhuang's programme holds voucher money 7 days after delivery starts (issue 23),
    and one line is inside that period: placed three days ago by an enterprise of the city
    with an unused voucher, its delivery started two days later, so its page shows
    "冷静期至 …" and offers the enterprise to cancel it.

    The bureau adopted the rule after the demo's history: the older lines were redeemed at
    their acceptance. An open programme's rules are frozen in the app, so the seed sets the
    days directly (in a new pilot the bureau sets them on the programme form)."""
    programme = db.session.scalar(
        select(VoucherProgramme).where(VoucherProgramme.name == SJZ_PROGRAMME)
    )
    if programme is None:
        return {"lines cooling off": 0}
    programme.cooling_off_days = 7
    ordered = select(Order.enterprise_id)
    buyers = db.session.scalars(
        select(Organisation)
        .join(Voucher, Voucher.enterprise_id == Organisation.id)
        .where(
            Voucher.programme_id == programme.id,
            Voucher.status == VoucherStatus.ACTIVE,
            Voucher.reserved_fen == 0,
            Voucher.redeemed_fen == 0,
            Organisation.id.not_in(ordered),
        )
        .order_by(Organisation.id)
    ).all()
    packages = db.session.scalars(
        select(Package)
        .join(PoolMembership, PoolMembership.provider_id == Package.provider_id)
        .where(
            PoolMembership.agency_id == programme.agency_id,
            PoolMembership.status == PoolStatus.ADMITTED,
            Package.published_version_id.is_not(None),
        )
        .order_by(Package.id)
    ).all()
    admitted = admission.admitted_programme_ids(
        [p.published_version_id for p in packages if p.published_version_id is not None]
    )
    for buyer in buyers[:1]:
        actor = orders_seed._actor(buyer)
        for package in packages:
            version = package.published_version
            if version is None or programme.id not in admitted.get(version.id, set()):
                continue
            one_time = [plan for plan in version.plans if plan.kind.value == "one_time"]
            if not one_time:
                continue
            with db.session.begin_nested() as attempt:
                with clock_at(clock.days_ago(3, 10)):
                    bundle = bundles.create(buyer, "设备联网改造（冷静期内）", actor)
                    bundles.add(bundle, package.id, one_time[0].id, actor)
                    order = services.checkout(
                        buyer, bundle, actor, contact=orders_seed._contact(buyer, 99)
                    )
                line = order.lines[0]
                if not spending.line_funding(line.id).reserved_fen:
                    attempt.rollback()
                    continue
            orders_seed.drive(line, LineStatus.IN_DELIVERY)
            return {"lines cooling off": 1}
    return {"lines cooling off": 0}
