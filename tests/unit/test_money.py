import pytest

from marketplace.money import MoneyError, apply_basis_points, format_fen, parse_yuan


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


def test_basis_points_round_half_up():
    assert apply_basis_points(10_001, 5_000) == 5_001  # 5000.5 → 5001
    assert apply_basis_points(9_999, 5_000) == 5_000  # 4999.5 → 5000
    assert apply_basis_points(100, 3_333) == 33
    assert apply_basis_points(0, 10_000) == 0


def test_parse_yuan_refuses_hostile_input_without_computing_it():
    # exponents and huge inputs are refused by the pattern before Decimal sees them
    for text in ["1e999990", "9" * 100_000, "1" + "0" * 5000 + ".5"]:
        with pytest.raises(MoneyError):
            parse_yuan(text)
