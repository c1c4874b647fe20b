"""A diagnosis' recommended set as a bundle would hold it: chosen so that its packages work
together, with its totals before and after the enterprise's vouchers.

Diagnosis ranks the packages; this domain's interoperability check says whether they
exchange their data, and vouchers say what they would pay. Diagnosis and vouchers sit below
orders, so the set is put together here, from their services, and nothing is recomputed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlalchemy import exists

from marketplace.accounts.models import Organisation
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Flow, PackageVersion, PricePlan, VersionInterface
from marketplace.db import db
from marketplace.diagnosis import services as diagnoses
from marketplace.diagnosis.models import Diagnosis
from marketplace.diagnosis.services import Recommendation, Suggestion
from marketplace.orders import bundles
from marketplace.vouchers import spending

CANDIDATES_PER_PLACE = 3  # the first pick of a place and the next ones tried in its stead
MAX_ADDED = 2  # packages added only so that the others work together
HELPERS = 60  # catalogue versions read as possible suppliers or bridges, cheapest first
FILLED_SETS = 4  # the best-ranked sets that are tried with added packages
FIXERS_PER_STEP = 8  # of those, the best ranked that would close a gap, tried at each step


@dataclass
class Pick:
    suggestion: Suggestion
    plan: PricePlan  # the plan taking the set adds it with
    instead_of: Suggestion | None = None  # the better-ranked first pick it stands in for
    added: bool = False  # not for a pain point or a dimension: so the others work together
    feeds: list[bundles.Link] = field(default_factory=list)  # what an added package supplies

    @property
    def version(self) -> PackageVersion:
        return self.suggestion.version


@dataclass
class RecommendedSet:
    recommendation: Recommendation
    picks: list[Pick]
    interop: bundles.Interoperability
    totals: bundles.Totals
    subsidies: dict[int, spending.LineSubsidy]  # by the pick's position, where vouchers pay
    subsidy_fen: int  # what the enterprise's vouchers would pay of the set

    @property
    def copay_fen(self) -> int:
        return self.totals.committed_fen - self.subsidy_fen

    @property
    def package_ids(self) -> list[int]:
        return [p.version.package_id for p in self.picks]

    @property
    def swapped(self) -> bool:
        return any(p.instead_of is not None for p in self.picks)

    @property
    def weakest_covered(self) -> bool:
        return any(p.suggestion.weakest for p in self.picks)

    @property
    def alternatives(self) -> list[Suggestion]:
        """The recommendation's other candidates, those left out of the set included."""
        inside = {p.version.id for p in self.picks}
        rec = self.recommendation
        left_out = [s for s in rec.starter if s.version.id not in inside]
        return left_out + [s for s in rec.alternatives if s.version.id not in inside]


def _problems(result: bundles.Interoperability) -> int:
    return len(result.missing) + len(result.unmatched) + len(result.duplicate_categories)


def _helpers(
    enterprise: Organisation, diagnosis: Diagnosis, wanted: set[str], locale: str
) -> list[Suggestion]:
    """Fitting packages of the catalogue, cheapest first, that produce data the candidates
    miss: those that may supply a missing input or bridge two protocols (one query and its
    loads, whatever the size of the catalogue)."""
    if not wanted:
        return []
    produces = exists().where(
        VersionInterface.version_id == PackageVersion.id,
        VersionInterface.flow == Flow.PRODUCES,
        VersionInterface.data_object_code.in_(wanted),
    )
    stmt = (
        catalog.visible_versions()
        .where(produces)
        .order_by(PackageVersion.entry_price_fen, PackageVersion.id)
        .limit(HELPERS)
        .options(*diagnoses.ASSESSED)
    )
    found = diagnoses.assess(enterprise, diagnosis, db.session.scalars(stmt), locale)
    return sorted((s for s in found if s.score > 0), key=lambda s: s.rank)


Speaks = set[tuple[Flow, str, str]]


def _closes_a_gap(speaks: Speaks, result: bundles.Interoperability) -> bool:
    for gap in result.unmatched:
        if any((Flow.PRODUCES, gap.data_object, p) in speaks for p in gap.protocols):
            return True
    for link in result.missing:
        reads = any((Flow.CONSUMES, link.data_object, p) in speaks for p in link.produced_as)
        sends = any((Flow.PRODUCES, link.data_object, p) in speaks for p in link.read_as)
        if reads and sends:
            return True
    return False


def _fill(
    chosen: list[Suggestion], helpers: list[tuple[Suggestion, Speaks]]
) -> tuple[list[Suggestion], bundles.Interoperability]:
    """Add, one at a time and at most ``MAX_ADDED``, the best-ranked helper that leaves the
    fewest gaps, while each addition closes one."""
    added: list[Suggestion] = []
    result = bundles.check([s.version for s in chosen])
    while _problems(result) and len(added) < MAX_ADDED:
        inside = {s.version.package_id for s in chosen + added}
        kinds = {s.version.category_code for s in chosen + added}
        fixers = [
            h
            for h, speaks in helpers
            if h.version.package_id not in inside
            and h.version.category_code not in kinds
            and _closes_a_gap(speaks, result)
        ][:FIXERS_PER_STEP]
        best: tuple[int, Suggestion, bundles.Interoperability] | None = None
        for helper in fixers:
            trial = bundles.check([s.version for s in chosen + added] + [helper.version])
            if _problems(trial) < _problems(result) and (
                best is None or _problems(trial) < best[0]
            ):
                best = (_problems(trial), helper, trial)
        if best is None:
            break
        added.append(best[1])
        result = best[2]
    return added, result


def _choose(
    enterprise: Organisation, diagnosis: Diagnosis, rec: Recommendation, locale: str
) -> tuple[list[Suggestion], list[Suggestion], list[Suggestion]]:
    """The places' picks, the first picks they stand in for, and the packages added.

    The first picks are kept when they work together. Otherwise the next candidates of each
    place are tried, best-ranked combinations first; failing that, packages that supply the
    missing data or bridge two protocols are added to the best-ranked sets, the fewest that
    make one whole. When none can be made whole, the set with the fewest gaps is shown with
    them (the first picks, when they tie)."""
    places = []
    for first in rec.starter:
        others = [s for s in rec.ranked.get(first.version.category_code, []) if s is not first]
        places.append([first, *others][:CANDIDATES_PER_PLACE])
    combinations = sorted(
        itertools.product(*(range(len(place)) for place in places)),
        key=lambda combination: (sum(combination), combination),
    )
    picked = [[places[n][i] for n, i in enumerate(c)] for c in combinations]
    wanted: set[str] = set()
    for chosen in picked:
        result = bundles.check([s.version for s in chosen])
        if result.ok:
            return chosen, list(rec.starter), []
        wanted |= {gap.data_object for gap in result.unmatched}
        wanted |= {link.data_object for link in result.missing}
    helpers = [
        (h, {(i.flow, i.data_object_code, i.protocol_code) for i in h.version.interfaces})
        for h in _helpers(enterprise, diagnosis, wanted, locale)
    ]
    best: tuple[list[Suggestion], list[Suggestion]] | None = None
    for chosen in picked[:FILLED_SETS]:
        added, result = _fill(chosen, helpers)
        if result.ok and (best is None or len(added) < len(best[1])):
            best = (chosen, added)
        if best is not None and len(best[1]) == 1:  # no set works without an addition
            break
    if best is not None:
        return best[0], list(rec.starter), best[1]
    # Nothing closes every gap: the set with the fewest, its gaps shown with what would close
    # them, and no package added that would not make it whole.
    fewest = min(picked, key=lambda chosen: _problems(bundles.check([s.version for s in chosen])))
    return fewest, list(rec.starter), []


def recommended_set(
    enterprise: Organisation, diagnosis: Diagnosis, locale: str = "zh"
) -> RecommendedSet:
    """The diagnosis' recommendation, its set made to work together, and what that set
    costs before and after the enterprise's vouchers (as its bundle would show them)."""
    rec = diagnoses.recommend(enterprise, diagnosis, locale)
    chosen, firsts, added = (
        _choose(enterprise, diagnosis, rec, locale) if rec.starter else ([], [], [])
    )
    picks = [
        Pick(s, bundles.default_plan(s.version), instead_of=first if s is not first else None)
        for s, first in zip(chosen, firsts, strict=True)
    ]
    picks += [Pick(s, bundles.default_plan(s.version), added=True) for s in added]
    lines = bundles.proposed([(p.version, p.plan) for p in picks])
    interop = bundles.interoperability(lines)
    for pick in picks:
        if pick.added:
            pick.feeds = [link for link in interop.links if link.producer.id == pick.version.id]
    subsidies = spending.plan(enterprise.id, bundles.voucher_claims(lines, None))
    return RecommendedSet(
        recommendation=rec,
        picks=picks,
        interop=interop,
        totals=bundles.totals(lines),
        subsidies={s.claim.key: s for s in subsidies if s.subsidy_fen},
        subsidy_fen=sum(s.subsidy_fen for s in subsidies),
    )
