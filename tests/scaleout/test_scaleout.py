"""The app scaled out as in production: two gunicorn instances behind nginx (round robin), a
Celery worker and two beat schedulers, on PostgreSQL and a Redis of the test's own (limits,
cache, broker). What one instance knows, the other knows too; a scheduler too many, a worker
killed mid-task or Redis gone for a while changes nothing that matters.

The processes are started once for the module (``conftest.py``); the tests run in this order,
the last one stops and restarts Redis.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
from celery import Celery

from tests.scaleout.conftest import (
    SWEEP_SECONDS,
    VISIBILITY_TIMEOUT,
    Browser,
    Cluster,
    Reply,
    make_refund,
    refund_row,
    wait_for,
)

pytestmark = pytest.mark.slow

LIMIT = 10  # LOGIN_FAILURE_LIMIT: 10 per 15 minutes
WRONG = "not-the-password"


def _ordinary_failure(reply: Reply) -> bool:
    """The login form again with its error: a failure that was counted, not refused."""
    return reply.status == 200 and "The e-mail or password is not correct." in reply.body


def _refused(reply: Reply) -> bool:
    return reply.status == 429


# --- 1. failed logins are counted together --------------------------------------------------


def test_failed_logins_are_limited_across_instances(cluster: Cluster) -> None:
    a, b = cluster.upstream("a"), cluster.upstream("b")
    email, password = cluster.data["enterprise"], cluster.data["password"]

    # Ten wrong passwords through the balancer, each from an address of its own (the limit per
    # account is the one that counts): nginx hands them to both instances in turn.
    answered = []
    for n in range(LIMIT):
        visitor = Browser(cluster.balancer, source=f"127.0.2.{n + 1}")
        token = visitor.csrf_token(port=cluster.ports["a"])  # any instance's token is good
        reply = visitor.login(email, WRONG, token)
        assert _ordinary_failure(reply), (n, reply.status, reply.body[:300])
        answered.append(reply.upstream)
    assert set(answered) == {a, b}, answered

    # The 11th is refused whichever instance answers, even with the right password.
    for n, port in enumerate((cluster.ports["a"], cluster.ports["b"])):
        visitor = Browser(port, source=f"127.0.2.{100 + n}")
        reply = visitor.login(email, password, visitor.csrf_token())
        assert _refused(reply), (port, reply.status, reply.body[:300])
    refused_by = set()
    for n in range(2):
        visitor = Browser(cluster.balancer, source=f"127.0.2.{110 + n}")
        reply = visitor.login(email, WRONG, visitor.csrf_token(port=cluster.ports["b"]))
        assert _refused(reply), reply.status
        refused_by.add(reply.upstream)
    assert refused_by == {a, b}

    # Thirty wrong passwords for another account, eight at a time, through the balancer.
    target = f"parallel-{uuid.uuid4().hex[:8]}@scaleout.test"
    visitors = [Browser(cluster.balancer, source=f"127.0.3.{n + 1}") for n in range(30)]
    tokens = [
        v.csrf_token(port=cluster.ports["a" if n % 2 else "b"]) for n, v in enumerate(visitors)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(
            pool.map(
                lambda vt: vt[0].login(target, WRONG, vt[1]), zip(visitors, tokens, strict=True)
            )
        )
    failures = [r for r in replies if _ordinary_failure(r)]
    refusals = [r for r in replies if _refused(r)]
    print(
        f"\n30 parallel wrong passwords: {len(failures)} counted failures, "
        f"{len(refusals)} refused (429); answered by {Counter(r.upstream for r in replies)}"
    )
    assert len(failures) + len(refusals) == 30, [(r.status, r.body[:200]) for r in replies]
    assert 1 <= len(failures) <= LIMIT, len(failures)
    assert {r.upstream for r in replies} == {a, b}
    late = Browser(cluster.ports["a"], source="127.0.3.200")
    assert _refused(late.login(target, WRONG, late.csrf_token()))


# --- 2. a catalogue change shows on the other instance at once ---------------------------------


def test_a_catalogue_change_through_one_instance_shows_on_the_other(cluster: Cluster) -> None:
    package_id, title = cluster.data["package_id"], cluster.data["package_title"]
    card = f'href="/packages/{package_id}"'
    query = f"/catalog?q={quote(title)}"
    api = f"/api/v1/packages?q={quote(title)}"
    reader = Browser(cluster.ports["b"], source="127.0.4.1")

    def listed() -> tuple[bool, bool]:
        page, found = reader.get(query), reader.get(api)
        assert page.status == 200 and found.status == 200, (page.status, found.status)
        return card in page.body, any(
            item["id"] == package_id for item in _json(found.body)["items"]
        )

    for _ in range(4):  # every worker of instance B has the results in its cache now
        assert listed() == (True, True)

    # An official of the city delists the package through instance A.
    official = Browser(cluster.ports["a"], source="127.0.4.2")
    reply = official.login(
        cluster.data["official"], cluster.data["password"], official.csrf_token()
    )
    assert reply.status == 302, reply.body[:300]
    token = official.csrf_token(f"/packages/{package_id}")
    reply = official.post(f"/packages/{package_id}/delist", {"reason": "规模测试：下架核对"}, token)
    assert reply.status == 302, (reply.status, reply.body[:300])

    # The very next request to instance B no longer lists it, nor does the API.
    assert listed() == (False, False)
    assert listed() == (False, False)


def _json(body: str) -> dict[str, Any]:
    return dict(json.loads(body))


# --- 3. one run per period with two schedulers ---------------------------------------------------

CLAIM = re.compile(r"job stripe_refunds, period (\S+): (claimed already|claimed)$", re.MULTILINE)
SENT = re.compile(r"Sending due task marketplace\.sweep\.stripe_refunds\b")


def test_a_scheduled_job_runs_once_per_period_with_two_schedulers(cluster: Cluster) -> None:
    before = make_refund(cluster)
    worker = cluster.procs["worker"]
    beats = cluster.start_beats(2)
    try:
        time.sleep(SWEEP_SECONDS * 2)
        during = make_refund(cluster)
        time.sleep(SWEEP_SECONDS * 3)
    finally:
        for beat in beats:
            beat.stop()
            cluster.retire(beat.name)
    sent = [len(SENT.findall(beat.text())) for beat in beats]

    # Every sweep both beats sent has run (each run logs its claim, won or lost).
    wait_for(
        "the worker to run every sweep the beats sent",
        lambda: len(CLAIM.findall(worker.text())) >= sum(sent),
        30,
        worker.tail(),
    )
    runs = CLAIM.findall(worker.text())
    by_period: dict[str, list[str]] = defaultdict(list)
    for period, outcome in runs:
        by_period[period].append(outcome)
    print(f"\nbeats sent {sent} sweeps; runs per period: {dict(by_period)}")

    assert all(n >= 3 for n in sent), sent
    assert len(runs) == sum(sent), (len(runs), sent)
    won = {p for p, outcomes in by_period.items() if outcomes.count("claimed") == 1}
    assert won == set(by_period), f"a period not claimed exactly once: {dict(by_period)}"
    assert len(by_period) >= 3, by_period
    assert sum(len(o) for o in by_period.values()) > len(by_period), "no second sweep met a claim"
    # job_periods holds one row per period these runs claimed, and nothing else.
    stored = [
        r.period
        for r in cluster.rows("SELECT period FROM job_periods WHERE job = 'stripe_refunds'")
    ]
    assert sorted(stored) == sorted(by_period), (stored, dict(by_period))

    # The refunds queued before and during those runs were each sent once.
    for refund in (before, during):
        wait_for(
            f"refund {refund['id']} to be sent",
            lambda r=refund: refund_row(cluster, r["id"]).status == "done",
            15,
            worker.tail(),
        )
        assert cluster.stripe.posts(refund["key"]) == 1, refund
        assert len(cluster.stripe.refunds_of(refund["intent"])) == 1


# --- 4. a worker killed in the middle of a task ------------------------------------------------


def _sender(cluster: Cluster) -> Celery:
    return Celery("scaleout-test", broker=cluster.redis_url(1), set_as_current=False)


def test_a_worker_killed_mid_task_runs_it_again_and_its_effect_happens_once(
    cluster: Cluster,
) -> None:
    sender = _sender(cluster)
    try:
        # The queue's latency, warm: refund tasks sent one by one, each timed until its row
        # moved (sent, taken by the worker, Stripe called, committed).
        latencies = []
        for _ in range(5):
            quick = make_refund(cluster)
            sender.send_task("marketplace.item.stripe_refunds", args=[quick["id"]])
            latencies.append(
                wait_for(
                    "a quick refund",
                    lambda q=quick: refund_row(cluster, q["id"]).status == "done",
                    20,
                    cluster.procs["worker"].tail(),
                    every=0.005,
                )
            )
        latencies.sort()
        print(
            "\na task sent to its effect committed: "
            + ", ".join(f"{s * 1000:.0f}" for s in latencies)
            + " ms"
        )

        # A refund whose Stripe call takes long: the worker is killed while it waits.
        slow = make_refund(cluster)
        cluster.stripe.slow[slow["key"]] = 3.0
        task_id = f"scaleout-kill-{uuid.uuid4().hex[:8]}"
        sender.send_task("marketplace.item.stripe_refunds", args=[slow["id"]], task_id=task_id)
        assert cluster.stripe.arrived.wait(20), cluster.procs["worker"].tail()
        delivered = time.monotonic()
        time.sleep(0.5)  # well inside the task (Stripe answers after 3 s)
        killed = cluster.procs["worker"]
        killed_after = time.monotonic() - delivered
        killed.kill()  # SIGKILL to the worker and its pool: nothing is acknowledged
        cluster.retire("worker")
        assert task_id in killed.text()
        assert refund_row(cluster, slow["id"]).status == "pending"

        # Stripe made the refund all the same; the task never recorded it.
        assert cluster.stripe.answered.wait(10)
        assert len(cluster.stripe.refunds_of(slow["intent"])) == 1
        assert refund_row(cluster, slow["id"]).status == "pending"

        # A new worker, once the message's visibility timeout is over, takes it again.
        time.sleep(max(0.0, delivered + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))
        restarted = time.monotonic()
        worker = cluster.start_worker()
        ready = time.monotonic()
        wait_for(
            "the killed task to run again",
            lambda: refund_row(cluster, slow["id"]).status == "done",
            40,
            worker.tail(),
        )
        print(
            f"worker killed {killed_after:.1f} s into the task; a new one started at "
            f"+{restarted - delivered:.1f} s, ready in {ready - restarted:.1f} s; the task "
            f"ran again and was done at +{time.monotonic() - delivered:.1f} s"
        )
    finally:
        sender.close()

    assert task_id in worker.text(), worker.tail()
    assert cluster.stripe.posts(slow["key"]) == 2  # it ran again ...
    made = cluster.stripe.refunds_of(slow["intent"])
    assert len(made) == 1, made  # ... and Stripe refunded once (the same idempotency key)
    assert cluster.stripe.intents[slow["intent"]]["amount_refunded"] == slow["amount_fen"]
    row = refund_row(cluster, slow["id"])
    assert row.status == "done" and row.reference == made[0]["id"]


# --- 5. Redis stopped, then back -------------------------------------------------------------


def _visit(cluster: Cluster, port: int, source: str) -> list[tuple[str, Reply]]:
    browser = Browser(port, source=source)
    replies = [(path, browser.get(path)) for path in ("/", "/login", "/catalog")]
    replies.append(("/api/v1/packages", browser.get("/api/v1/packages")))
    token = browser.csrf_token()
    replies.append(("POST /login", browser.login("nobody@scaleout.test", WRONG, token)))
    return replies


def test_pages_and_the_api_answer_while_redis_is_down_and_recover(cluster: Cluster) -> None:
    ports = [cluster.balancer, cluster.ports["a"], cluster.ports["b"]]
    redis = cluster.procs["redis"]
    redis.stop()
    cluster.retire("redis")
    down_at = time.monotonic()
    try:
        replies = []
        for n, port in enumerate(ports):
            replies += _visit(cluster, port, f"127.0.5.{n + 1}")
            replies += _visit(cluster, port, f"127.0.5.{n + 1}")  # each worker, the second time
        slowest = max(r.seconds for _p, r in replies)
        print(f"\nwith Redis down: {len(replies)} requests, slowest {slowest:.2f} s")
        errors = [(path, r.status) for path, r in replies if r.status >= 500]
        assert not errors, errors
        assert all(r.status in (200, 302) for _p, r in replies), [(p, r.status) for p, r in replies]
        assert slowest < 10
        for port in ports[1:]:
            assert Browser(port).get("/readyz").status == 503
    finally:
        cluster.start_redis()
    print(f"Redis was down for {time.monotonic() - down_at:.1f} s")

    # Back: both instances ready again, and failed logins counted together again.
    for name in ("a", "b"):
        took = wait_for(
            f"instance {name} ready again",
            lambda n=name: Browser(cluster.ports[n]).get("/readyz").status == 200,
            30,
        )
        print(f"instance {name} ready {took:.1f} s after Redis returned")

    def shared_again(attempt: list[int]) -> bool:
        """Ten failures through the balancer, then the 11th refused by both instances."""
        attempt[0] += 1
        email = f"after-{attempt[0]}-{uuid.uuid4().hex[:6]}@scaleout.test"
        for n in range(LIMIT):
            visitor = Browser(cluster.balancer, source=f"127.6.{attempt[0]}.{n + 1}")
            reply = visitor.login(email, WRONG, visitor.csrf_token(port=cluster.ports["a"]))
            if not _ordinary_failure(reply):
                return False
        for port in (cluster.ports["a"], cluster.ports["b"]):
            visitor = Browser(port, source=f"127.6.{attempt[0]}.200")
            if not _refused(visitor.login(email, WRONG, visitor.csrf_token())):
                time.sleep(1)
                return False
        return True

    attempts = [0]
    wait_for("failed logins counted in Redis again", lambda: shared_again(attempts), 60)
    print(f"limits shared again after {attempts[0]} round(s)")
