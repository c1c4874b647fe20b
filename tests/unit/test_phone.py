"""The one phone check (marketplace/forms.py): mainland mobiles and landlines with an area code."""

import pytest

from marketplace.forms import normalise_phone


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("13912345678", "13912345678"),
        ("199 1234 5678", "19912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("0311-85551234", "0311-85551234"),
        ("010-6555123", "010-6555123"),  # three-digit area code, seven digits
        ("0592-5551234-808", "0592-5551234-808"),  # an extension
        ("0311-85551234转12", "0311-85551234转12"),
        ("031185551234", "031185551234"),
    ],
)
def test_mobiles_and_landlines_are_kept_tidied(typed, kept):
    assert normalise_phone(typed) == kept


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "1",
        "138",
        "12912345678",  # no mobile starts 12
        "1391234567",  # ten digits
        "139123456789",  # twelve
        "0311-1",
        "0311-123456",  # six digits after the area code
        "311-85551234",  # the area code starts with 0
        "03111-85551234",  # five-digit area code
        "0311-85551234-",  # an empty extension
        "tel:13912345678",
        "１３９１２３４５６７８",  # full-width digits
        "1３912345678",
    ],
)
def test_anything_else_is_refused(typed):
    assert normalise_phone(typed) is None
