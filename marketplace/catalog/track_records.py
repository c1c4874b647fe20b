"""Track records on the catalogue's pages. They are computed from verified delivery data by the
oversight domain, which sits above this one: it tells the catalogue how (``describe_with``)
when the app starts, and the package, provider and compare pages ask through here. Without a
describer (a bare catalogue) the pages show no track record.

Recommendations (diagnosis, also below oversight) ask the same way for the evidence that
ranks and explains a candidate package: ``evidence_for`` with the enterprise's industry and
size, answered in ``Evidence`` (defined here so both floors share its shape)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marketplace.catalog.models import Metric

Describer = Callable[[Sequence[int]], dict[int, Any]]
_describers: dict[str, Describer] = {}

PEERS_MIN = 3  # met contracts of the enterprise's size before the size narrows the base


@dataclass(frozen=True)
class PeerResult:
    """One metric's result over the base's met contracts: the median change against the
    baseline (in the metric's units, signed the way it improves) and the median months from
    go-live to the last counted measurement."""

    metric: Metric
    change: Decimal
    months: int | None
    cases: int


@dataclass
class Evidence:
    """What verified data says of a package for one enterprise.

    ``met``/``missed``/``improvement_pct``: all the package's settled outcome contracts (the
    median improvement in per cent of the baseline). ``base`` is whose met contracts are
    cited: ``"size"`` (the enterprise's industry and size, when at least ``PEERS_MIN``),
    ``"industry"`` (its industry, all sizes), or ``None`` (none in its industry).
    ``passed``/``failed``: the provider's verdicts in closed evaluation rounds."""

    met: int = 0
    missed: int = 0
    improvement_pct: Decimal | None = None
    base: str | None = None
    peers_met: int = 0
    peers_missed: int = 0
    results: list[PeerResult] = field(default_factory=list)  # most cases first
    passed: int = 0
    failed: int = 0

    @property
    def thin(self) -> bool:
        """Fewer than three met contracts behind the cited figure."""
        return 0 < self.peers_met < PEERS_MIN


EvidenceFinder = Callable[[Sequence[int], str | None, str | None], dict[int, Evidence]]
_evidence: dict[str, EvidenceFinder] = {}


def describe_with(
    packages: Describer, providers: Describer, evidence: EvidenceFinder | None = None
) -> None:
    """Register what computes the records of a page of packages and of providers, each in a
    fixed number of statements whatever the number of ids (and, for recommendations, the
    evidence of packages for an enterprise's industry and size)."""
    _describers["packages"] = packages
    _describers["providers"] = providers
    if evidence is not None:
        _evidence["packages"] = evidence


def of_packages(package_ids: Sequence[int]) -> dict[int, Any]:
    describer = _describers.get("packages")
    return describer(package_ids) if describer and package_ids else {}


def of_providers(provider_ids: Sequence[int]) -> dict[int, Any]:
    describer = _describers.get("providers")
    return describer(provider_ids) if describer and provider_ids else {}


def evidence_for(
    package_ids: Sequence[int], industry_code: str | None, size_tier: str | None
) -> dict[int, Evidence]:
    """Each package's evidence for an enterprise of this industry and size tier (a package
    without any is absent)."""
    finder = _evidence.get("packages")
    return finder(package_ids, industry_code, size_tier) if finder and package_ids else {}
