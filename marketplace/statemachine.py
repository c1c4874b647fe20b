"""State machines are data: (state, event) → (next state, allowed actor kind).

One function applies a table; an illegal transition raises a domain error, and each domain
writes its own append-only history row for every transition it applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from flask_babel import lazy_gettext as _l

from marketplace.errors import DomainError

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


class IllegalTransition(DomainError):
    """The event is not allowed from this state, or not for this actor."""


@dataclass(frozen=True)
class Transition(Generic[S, E]):
    source: S | None
    event: E
    target: S
    actor: str  # the organisation kind allowed to fire the event


class StateMachine(Generic[S, E]):
    def __init__(self, transitions: Iterable[Transition[S, E]]) -> None:
        self.table: dict[tuple[S | None, E], Transition[S, E]] = {}
        for t in transitions:
            self.table[(t.source, t.event)] = t

    def next_state(self, current: S | None, event: E, actor_kind: str) -> S:
        transition = self.table.get((current, event))
        if transition is None or transition.actor != actor_kind:
            raise IllegalTransition(_l("This action is not possible in the current state."))
        return transition.target

    def events(self, current: S | None, actor_kind: str) -> list[E]:
        """The events this actor may fire from ``current`` (for the buttons a page shows)."""
        return [
            t.event
            for (source, _event), t in self.table.items()
            if source == current and t.actor == actor_kind
        ]
