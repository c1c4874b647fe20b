"""Trials' pure rules: the state machine, days left, the offer and the conversion rate."""

from datetime import UTC, datetime, timedelta

import pytest

from marketplace.catalog.models import PackageVersion
from marketplace.orders.models import SYSTEM, TRIAL_MACHINE, E, P, Trial, TrialEvent, TrialStatus
from marketplace.orders.trials import PackageConversion, days_left, offer_of
from marketplace.statemachine import IllegalTransition

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def test_the_machine_moves_a_live_trial_once():
    assert TRIAL_MACHINE.next_state(None, TrialEvent.START, E) is TrialStatus.LIVE
    assert TRIAL_MACHINE.next_state(TrialStatus.LIVE, TrialEvent.END, SYSTEM) is TrialStatus.ENDED
    live_cancel = TRIAL_MACHINE.next_state(TrialStatus.LIVE, TrialEvent.CANCEL, E)
    assert live_cancel is TrialStatus.CANCELLED
    for source in (TrialStatus.LIVE, TrialStatus.ENDED):
        assert TRIAL_MACHINE.next_state(source, TrialEvent.CONVERT, E) is TrialStatus.CONVERTED


@pytest.mark.parametrize(
    ("source", "event", "actor"),
    [
        (TrialStatus.LIVE, TrialEvent.END, E),  # only the job ends a trial by its date
        (TrialStatus.LIVE, TrialEvent.CANCEL, P),  # the provider does not end it
        (TrialStatus.ENDED, TrialEvent.CANCEL, E),
        (TrialStatus.CANCELLED, TrialEvent.CONVERT, E),  # ended early: not converted
        (TrialStatus.CONVERTED, TrialEvent.CONVERT, E),
        (TrialStatus.ENDED, TrialEvent.START, E),  # one trial per customer
    ],
)
def test_illegal_moves_are_refused(source, event, actor):
    with pytest.raises(IllegalTransition):
        TRIAL_MACHINE.next_state(source, event, actor)


def trial(status=TrialStatus.LIVE, ends_in=timedelta(days=3)):
    return Trial(status=status, started_at=NOW - timedelta(days=11), ends_at=NOW + ends_in)


@pytest.mark.parametrize(
    ("ends_in", "left"),
    [
        (timedelta(days=3), 3),
        (timedelta(days=2, hours=1), 3),  # a part day counts as one
        (timedelta(minutes=5), 1),
        (timedelta(0), 0),
        (-timedelta(days=1), 0),
    ],
)
def test_days_left_of_a_live_trial(ends_in, left):
    assert days_left(trial(ends_in=ends_in), NOW) == left


def test_no_days_left_once_it_is_not_live():
    assert days_left(trial(TrialStatus.CANCELLED), NOW) == 0


def test_the_offer_of_a_version():
    assert offer_of(PackageVersion(trial_days=None, trial_price_fen=0, trial_limits="")) is None
    free = offer_of(PackageVersion(trial_days=14, trial_price_fen=0, trial_limits="5 台"))
    assert free is not None and free.free and (free.days, free.limits) == (14, "5 台")
    paid = offer_of(PackageVersion(trial_days=30, trial_price_fen=99_00, trial_limits=""))
    assert paid is not None and not paid.free and paid.price_fen == 99_00


@pytest.mark.parametrize(
    ("converted", "not_converted", "rate"),
    [(0, 0, None), (1, 1, 5000), (2, 1, 6666), (3, 0, 10_000), (0, 4, 0)],
)
def test_the_conversion_rate_counts_finished_trials_only(converted, not_converted, rate):
    row = PackageConversion(1, "看板", converted + not_converted + 5, 5, converted, not_converted)
    assert row.finished == converted + not_converted
    assert row.rate_bp == rate
