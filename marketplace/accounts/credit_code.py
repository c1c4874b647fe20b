"""Unified social credit code (统一社会信用代码, GB 32100-2015)."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
VALUES = {ch: i for i, ch in enumerate(ALPHABET)}


def normalise(code: str) -> str:
    return code.strip().upper().replace(" ", "")


def check_character(first17: str) -> str:
    """The 18th character for the first 17: c = 31 − (Σ value × weight mod 31); 31 → 0."""
    total = sum(VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    c = 31 - total % 31
    return ALPHABET[0 if c == 31 else c]


def is_valid(code: str) -> bool:
    if len(code) != 18 or any(ch not in VALUES for ch in code):
        return False
    return check_character(code[:17]) == code[17]


def complete(first17: str) -> str:
    """Append the check character (for demo data and tests)."""
    return first17 + check_character(first17)


def division(code: str | None) -> str | None:
    """The administrative division of the registering authority: characters 3–8."""
    code = code or ""
    return code[2:8] if len(code) == 18 and code[2:8].isdigit() else None


def region_prefix(region: str) -> str:
    """110000 → 11, 130100 → 1301, 130102 → 130102: what a code takes in lies under it."""
    code = region.rstrip("0")
    return code + "0" * (len(code) % 2)


def region_within(region: str, area: str) -> bool:
    """Whether the division ``region`` lies within ``area`` (equal, or in its city/province)."""
    return region.startswith(region_prefix(area))


def matches_region(code: str | None, region: str) -> bool:
    """Whether ``region`` lies within the division that registered ``code``."""
    registered = division(code)
    return registered is not None and region_within(region, registered)
