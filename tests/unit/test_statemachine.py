from enum import StrEnum

import pytest

from marketplace.statemachine import IllegalTransition, StateMachine, Transition


class S(StrEnum):
    A = "a"
    B = "b"


class E(StrEnum):
    GO = "go"
    BACK = "back"


MACHINE = StateMachine(
    [
        Transition(None, E.GO, S.A, "x"),
        Transition(S.A, E.GO, S.B, "x"),
        Transition(S.B, E.BACK, S.A, "y"),
    ]
)


def test_allowed_transitions():
    assert MACHINE.next_state(None, E.GO, "x") is S.A
    assert MACHINE.next_state(S.A, E.GO, "x") is S.B
    assert MACHINE.next_state(S.B, E.BACK, "y") is S.A


@pytest.mark.parametrize(
    ("state", "event", "actor"),
    [(S.B, E.GO, "x"), (S.A, E.BACK, "y"), (S.B, E.BACK, "x"), (None, E.BACK, "y")],
)
def test_illegal_transitions_and_wrong_actors(state, event, actor):
    with pytest.raises(IllegalTransition):
        MACHINE.next_state(state, event, actor)


def test_events_for_an_actor():
    assert MACHINE.events(S.A, "x") == [E.GO]
    assert MACHINE.events(S.B, "x") == []
    assert MACHINE.events(S.B, "y") == [E.BACK]
