"""Track records on the catalogue's pages. They are computed from verified delivery data by the
oversight domain, which sits above this one: it tells the catalogue how (``describe_with``)
when the app starts, and the package, provider and compare pages ask through here. Without a
describer (a bare catalogue) the pages show no track record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Describer = Callable[[Sequence[int]], dict[int, Any]]
_describers: dict[str, Describer] = {}


def describe_with(packages: Describer, providers: Describer) -> None:
    """Register what computes the records of a page of packages and of providers, each in a
    fixed number of statements whatever the number of ids."""
    _describers["packages"] = packages
    _describers["providers"] = providers


def of_packages(package_ids: Sequence[int]) -> dict[int, Any]:
    describer = _describers.get("packages")
    return describer(package_ids) if describer and package_ids else {}


def of_providers(provider_ids: Sequence[int]) -> dict[int, Any]:
    describer = _describers.get("providers")
    return describer(provider_ids) if describer and provider_ids else {}
