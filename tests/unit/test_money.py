import pytest

from marketplace.money import MoneyError, format_fen, parse_yuan, part_of, ratio_bp, share_of


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "¥0.00"),
        (5, "¥0.05"),
        (123456, "¥1,234.56"),
        (100_000_000_00, "¥100,000,000.00"),
        (-150, "-¥1.50"),
    ],
)
def test_format_fen(fen, text):
    assert format_fen(fen) == text


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1234.56", 123456),
        ("1,234.5", 123450),
        ("¥ 12", 1200),
        ("0.01", 1),
        (" 300000 ", 30_000_000),
    ],
)
def test_parse_yuan(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1.234",
        "NaN",
        "Infinity",
        "1e",
        "1e30",
        "1e999990",
        "12345678901234",
        "1.2.3",
        "--1",
        "0x10",
    ],
)
def test_parse_yuan_rejects(text):
    with pytest.raises(MoneyError):
        parse_yuan(text)


def test_shares_round_down_to_the_fen():
    assert share_of(10_001, 5_000) == 5_000  # 5000.5 → 5000: public money never rounds up
    assert share_of(9_999, 5_000) == 4_999
    assert share_of(100, 3_333) == 33
    assert share_of(0, 10_000) == 0
    assert share_of(12_345, 10_000) == 12_345


def test_monthly_parts_add_up_to_the_whole():
    total, term = 10_000, 3
    cumulative = [part_of(total, month, term) for month in range(1, term + 1)]
    monthly = [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)]
    assert monthly == [3_333, 3_333, 3_334] and sum(monthly) == total


def test_ratio_in_basis_points():
    assert ratio_bp(1, 3) == 3_333
    assert ratio_bp(5, 0) == 0
    assert ratio_bp(7, 7) == 10_000


def test_parse_yuan_refuses_hostile_input_without_computing_it():
    # exponents and huge inputs are refused by the pattern before Decimal sees them
    for text in ["1e999990", "9" * 100_000, "1" + "0" * 5000 + ".5"]:
        with pytest.raises(MoneyError):
            parse_yuan(text)
