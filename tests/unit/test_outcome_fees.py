"""Success fees at the edges and as properties."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.catalog.models import Better, FeeRule, TargetKind
from marketplace.outcomes.fees import Terms, settle

D = Decimal
FIXED = Terms(Better.HIGHER, TargetKind.ABSOLUTE, D("5"), FeeRule.FIXED, success_fee_fen=30_000_00)
PER_UNIT = Terms(
    Better.HIGHER,
    TargetKind.ABSOLUTE,
    D("5"),
    FeeRule.PER_UNIT,
    fee_per_unit_fen=4_000_00,
    fee_cap_fen=35_000_00,
    base_fee_fen=5_000_00,
)


@pytest.mark.parametrize(
    ("achieved", "met", "fee"),
    [("65", True, 30_000_00), ("64.99", False, 0), ("70", True, 30_000_00), ("50", False, 0)],
    ids=["exactly-on-target", "just-below", "above", "worse"],
)
def test_fixed_fee(achieved, met, fee):
    outcome = settle(FIXED, D("60"), D(achieved))
    assert (outcome.met, outcome.fee_fen) == (met, fee)


@pytest.mark.parametrize(
    ("achieved", "fee"),
    [("65", 20_000_00), ("64.99", 0), ("66.5", 26_000_00), ("67.5", 30_000_00), ("90", 30_000_00)],
    ids=["on-target", "just-below", "between", "cap-reached-exactly", "far-above-cap"],
)
def test_per_unit_fee_with_cap_less_base(achieved, fee):
    # ¥4,000 per OEE point; the ¥35,000 cap covers the ¥5,000 base fee too
    assert settle(PER_UNIT, D("60"), D(achieved)).fee_fen == fee


def test_lower_is_better_and_relative_targets():
    terms = Terms(Better.LOWER, TargetKind.RELATIVE, D("20"), FeeRule.FIXED, success_fee_fen=1)
    assert settle(terms, D("5.0"), D("4.0")).met  # defect rate down 20 %
    assert not settle(terms, D("5.0"), D("4.01")).met
    assert not settle(terms, D("0"), D("0")).met  # nothing to be relative to


def test_fractions_of_a_fen_round_down():
    terms = Terms(
        Better.HIGHER,
        TargetKind.ABSOLUTE,
        D("1"),
        FeeRule.PER_UNIT,
        fee_per_unit_fen=3,
        fee_cap_fen=10**9,
    )
    assert settle(terms, D("0"), D("1.333")).fee_fen == 3  # 3.999 fen → 3


terms_strategy = st.builds(
    Terms,
    better=st.sampled_from(list(Better)),
    target_kind=st.sampled_from(list(TargetKind)),
    target_value=st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2),
    fee_rule=st.sampled_from(list(FeeRule)),
    success_fee_fen=st.integers(0, 10**10),
    fee_per_unit_fen=st.integers(0, 10**8),
    fee_cap_fen=st.integers(0, 10**10),
    base_fee_fen=st.integers(0, 10**9),
)
values = st.decimals(min_value=D("-1000000"), max_value=D("1000000"), places=4)


@given(terms_strategy, values, values)
def test_a_fee_is_never_negative_never_above_the_cap_and_zero_when_missed(terms, base, achieved):
    outcome = settle(terms, base, achieved)
    assert outcome.fee_fen >= 0
    if not outcome.met:
        assert outcome.fee_fen == 0
    if terms.fee_rule is FeeRule.PER_UNIT:
        assert outcome.fee_fen <= max(terms.fee_cap_fen - terms.base_fee_fen, 0)
    else:
        assert outcome.fee_fen in (0, terms.success_fee_fen)


def test_a_hair_below_the_target_is_not_rounded_up_into_a_fee():
    assert not settle(FIXED, D("60"), D("64.99995")).met
    lower = Terms(Better.LOWER, TargetKind.ABSOLUTE, D("5"), FeeRule.FIXED, success_fee_fen=1)
    assert not settle(lower, D("60"), D("55.00005")).met
