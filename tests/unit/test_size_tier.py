import pytest

from marketplace.accounts.models import SizeTier, classify_size

WAN = 10_000 * 100  # fen in ¥10,000


@pytest.mark.parametrize(
    ("employees", "revenue_wan", "tier"),
    [
        (5, 100, SizeTier.MICRO),
        (19, 5000, SizeTier.MICRO),  # fewer than 20 employees
        (100, 299, SizeTier.MICRO),  # under ¥3M revenue
        (20, 300, SizeTier.SMALL),  # both lower bounds of small
        (299, 50_000, SizeTier.SMALL),
        (300, 1999, SizeTier.SMALL),  # revenue under ¥20M keeps it small
        (300, 2000, SizeTier.MEDIUM),
        (999, 39_999, SizeTier.MEDIUM),
        (2000, 39_999, SizeTier.MEDIUM),  # large needs both thresholds
        (1000, 40_000, SizeTier.LARGE),
    ],
)
def test_classify_size(employees, revenue_wan, tier):
    assert classify_size(employees, revenue_wan * WAN) is tier
