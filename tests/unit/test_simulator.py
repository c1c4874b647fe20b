"""The mode-switch simulator's projection against a case computed by hand (issue 22)."""

from __future__ import annotations

from decimal import Decimal

from marketplace.oversight.simulator import (
    HYBRID,
    INTEGRATOR,
    OPEN,
    LineFact,
    Scenario,
    project,
    split,
)

A, B, C, D = 1, 2, 3, 4  # scenario providers; A and C sell MES, B sells WMS; D (MES) sold nothing
I1, I2 = 11, 12  # integrators
Y = 100  # fen per yuan

# Three orders under integrator mode, prices in yuan:
#   order 1: A's MES 60,000 and B's WMS 40,000 routed by I1, integration fee 10,000
#   order 2: A's MES 60,000 routed by I1, fee 6,000
#   order 3: C's MES 40,000 routed by I2, fee 4,000
# Days to go-live: A 10 and 20 (mean 15), B 30, C 5.
INTEGRATED = [
    LineFact(1, A, 60_000 * Y, "mes", I1, days_to_delivery=10),
    LineFact(1, B, 40_000 * Y, "wms", I1, days_to_delivery=30),
    LineFact(1, I1, 10_000 * Y, None, None, is_integration=True),
    LineFact(2, A, 60_000 * Y, "mes", I1, days_to_delivery=20),
    LineFact(2, I1, 6_000 * Y, None, None, is_integration=True),
    LineFact(3, C, 40_000 * Y, "mes", I2, days_to_delivery=5),
    LineFact(3, I2, 4_000 * Y, None, None, is_integration=True),
]
ADMITTED = {"mes": {A, C, D}, "wms": {B}}


def test_the_orders_as_placed():
    # I1 routed 60 + 40 + 10 + 60 + 6 = 176,000 and I2 44,000 of 220,000: 80 % and 20 %
    now = project(INTEGRATED, Scenario(OPEN), ADMITTED).current
    assert now.money_fen == 220_000 * Y and now.fees_fen == 20_000 * Y and now.modules == 4
    assert (now.largest_party_id, now.largest_share_bp) == (I1, 8_000)
    assert now.hhi == 80**2 + 20**2 == 6_800
    assert now.price_per_module_fen == 55_000 * Y  # 220,000 / 4
    # by money delivered: (120,000 × 15 + 40,000 × 30 + 40,000 × 5) / 200,000 = 16.0
    assert now.days_to_delivery == Decimal("16.0")
    assert now.providers_reached == 3


def test_to_open_mode_without_caps():
    # no fees; A 120,000, B 40,000, C 40,000 of 200,000: 60 %, 20 %, 20 %
    result = project(INTEGRATED, Scenario(OPEN), ADMITTED)
    then = result.projected
    assert then is not None
    assert then.money_fen == 200_000 * Y and then.fees_fen == 0
    assert (then.largest_party_id, then.largest_share_bp) == (A, 6_000)
    assert then.hhi == 60**2 + 20**2 + 20**2 == 4_400
    assert then.price_per_module_fen == 50_000 * Y
    assert then.days_to_delivery == Decimal("16.0")  # the same providers deliver
    assert then.providers_reached == 3


def test_to_open_mode_with_a_provider_cap_of_half():
    # A's excess over 50 % of 200,000 is 20,000, all of it MES: the other admitted MES
    # providers are C (40,000) and D (nothing), so pro rata C takes all 20,000.
    # A 100,000, B 40,000, C 60,000: 50 %, 20 %, 30 %; HHI 2,500 + 400 + 900 = 3,800;
    # days (100,000 × 15 + 40,000 × 30 + 60,000 × 5) / 200,000 = 15.0
    then = project(INTEGRATED, Scenario(OPEN, provider_cap_bp=5_000), ADMITTED).projected
    assert then is not None
    assert (then.largest_party_id, then.largest_share_bp) == (A, 5_000)
    assert then.hhi == 3_800
    assert then.price_per_module_fen == 50_000 * Y
    assert then.days_to_delivery == Decimal("15.0")
    assert then.providers_reached == 3 and then.left_out_fen == 0


def test_a_cap_with_no_room_below_it_leaves_the_money_out():
    # a 25 % cap of 200,000 is 50,000. A (120,000) is over by 70,000: C is at 40,000 (room
    # 10,000) and D at nothing (room 50,000); pro rata C's money would take it all, so C
    # takes 10,000 up to the cap, and D the rest up to 50,000: 10,000 has nowhere to go.
    # B (40,000) is not over.
    result = project(INTEGRATED, Scenario(OPEN, provider_cap_bp=2_500), ADMITTED)
    then = result.projected
    assert then is not None and "left_out" in result.notes
    assert then.left_out_fen == 10_000 * Y
    assert then.money_fen == 190_000 * Y  # A 50,000, B 40,000, C 50,000, D 50,000
    assert then.providers_reached == 4
    # shares 2,631, 2,631, 2,631 and 2,105 bp: (3 × 2,631² + 2,105²) / 10,000 = 2,519.75
    assert then.hhi == 2_520


def test_integrator_mode_with_an_integration_fee_cap():
    # fee ÷ (modules + fee) ≤ 5 %: a fee of at most modules × 500 / 9,500
    #   order 1: 100,000 → 5,263.15; order 2: 60,000 → 3,157.89; order 3: 40,000 → 2,105.26
    then = project(INTEGRATED, Scenario(INTEGRATOR, integration_fee_cap_bp=500), ADMITTED, [I1, I2])
    assert then.projected is not None
    fees = 5_263_15 + 3_157_89 + 2_105_26
    assert then.projected.fees_fen == fees
    assert then.projected.money_fen == 200_000 * Y + fees
    assert then.projected.price_per_module_fen == (200_000 * Y + fees) // 4
    # I1: 160,000 + 8,421.04; I2: 40,000 + 2,105.26
    i1 = 160_000 * Y + 5_263_15 + 3_157_89
    assert then.projected.largest_share_bp == i1 * 10_000 // then.projected.money_fen


def test_open_orders_projected_to_integrator_mode():
    # two open orders: A's MES 60,000 (order 1), C's MES 40,000 (order 2). No order was
    # routed, so the fee rate is the proposed fee cap, 10 %: orders go to I1, then I2.
    open_lines = [
        LineFact(1, A, 60_000 * Y, "mes", days_to_delivery=10),
        LineFact(2, C, 40_000 * Y, "mes", days_to_delivery=5),
    ]
    result = project(open_lines, Scenario(INTEGRATOR, integration_fee_cap_bp=1_000), {}, [I1, I2])
    assert result.fee_rate_bp == 1_000 and "no_fee_history" in result.notes
    then = result.projected
    assert then is not None
    # fees: 6,000 and 4,000 would be 9.09 % of their bundles, within the 10 % cap
    assert then.fees_fen == 10_000 * Y and then.money_fen == 110_000 * Y
    assert (then.largest_party_id, then.largest_share_bp) == (I1, 6_000)  # 66,000 / 110,000
    assert then.hhi == 60**2 + 40**2
    assert then.price_per_module_fen == 55_000 * Y
    assert then.providers_reached == 2
    # without appointed integrators it cannot be projected
    assert project(open_lines, Scenario(INTEGRATOR), {}, []).projected is None


def test_split_gives_the_odd_fen_to_the_largest_remainders():
    assert split(10, {1: 1, 2: 1, 3: 1}) == {1: 4, 2: 3, 3: 3}
    assert split(7, {1: 0, 2: 0}) == {1: 4, 2: 3}
    assert split(100, {"a": 3, "b": 1}) == {"a": 75, "b": 25}


# Hybrid mode, by hand. I1 and I2 integrate; S is a specialist admitted to the pool in WMS and
# MES; E's MES was bought while E was in the pool, which has suspended it since.
S, E = 5, 6
ROUTED_AND_OPEN = [
    # order 1, routed by I1: I1's own MES 30,000 and S's WMS 20,000, fee 5,000
    LineFact(1, I1, 30_000 * Y, "mes", I1),
    LineFact(1, S, 20_000 * Y, "wms", I1),
    LineFact(1, I1, 5_000 * Y, None, None, is_integration=True),
    # order 2, routed by I1: E's MES 40,000, fee 4,000
    LineFact(2, E, 40_000 * Y, "mes", I1),
    LineFact(2, I1, 4_000 * Y, None, None, is_integration=True),
    # order 3, bought openly: S's MES 60,000
    LineFact(3, S, 60_000 * Y, "mes"),
]
SPECIALISTS = {"mes": {I1, S}, "wms": {S}}


def test_hybrid_mode_prorates_each_orders_fee_with_the_floor():
    # The fee rate routed orders paid: (5,000 + 4,000) / (50,000 + 40,000) = 10 %. Order 3 is
    # routed by the first integrator in turn (I2, as listed) at 10 %: a fee of 6,000.
    # Swapped: modules an admitted specialist delivers, not the routing integrator:
    #   order 1: S's WMS (20,000 of 50,000): 5,000 × 30,000 / 50,000 = 3,000, above the
    #            50 % floor of 2,500;
    #   order 2: none (E is not admitted): the whole 4,000;
    #   order 3: S's MES, all 60,000: 6,000 × 0 = 0, the floor's 3,000.
    result = project(
        ROUTED_AND_OPEN, Scenario(HYBRID, hybrid_fee_floor_bp=5_000), SPECIALISTS, [I2, I1]
    )
    assert result.fee_rate_bp == 1_000
    then = result.projected
    assert then is not None
    assert then.fees_fen == (3_000 + 4_000 + 3_000) * Y
    assert then.money_fen == 160_000 * Y and then.modules == 4
    assert then.price_per_module_fen == 40_000 * Y
    # the integrators still route the swapped lines: I1 30 + 20 + 3 + 40 + 4 = 97,000 and
    # I2 60 + 3 = 63,000 of 160,000: 6,062 and 3,937 bp (rounded down);
    # HHI (6,062² + 3,937²) / 10,000 = 5,224.78 → 5,225
    assert (then.largest_party_id, then.largest_share_bp) == (I1, 6_062)
    assert then.hhi == 5_225
    assert then.providers_reached == 3  # I1, S and E deliver
    # the same orders in integrator mode keep the whole fees: 5,000 + 4,000 + 6,000
    integrated = project(ROUTED_AND_OPEN, Scenario(INTEGRATOR), SPECIALISTS, [I2, I1]).projected
    assert integrated is not None and integrated.fees_fen == 15_000 * Y


def test_hybrid_mode_caps_the_fee_after_prorating_it():
    # a 5 % fee cap: fee ≤ modules × 500 / 9,500
    #   order 1: 3,000 against 50,000 → 2,631.57: 2,631.57;
    #   order 2: 4,000 against 40,000 → 2,105.26: 2,105.26;
    #   order 3: 3,000 against 60,000 → 3,157.89: 3,000 stays
    scenario = Scenario(HYBRID, integration_fee_cap_bp=500, hybrid_fee_floor_bp=5_000)
    then = project(ROUTED_AND_OPEN, scenario, SPECIALISTS, [I2, I1]).projected
    assert then is not None
    assert then.fees_fen == 2_631_57 + 2_105_26 + 3_000_00


def test_hybrid_mode_needs_an_appointed_integrator():
    result = project(ROUTED_AND_OPEN, Scenario(HYBRID), SPECIALISTS, [])
    assert result.projected is None and result.notes == ["no_integrators"]
