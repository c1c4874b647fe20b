"""What the vouchers domain says of a version, for the catalogue's pages.

Vouchers sit above the catalogue: the catalogue cannot ask them, so the app factory connects
their answers here (``vouchers.admission.connect``) and the catalogue's views call these
functions and pass the results to their templates (no template runs a query). Nothing
connected (a test of the catalogue alone): nothing to show.

- ``standings(version)``: the version's admission state in each live programme that could
  pay for it (the package pages);
- ``decisions(package)``: every admission decision on the package's versions (the
  provider's package page);
- ``card_notes(enterprise_id, version_ids)``: for a signed-in enterprise, per version of a
  catalogue page, the programmes whose vouchers it holds that have not (yet) admitted the
  version (one grouped query for the page, filled in on each request: which programmes an
  enterprise holds is its own, so it cannot be part of the cached cards).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from marketplace.catalog.models import Package, PackageVersion


@dataclass(frozen=True)
class CardNote:
    """A programme of the enterprise's vouchers that does not pay for the version (yet)."""

    programme: str  # its name
    rejected: bool  # False: waiting for admission (待准入); True: not admitted (未准入)


StandingsOf = Callable[[PackageVersion], Sequence[Any]]
DecisionsOf = Callable[[Package], Sequence[Any]]
CardNotesOf = Callable[[int, Sequence[int]], dict[int, list[CardNote]]]


@dataclass
class _Connected:
    standings: StandingsOf | None = None
    decisions: DecisionsOf | None = None
    card_notes: CardNotesOf | None = None


_connected = _Connected()


def connect(standings: StandingsOf, decisions: DecisionsOf, card_notes: CardNotesOf) -> None:
    _connected.standings = standings
    _connected.decisions = decisions
    _connected.card_notes = card_notes


def standings(version: PackageVersion | None) -> list[Any]:
    if version is None or _connected.standings is None:
        return []
    return list(_connected.standings(version))


def decisions(package: Package) -> list[Any]:
    if _connected.decisions is None:
        return []
    return list(_connected.decisions(package))


def card_notes(enterprise_id: int, version_ids: Sequence[int]) -> dict[int, list[CardNote]]:
    if not version_ids or _connected.card_notes is None:
        return {}
    return _connected.card_notes(enterprise_id, version_ids)
