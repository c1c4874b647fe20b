"""Track records (业绩记录) of packages and providers, from verified data only (issue 21).

What a buyer weighs before choosing, each figure with the number of cases behind it:

- outcome contracts met and missed (settled contracts only: the settlement counted confirmed
  and assessor-verified measurements and nothing else);
- the median improvement against the agreed baseline, per metric in the metric's units (OEE
  +5.2 points) and over all contracts in per cent of the baseline;
- delivery on time: lines the enterprise accepted (验收) that the provider delivered within the
  go-live days the package version promised, counted from the order;
- SLA adherence of support tickets: first response, resolution, and both clocks kept;
- evaluation verdicts by round (a provider's, from closed rounds);
- the rating from verified buyers (the reviews' sum and count the catalogue keeps);
- the enterprises served (accepted lines), by industry and size.

A figure from fewer than ``MIN_CASES`` cases is shown with that said. Records are computed
for a page of packages or providers at once, in a fixed number of grouped statements, so a
page's cost does not grow with the data. ``connect`` tells the catalogue's pages how.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from sqlalchemy import case, func, select

from marketplace.accounts.models import Industry, Organisation, SizeTier
from marketplace.catalog import track_records
from marketplace.catalog.models import Better, Metric, Package, PackageVersion
from marketplace.db import db
from marketplace.orders.models import LineStatus, Order, OrderLine, Ticket
from marketplace.outcomes.models import COUNTED, ContractStatus, Measurement, OutcomeContract
from marketplace.oversight.models import EvaluationEntry, EvaluationRound, RoundStatus

MIN_CASES = 3  # fewer cases than this: the figure is shown with "only n cases" said
HUNDRED = Decimal(100)
ONE_PLACE = Decimal("0.1")
DAYS_A_MONTH = 30.44


@dataclass(frozen=True)
class Figure:
    """A figure and how many cases stand behind it (no value without a case)."""

    value: Decimal | None
    cases: int

    @property
    def thin(self) -> bool:
        """Fewer than three cases: shown, but said to be of limited weight."""
        return 0 < self.cases < MIN_CASES

    @property
    def number(self) -> float | None:
        return None if self.value is None else float(self.value)


@dataclass(frozen=True)
class MetricResult:
    """The median change of one metric against its baseline, in the metric's units, signed the
    way the metric improves (a defect rate down 2 points is +2)."""

    metric: Metric
    change: Figure


@dataclass(frozen=True)
class Served:
    industry: Industry | None
    size_tier: SizeTier | None
    enterprises: int


@dataclass(frozen=True)
class Verdict:
    round_name: str
    agency: str
    period_end: date
    passed: bool | None  # None: no data to judge by
    score: float | None


@dataclass
class TrackRecord:
    contracts_met: int = 0
    contracts_missed: int = 0
    metrics: list[MetricResult] = field(default_factory=list)
    improvement_pct: Figure = Figure(None, 0)
    on_time: Figure = Figure(None, 0)
    sla_response: Figure = Figure(None, 0)
    sla_resolution: Figure = Figure(None, 0)
    sla_met: Figure = Figure(None, 0)
    rating: Figure = Figure(None, 0)
    served: list[Served] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)  # the provider's, oldest first

    @property
    def contracts(self) -> Figure:
        """Met and missed together: the share met, in per cent."""
        n = self.contracts_met + self.contracts_missed
        return Figure(_pct(self.contracts_met, n), n)

    @property
    def enterprises(self) -> int:
        return sum(s.enterprises for s in self.served)

    @property
    def passed(self) -> int:
        return sum(1 for v in self.verdicts if v.passed is True)

    @property
    def failed(self) -> int:
        return sum(1 for v in self.verdicts if v.passed is False)

    @property
    def empty(self) -> bool:
        return not (
            self.contracts.cases
            or self.on_time.cases
            or self.sla_response.cases
            or self.sla_resolution.cases
            or self.rating.cases
            or self.served
            or self.verdicts
        )


def _pct(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * HUNDRED / whole).quantize(ONE_PLACE)


def _median(values: list[Decimal]) -> Figure:
    if not values:
        return Figure(None, 0)
    return Figure(Decimal(median(values)).quantize(ONE_PLACE), len(values))


def for_packages(package_ids: Sequence[int]) -> dict[int, TrackRecord]:
    """Each package's record, with its provider's evaluation verdicts by round."""
    return _records(OrderLine.package_id, Package.id, list(package_ids), of_packages=True)


def for_providers(provider_ids: Sequence[int]) -> dict[int, TrackRecord]:
    """Each provider's record over all its packages, with its evaluation verdicts by round."""
    return _records(
        OrderLine.provider_id, Package.provider_id, list(provider_ids), of_packages=False
    )


def connect() -> None:
    """Show the records on the catalogue's package, provider and compare pages, and give the
    recommendations their evidence."""
    track_records.describe_with(for_packages, for_providers, evidence_for)


def _months(days: int) -> int:
    return max(1, round(days / DAYS_A_MONTH))


def evidence_for(
    package_ids: Sequence[int], industry_code: str | None, size_tier: str | None
) -> dict[int, track_records.Evidence]:
    """What verified data says of each package for an enterprise of this industry and size:
    its settled contracts, the met ones of its peers with their median result and time to
    result, and its provider's evaluation verdicts. Two statements whatever the number of
    packages and contracts."""
    ids = list(package_ids)
    found: dict[int, track_records.Evidence] = {}
    if not ids:
        return found
    last_counted = (
        select(func.max(Measurement.period_end))
        .where(Measurement.contract_id == OutcomeContract.id, Measurement.status.in_(COUNTED))
        .correlate(OutcomeContract)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(
            OrderLine.package_id,
            OutcomeContract.status,
            Metric,
            OutcomeContract.better,
            OutcomeContract.baseline_value,
            OutcomeContract.achieved_value,
            OutcomeContract.window_start,
            last_counted,
            Organisation.industry_code,
            Organisation.size_tier,
        )
        .join(OrderLine, OrderLine.id == OutcomeContract.order_line_id)
        .join(Metric, Metric.code == OutcomeContract.metric_code)
        .join(Organisation, Organisation.id == OutcomeContract.enterprise_id)
        .where(
            OrderLine.package_id.in_(ids),
            OutcomeContract.status.in_((ContractStatus.MET, ContractStatus.MISSED)),
        )
        .order_by(Metric.position, Metric.code, OutcomeContract.id)
    )
    relative: dict[int, list[Decimal]] = defaultdict(list)
    # per package: the industry's met contracts (metric, change, days, same size) and misses
    peers: dict[int, list[tuple[Metric, Decimal | None, int | None, bool]]] = defaultdict(list)
    peer_misses: dict[int, list[bool]] = defaultdict(list)
    for package_id, status, metric, better, baseline, achieved, start, last, industry, tier in rows:
        if package_id is None:
            continue  # never: the statement asks for lines of these packages
        ev = found.setdefault(package_id, track_records.Evidence())
        met = status is ContractStatus.MET
        if met:
            ev.met += 1
        else:
            ev.missed += 1
        change = None
        if baseline is not None and achieved is not None:
            change = Decimal(achieved) - Decimal(baseline)
            if better is Better.LOWER:
                change = -change
            if baseline:
                relative[package_id].append(change / abs(Decimal(baseline)) * HUNDRED)
        if industry_code is None or industry != industry_code:
            continue
        same_size = size_tier is not None and tier is not None and str(tier) == size_tier
        if met:
            days = (last - start).days if last is not None and start is not None else None
            peers[package_id].append((metric, change, days, same_size))
        else:
            peer_misses[package_id].append(same_size)
    for package_id, values in relative.items():
        found[package_id].improvement_pct = _median(values).value
    for package_id, ev in found.items():
        met_rows = peers.get(package_id, [])
        misses = peer_misses.get(package_id, [])
        if not met_rows and not misses:
            continue
        by_size = [r for r in met_rows if r[3]]
        if len(by_size) >= track_records.PEERS_MIN:
            ev.base, cited = "size", by_size
            ev.peers_missed = sum(1 for same in misses if same)
        else:
            ev.base, cited = "industry", met_rows
            ev.peers_missed = len(misses)
        ev.peers_met = len(cited)
        by_metric: dict[str, tuple[Metric, list[Decimal], list[int]]] = {}
        for metric, change, days, _same in cited:
            if change is None:
                continue
            entry = by_metric.setdefault(metric.code, (metric, [], []))
            entry[1].append(change)
            if days is not None:
                entry[2].append(days)
        ev.results = sorted(
            (
                track_records.PeerResult(
                    metric,
                    Decimal(median(changes)).quantize(ONE_PLACE),
                    _months(int(median(days))) if days else None,
                    len(changes),
                )
                for metric, changes, days in by_metric.values()
            ),
            key=lambda r: -r.cases,
        )
    verdicts = db.session.execute(
        select(
            Package.id,
            _count(EvaluationEntry.passed.is_(True)),
            _count(EvaluationEntry.passed.is_(False)),
        )
        .select_from(EvaluationEntry)
        .join(EvaluationRound, EvaluationRound.id == EvaluationEntry.round_id)
        .join(Package, Package.provider_id == EvaluationEntry.provider_id)
        .where(Package.id.in_(ids), EvaluationRound.status == RoundStatus.CLOSED)
        .group_by(Package.id)
    )
    for package_id, passed, failed in verdicts:
        if passed or failed:
            ev = found.setdefault(package_id, track_records.Evidence())
            ev.passed, ev.failed = int(passed), int(failed)
    return found


def _records(
    line_key: Any, package_key: Any, ids: list[int], of_packages: bool
) -> dict[int, TrackRecord]:
    """Six grouped statements whatever the number of ids and of cases."""
    records = {i: TrackRecord() for i in ids}
    if not ids:
        return records
    _contracts(records, line_key, ids)
    _delivery(records, line_key, ids)
    _tickets(records, line_key, ids)
    _ratings(records, package_key, ids)
    _served(records, line_key, ids)
    _verdicts(records, ids, of_packages)
    return records


def _contracts(records: dict[int, TrackRecord], key: Any, ids: list[int]) -> None:
    rows = db.session.execute(
        select(
            key,
            OutcomeContract.status,
            Metric,
            OutcomeContract.better,
            OutcomeContract.baseline_value,
            OutcomeContract.achieved_value,
        )
        .join(OrderLine, OrderLine.id == OutcomeContract.order_line_id)
        .join(Metric, Metric.code == OutcomeContract.metric_code)
        .where(
            key.in_(ids),
            OutcomeContract.status.in_((ContractStatus.MET, ContractStatus.MISSED)),
        )
        .order_by(Metric.position, Metric.code)
    )
    changes: dict[int, dict[str, tuple[Metric, list[Decimal]]]] = defaultdict(dict)
    relative: dict[int, list[Decimal]] = defaultdict(list)
    for owner, status, metric, better, baseline, achieved in rows:
        record = records[owner]
        if status is ContractStatus.MET:
            record.contracts_met += 1
        else:
            record.contracts_missed += 1
        if baseline is None or achieved is None:
            continue  # settled without a counted measurement: a miss with no figure
        change = Decimal(achieved) - Decimal(baseline)
        if better is Better.LOWER:
            change = -change
        changes[owner].setdefault(metric.code, (metric, []))[1].append(change)
        if baseline:
            relative[owner].append(change / abs(Decimal(baseline)) * HUNDRED)
    for owner, by_metric in changes.items():
        records[owner].metrics = [
            MetricResult(metric, _median(values)) for metric, values in by_metric.values()
        ]
    for owner, values in relative.items():
        records[owner].improvement_pct = _median(values)


def _delivery(records: dict[int, TrackRecord], key: Any, ids: list[int]) -> None:
    """Accepted lines: on time when the provider delivered within the version's go-live days
    of the order (the promise the buyer read); the enterprise's time to accept is its own."""
    delivered = func.coalesce(OrderLine.delivered_at, OrderLine.accepted_at)
    rows = db.session.execute(
        select(key, Order.created_at, delivered, PackageVersion.go_live_days)
        .join(Order, Order.id == OrderLine.order_id)
        .join(PackageVersion, PackageVersion.id == OrderLine.version_id)
        .where(
            key.in_(ids),
            OrderLine.status == LineStatus.COMPLETED,
            OrderLine.accepted_at.is_not(None),
        )
    )
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for owner, ordered_at, delivered_at, days in rows:
        counts[owner][1] += 1
        if delivered_at <= ordered_at + timedelta(days=days):
            counts[owner][0] += 1
    for owner, (on_time, n) in counts.items():
        records[owner].on_time = Figure(_pct(on_time, n), n)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _tickets(records: dict[int, TrackRecord], key: Any, ids: list[int]) -> None:
    """A clock is judged once kept or missed: answered (or past its deadline unanswered) for
    the first response, resolved (or past its deadline) for the resolution."""
    answered = Ticket.responded_at.is_not(None) | Ticket.breached.is_(True)
    resolved = Ticket.resolved_at.is_not(None) | Ticket.resolution_breached.is_(True)
    both_known = (answered & resolved) | Ticket.breached.is_(True)
    either_missed = Ticket.breached.is_(True) | Ticket.resolution_breached.is_(True)
    rows = db.session.execute(
        select(
            key,
            _count(answered),
            _count(answered & Ticket.breached.is_(False)),
            _count(resolved),
            _count(resolved & Ticket.resolution_breached.is_(False)),
            _count(both_known | Ticket.resolution_breached.is_(True)),
            _count(both_known & ~either_missed),
        )
        .join(OrderLine, OrderLine.id == Ticket.line_id)
        .where(key.in_(ids))
        .group_by(key)
    )
    for owner, n_answered, n_fast, n_resolved, n_in_time, n_judged, n_kept in rows:
        record = records[owner]
        record.sla_response = Figure(_pct(n_fast, n_answered), n_answered)
        record.sla_resolution = Figure(_pct(n_in_time, n_resolved), n_resolved)
        record.sla_met = Figure(_pct(n_kept, n_judged), n_judged)


def _ratings(records: dict[int, TrackRecord], key: Any, ids: list[int]) -> None:
    rows = db.session.execute(
        select(key, func.sum(Package.rating_sum), func.sum(Package.rating_count))
        .where(key.in_(ids))
        .group_by(key)
    )
    for owner, total, n in rows:
        if n:
            value = (Decimal(total) / n).quantize(ONE_PLACE)
            records[owner].rating = Figure(value, int(n))


def _served(records: dict[int, TrackRecord], key: Any, ids: list[int]) -> None:
    """Enterprises with an accepted line, by industry and size (each counted once per owner:
    an enterprise has one industry and one size)."""
    tier = Organisation.size_tier
    rows = db.session.execute(
        select(key, Industry, tier, func.count(func.distinct(Organisation.id)))
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Organisation, Organisation.id == Order.enterprise_id)
        .outerjoin(Industry, Industry.code == Organisation.industry_code)
        .where(key.in_(ids), OrderLine.status == LineStatus.COMPLETED)
        .group_by(key, Industry.code, tier)
        .order_by(key, func.count(func.distinct(Organisation.id)).desc(), Industry.code)
    )
    for owner, industry, size, n in rows:
        records[owner].served.append(Served(industry, SizeTier(size) if size else None, n))


def _verdicts(records: dict[int, TrackRecord], ids: list[int], of_packages: bool) -> None:
    """Closed rounds' verdicts on the providers (of these packages, for a package page)."""
    owner = Package.id if of_packages else EvaluationEntry.provider_id
    stmt = (
        select(
            owner,
            EvaluationEntry.passed,
            EvaluationEntry.score_tenths,
            EvaluationRound.name,
            EvaluationRound.period_end,
            Organisation.name,
        )
        .select_from(EvaluationEntry)
        .join(EvaluationRound, EvaluationRound.id == EvaluationEntry.round_id)
        .join(Organisation, Organisation.id == EvaluationRound.agency_id)
        .where(owner.in_(ids), EvaluationRound.status == RoundStatus.CLOSED)
        .order_by(EvaluationRound.period_end, EvaluationRound.id)
    )
    if of_packages:
        stmt = stmt.join(Package, Package.provider_id == EvaluationEntry.provider_id)
    for key, passed, tenths, name, period_end, agency in db.session.execute(stmt):
        score = None if tenths is None else tenths / 10
        records[key].verdicts.append(Verdict(name, agency, period_end, passed, score))
