"""How many cases of the case library a package is in, for the package page's link.

The case library lives in the outcomes domain, above the catalogue; the app factory connects
its counter here (as orders are followed by outcome contracts), so the package page shows
"N cases" without the catalogue importing a higher floor."""

from __future__ import annotations

from collections.abc import Callable

CaseCounter = Callable[[int], int]
_counters: list[CaseCounter] = []


def count_cases_with(counter: CaseCounter) -> None:
    _counters[:] = [counter]


def cases_with(package_id: int) -> int:
    """The published cases that bought this package (0 while nothing is connected)."""
    return _counters[0](package_id) if _counters else 0
