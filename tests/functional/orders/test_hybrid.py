"""Hybrid mode (issue 22): swapping a module of an appointed integrator's curated bundle for an
admitted specialist's package, the pro-rated integration fee, vouchers still paying, the
integrator kept on the lines; and the refusals, with nothing stored."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import Organisation, User
from marketplace.audit import AuditEntry
from marketplace.catalog import curated_bundles
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Package
from marketplace.errors import DomainError
from marketplace.orders import bundles, hybrid
from marketplace.orders import services as orders
from marketplace.orders.models import Bundle, BundleItem, OrderLine
from marketplace.security import Actor
from marketplace.vouchers import spending
from marketplace.vouchers.models import (
    ProgrammeMode,
    Reservation,
    VoucherProgramme,
    prorated_fee,
)
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)
from tests.functional.voucher_helpers import Pilot, pilot

YUAN = 100


def one_time(amount_yuan: int) -> catalog.PlanFields:
    return catalog.PlanFields(kind="one_time", name="一次性买断", amount_fen=amount_yuan * YUAN)


NETWORKING = (("consumes", "opc_ua", "device_telemetry"), ("produces", "mqtt", "device_telemetry"))
MES_MQTT = (("consumes", "mqtt", "device_telemetry"),)
MES_MODBUS = (("consumes", "modbus_tcp", "device_telemetry"),)  # the networking sends MQTT


@dataclass
class Hybrid:
    p: Pilot
    integrator: Organisation
    integrator_owner: User
    networking: Package  # module 1: ¥60,000 (the pilot's package)
    mes: Package  # module 2: ¥40,000
    specialist: Package  # an admitted specialist's MES: ¥30,000, reads MQTT
    modbus_only: Package  # an admitted specialist's MES that cannot read the networking
    outsider: Package  # an MES by a provider not admitted to the pool
    other_category: Package  # an admitted specialist's quality traceability package
    curated_id: int
    programme: VoucherProgramme


def _offer(app, dbs, agency, email, yuan, title, interfaces=MES_MQTT, category_code="mes"):
    """A provider admitted to the agency's pool, and its package at a one-time price."""
    provider, owner = provider_with_owner(email)
    membership(dbs, provider, agency)
    return published_package(
        app,
        dbs,
        provider,
        owner,
        plans=(one_time(yuan),),
        interfaces=interfaces,
        category_code=category_code,
        title=title,
    )


@pytest.fixture
def h(app, dbs) -> Hybrid:
    p = pilot(app, dbs, tag="h")
    dbs.refresh(p.package)
    integrator, i_owner = provider_with_owner("integrator@h.cn", integrator=True)
    membership(dbs, integrator, p.agency)
    mes = _offer(app, dbs, p.agency, "mes@h.cn", 40_000, "标准MES")
    specialist = _offer(app, dbs, p.agency, "special@h.cn", 30_000, "专精MES")
    modbus_only = _offer(
        app, dbs, p.agency, "modbus@h.cn", 20_000, "只读Modbus的MES", interfaces=MES_MODBUS
    )
    # visible in the catalogue (admitted to another agency's pool), not in this programme's
    other_agency, _official = agency_with_official("official@other.cn")
    outsider = _offer(app, dbs, other_agency, "outsider@h.cn", 25_000, "外地MES")
    other_category = _offer(
        app,
        dbs,
        p.agency,
        "quality@h.cn",
        30_000,
        "质量追溯",
        category_code="quality_traceability",
    )
    fields = curated_bundles.BundleFields(
        "联网+MES 集成套餐", "", "machining", "small", 10_000 * YUAN, [p.package.id, mes.id]
    )
    with services(app, dbs):
        curated = curated_bundles.create_bundle(
            integrator, fields, Actor(i_owner.id, integrator.id, None)
        )
    programme = p.programme(
        mode=ProgrammeMode.HYBRID,
        integrators=[integrator],
        rate_bp=5_000,
        face_value_fen=40_000 * YUAN,
        cap_fen=40_000 * YUAN,
        hybrid_fee_floor_bp=5_000,
    )
    p.issue_to(programme)
    return Hybrid(
        p,
        integrator,
        i_owner,
        p.package,
        mes,
        specialist,
        modbus_only,
        outsider,
        other_category,
        curated.id,
        programme,
    )


def _taken(app, dbs, h: Hybrid) -> tuple[Bundle, BundleItem]:
    """The enterprise's bundle taken from the integrator's curated bundle, and its MES module
    (the one the tests swap)."""
    with services(app, dbs):
        b = bundles.from_curated(h.p.enterprise, h.curated_id, h.p.enterprise_actor)
    return b, next(i for i in b.items if i.package_id == h.mes.id)


# --- the rule, by hand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fee", "kept", "whole", "floor", "expected"),
    [
        # nothing swapped: the whole fee
        (10_000_00, 100_000_00, 100_000_00, 5_000, 10_000_00),
        # ¥60,000 of ¥100,000 kept: 10,000 × 0.6 = ¥6,000 (above the 50 % floor)
        (10_000_00, 60_000_00, 100_000_00, 5_000, 6_000_00),
        # ¥30,000 of ¥100,000 kept: ¥3,000 is below the floor; the floor's ¥5,000
        (10_000_00, 30_000_00, 100_000_00, 5_000, 5_000_00),
        # rounding down: 999.99 yuan × 1/3 = 33,333 fen (33,333.0 exactly) and
        # 1,000.00 × 1/3 = 33,333.33… → 33,333 fen
        (99_999, 1, 3, 0, 33_333),
        (100_000, 1, 3, 0, 33_333),
        # the floor rounds down too: ¥0.99 × 50 % = 49.5 fen → 49
        (99, 0, 100, 5_000, 49),
    ],
)
def test_prorated_fee_by_hand(fee, kept, whole, floor, expected):
    assert prorated_fee(fee, kept, whole, floor) == expected


# --- a swap, end to end -----------------------------------------------------------------


def test_a_swap_prorates_the_fee_and_vouchers_still_pay(app, dbs, h):
    b, item = _taken(app, dbs, h)
    with services(app, dbs):
        shown = hybrid.preview(b, item.id, h.programme.id, h.specialist.id)
    assert shown.passes and shown.new_problems == []
    # Modules at list prices: networking ¥60,000 + MES ¥40,000 = ¥100,000; ¥60,000 kept:
    # the ¥10,000 fee × 60,000 / 100,000 = ¥6,000 (above the 50 % floor of ¥5,000).
    assert shown.totals_before.integration_fee_fen == 10_000_00
    assert shown.totals_after.integration_fee_fen == 6_000_00
    assert shown.totals_before.committed_fen == 110_000_00  # 60,000 + 40,000 + 10,000
    assert shown.totals_after.committed_fen == 96_000_00  # 60,000 + 30,000 + 6,000
    # vouchers pay 50 % up to the ¥40,000 voucher: 55,000 → capped at 40,000 both times
    assert shown.subsidy_before_fen == 40_000_00
    assert shown.subsidy_after_fen == 40_000_00
    assert shown.copay_after_fen == 56_000_00

    with services(app, dbs):
        hybrid.swap(b, item.id, h.programme.id, h.specialist.id, h.p.enterprise_actor)
    dbs.refresh(b)
    assert [i.package_id for i in b.items] == [h.networking.id, h.specialist.id]
    assert b.hybrid_programme_id == h.programme.id
    assert b.items[1].replaces_package_id == h.mes.id
    assert dbs.scalar(select(func.count()).where(AuditEntry.action == "bundle.module_swapped")) == 1
    with services(app, dbs):
        deal = bundles.integration(b)
        assert deal is not None and deal.applies and deal.fee_fen == 6_000_00
        order = orders.checkout(h.p.enterprise, b, h.p.enterprise_actor)
    lines = dbs.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
    ).all()
    assert [(line.kind, line.committed_fen) for line in lines] == [
        ("package", 60_000_00),
        ("package", 30_000_00),
        ("integration", 6_000_00),
    ]
    # the integrator that routed the swapped bundle is kept on every line (concentration)
    assert {line.integrator_id for line in lines} == {h.integrator.id}
    reserved = dbs.execute(
        select(Reservation.order_line_id, Reservation.amount_fen).order_by(Reservation.id)
    ).all()
    # 50 % of each line in order, until the ¥40,000 voucher is spent
    assert [amount for _line, amount in reserved] == [30_000_00, 10_000_00]
    assert sum(amount for _line, amount in reserved) == 40_000_00


def test_swap_page_shows_the_check_fee_and_totals_then_swaps(client, app, dbs, h):
    b, item = _taken(app, dbs, h)
    client.login("owner@h.cn")
    bundle_page = client.text(f"/my-bundles/{b.id}")
    assert f"/my-bundles/{b.id}/items/{item.id}/swap" in bundle_page
    url = f"/my-bundles/{b.id}/items/{item.id}/swap"
    listing = client.text(url)
    assert "专精MES" in listing and "只读Modbus的MES" in listing
    assert "外地MES" not in listing and "质量追溯" not in listing  # not admitted / other category
    preview = client.text(f"{url}?programme_id={h.programme.id}&package_id={h.specialist.id}")
    assert 'id="interop-result"' in preview and "¥6,000.00" in preview
    assert 'id="swap-confirm"' in preview
    bad = client.text(f"{url}?programme_id={h.programme.id}&package_id={h.modbus_only.id}")
    assert "只读Modbus的MES" in bad and 'id="swap-confirm"' not in bad
    done = client.form(f"{url}?programme_id={h.programme.id}&package_id={h.specialist.id}")
    assert done.status_code == 302
    dbs.refresh(b)
    assert h.specialist.id in [i.package_id for i in b.items]
    page = client.text(f"/my-bundles/{b.id}")
    assert "¥6,000.00" in page


# --- bad input: clear errors, nothing stored --------------------------------------------


def _unchanged(dbs, b: Bundle, h: Hybrid) -> None:
    dbs.refresh(b)
    assert sorted(i.package_id for i in b.items) == sorted([h.networking.id, h.mes.id])
    assert b.hybrid_programme_id is None
    assert dbs.scalar(select(func.count()).where(AuditEntry.action == "bundle.module_swapped")) == 0


def test_a_swap_that_fails_interoperability_is_refused(app, dbs, h):
    b, item = _taken(app, dbs, h)
    with services(app, dbs):
        shown = hybrid.preview(b, item.id, h.programme.id, h.modbus_only.id)
        assert not shown.passes and len(shown.new_problems) == 1
    with services(app, dbs), pytest.raises(DomainError) as refused:
        hybrid.swap(b, item.id, h.programme.id, h.modbus_only.id, h.p.enterprise_actor)
    assert "只读Modbus的MES" in str(refused.value.message)
    _unchanged(dbs, b, h)


@pytest.mark.parametrize("which", ["other_category", "outsider"])
def test_a_swap_to_another_category_or_a_non_admitted_provider_is_refused(app, dbs, h, which):
    b, item = _taken(app, dbs, h)
    package = getattr(h, which)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        hybrid.swap(b, item.id, h.programme.id, package.id, h.p.enterprise_actor)
    assert refused.value.field == "package_id"
    _unchanged(dbs, b, h)


def test_integrator_mode_refuses_a_swap_with_its_reason(client, app, dbs, h):
    with services(app, dbs):
        h.programme.mode = ProgrammeMode.INTEGRATOR
    b, item = _taken(app, dbs, h)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        hybrid.swap(b, item.id, h.programme.id, h.specialist.id, h.p.enterprise_actor)
    assert h.programme.name in str(refused.value.message)
    _unchanged(dbs, b, h)
    client.login("owner@h.cn")
    url = f"/my-bundles/{b.id}/items/{item.id}/swap?programme_id={h.programme.id}"
    page = client.text(url)
    assert 'id="swap-refusal"' in page
    posted = client.form(f"{url}&package_id={h.specialist.id}")
    assert posted.status_code == 422
    _unchanged(dbs, b, h)


def test_a_swapped_bundle_is_paid_only_by_its_hybrid_programme(app, dbs, h):
    """Dropping a module outside hybrid mode still loses the deal: a bundle whose module was
    removed gets no integration fee and no integrator-mode subsidy."""
    b, item = _taken(app, dbs, h)
    with services(app, dbs):
        bundles.remove(b, item.id, h.p.enterprise_actor)
        deal = bundles.integration(b)
        assert deal is not None and not deal.applies
        claims = bundles.voucher_claims(bundles.lines(b), deal)
        assert all(s.subsidy_fen == 0 for s in spending.plan(h.p.enterprise.id, claims))


def test_the_swap_page_does_not_grow_with_the_candidates(client, app, dbs, h, count_queries):
    b, item = _taken(app, dbs, h)
    client.login("owner@h.cn")
    url = (
        f"/my-bundles/{b.id}/items/{item.id}/swap"
        f"?programme_id={h.programme.id}&package_id={h.specialist.id}"
    )

    def measure() -> int:
        client.get(url)
        count_queries.count = 0
        assert client.get(url).status_code == 200
        return count_queries.count

    small = measure()
    for n in range(3):
        _offer(app, dbs, h.p.agency, f"more{n}@h.cn", 20_000 + n, f"专精MES{n}")
    assert measure() == small
