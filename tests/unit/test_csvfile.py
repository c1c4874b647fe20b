"""CSV cells a spreadsheet will not run as formulas (OWASP's CSV injection rule)."""

from datetime import date
from decimal import Decimal

import pytest

from marketplace import csvfile


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("-12.00", "'-12.00"),  # text stays text, even when it looks like a number
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "'=1"),  # already safe: not quoted twice
        ("中小企业 = 转型", "中小企业 = 转型"),
        ("", ""),
        (None, ""),
        (date(2026, 12, 6), "2026-12-06"),
    ],
)
def test_text_that_would_start_a_formula_is_quoted(value, cell):
    assert csvfile.cell(value) == cell


@pytest.mark.parametrize("number", [0, 5, -5, 3.5, -0.25, Decimal("-12.00"), True])
def test_numbers_stay_numbers(number):
    assert csvfile.cell(number) is number


def test_amounts_in_yuan_are_numbers_with_two_decimals():
    assert [str(csvfile.yuan(f)) for f in (0, 5, 1_200, 123_456, -500)] == [
        "0.00",
        "0.05",
        "12.00",
        "1234.56",
        "-5.00",
    ]


def test_write_quotes_text_cells_and_leaves_numbers():
    text = csvfile.write([["name", "amount_yuan"], ["=1+1", csvfile.yuan(-500)], ["-x", -3]])
    assert text == "name,amount_yuan\r\n'=1+1,-5.00\r\n'-x,-3\r\n"
