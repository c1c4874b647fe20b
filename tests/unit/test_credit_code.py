import pytest

from marketplace.accounts import credit_code

PUBLISHED_EXAMPLES = ["91350100M000100Y43", "91110000600037341L", "91310000MA1FL1MMXL"]


@pytest.mark.parametrize("code", PUBLISHED_EXAMPLES)
def test_published_codes_are_valid(code):
    assert credit_code.is_valid(code)


@pytest.mark.parametrize("code", PUBLISHED_EXAMPLES)
def test_any_single_change_is_caught(code):
    for position in range(18):
        for replacement in "0A":
            if code[position] == replacement:
                continue
            changed = code[:position] + replacement + code[position + 1 :]
            assert not credit_code.is_valid(changed), changed


@pytest.mark.parametrize(
    "code",
    [
        "",
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y430",  # 19 characters
        "91350100M000100I43",  # I is not in the alphabet
        "91350100M000100O43",  # nor O
        "91350100M000100Z43",  # nor Z
        "91350100m000100y43",  # lower case is normalised before, never accepted raw
    ],
)
def test_malformed_codes(code):
    assert not credit_code.is_valid(code)


def test_check_value_31_becomes_zero():
    # find a body whose weighted sum is a multiple of 31: its check character must be "0"
    for n in range(10_000):
        body = f"91130100{n:09d}"
        total = sum(
            credit_code.VALUES[c] * w for c, w in zip(body, credit_code.WEIGHTS, strict=True)
        )
        if total % 31 == 0:
            assert credit_code.check_character(body) == "0"
            assert credit_code.is_valid(body + "0")
            return
    pytest.fail("no body with a sum divisible by 31 found")


def test_normalise():
    assert credit_code.normalise(" 91350100m000100y43 ") == "91350100M000100Y43"


def test_region_lies_within_the_registering_division():
    from marketplace.accounts import credit_code as cc

    code = cc.complete("91130100" + "123456789")
    assert cc.division(code) == "130100"
    assert cc.matches_region(code, "130102") and cc.matches_region(code, "130100")
    assert not cc.matches_region(code, "350211") and not cc.matches_region(code, "130000")
    assert cc.region_within("130102", "130000") and cc.region_within("130102", "130102")
    assert not cc.region_within("130100", "130102")
    assert not cc.matches_region(None, "130102")
