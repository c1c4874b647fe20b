"""What the domains above the catalogue add to its package page for the signed-in visitor.

The catalogue sits below orders and vouchers and cannot ask them; the app factory connects
their answers here (``orders.views.connect``), and the package view calls ``for_package``
and passes the values to its template, so no template runs a query. Each connected function
takes the package and its published version and returns template values (an empty dict for
a visitor it has nothing for). Nothing connected (a test of the catalogue alone): nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marketplace.catalog.models import Package, PackageVersion

PackageExtras = Callable[[Package, PackageVersion], dict[str, Any]]

_connected: list[PackageExtras] = []


def connect(extras: PackageExtras) -> None:
    if extras not in _connected:
        _connected.append(extras)


def for_package(package: Package, version: PackageVersion | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if version is not None:
        for extras in _connected:
            values.update(extras(package, version))
    return values
