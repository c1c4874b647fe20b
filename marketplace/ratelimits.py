"""Limits that count attempts, not outcomes, and give the unit back when it was not one.

Flask-Limiter's ``deduct_when`` tests the counter before the view and raises it after: 8
parallel wrong passwords all pass the test before any of them is counted. Here the view's
limits take their unit as the request starts (an atomic increment in the shared storage, the
same for every instance), and a view whose request turned out not to count (a successful
login, a form that never reached the password check) gives it back. The counter is thus
never below the attempts in flight plus those that counted, and the 11th is refused whichever
instance answers and however many arrive at once.
"""

from __future__ import annotations

import logging

from limits.strategies import FixedWindowRateLimiter

from marketplace.extensions import limiter

log = logging.getLogger(__name__)


def give_back() -> None:
    """Return the units this request's limits took. Only a fixed window (the default
    strategy) can be given back; with another strategy the request keeps counting. Never
    raises: a storage that went away costs an attempt, not an error page."""
    if not limiter.enabled or not limiter.initialized:  # no strategy, nothing was taken
        return
    strategy = limiter.limiter
    if not isinstance(strategy, FixedWindowRateLimiter):
        return
    for taken in limiter.current_limits:
        if taken.breached:
            continue
        try:
            strategy.hit(taken.limit, *taken.request_args, cost=-1)
        except Exception:  # any storage error: the unit stays spent
            log.warning("rate limit storage unreachable; a unit was not given back")
