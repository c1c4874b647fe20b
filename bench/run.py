"""Serve the app with gunicorn (2 workers) on a benchmark database and drive it over loopback,
one scenario at a time for a fixed time, then print requests per second, p50/p95 latency, SQL
statements per request and each worker's peak memory.

    .venv/bin/python bench/run.py [DATABASE_URL] [--seconds 10] [--clients 4] [--port 5123]
                                  [--only catalogue,search,search-api]

Build the database first with ``bench/dataset.py``. The minimal page (the login form: the
base layout, no query) is measured first; every scenario's throughput is also given as a ratio
to it.

The catalogue scenario asks the same few questions again and again (the cached path); the
search scenarios ask a different one every request, so that no worker's cache can answer:
category names, thesaurus words and two- to four-character pieces of titles, drawn from the
database before the clock starts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PORT = 5123  # --port
LOCAL = ZoneInfo("Asia/Shanghai")  # the pilots' days, as the app counts them
PASSWORD = "zhuanxing2026"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Client:
    """One keep-alive connection with its cookies."""

    conn: http.client.HTTPConnection = field(
        default_factory=lambda: http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    )
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=sent)
        response = self.conn.getresponse()
        data = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _sep, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, data, {k.lower(): v for k, v in response.getheaders()}

    def login(self, email: str) -> None:
        _status, page, _h = self.request("GET", "/login")
        token = CSRF.search(page.decode()).group(1)  # type: ignore[union-attr]
        form = f"csrf_token={token}&email={email}&password={PASSWORD}".encode()
        status, _body, _h = self.request(
            "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 302, f"login of {email} answered {status}"


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    queries: list[int]
    errors: int
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def drive(name: str, make: Any, call: Any, seconds: float, clients: int) -> Result:
    """``clients`` threads, each with its own client from ``make()``, call ``call(client, i)``
    in a loop for ``seconds``."""
    latencies: list[float] = []
    queries: list[int] = []
    errors = [0]
    lock = threading.Lock()
    ready = [make() for _ in range(clients)]
    stop = time.perf_counter() + seconds

    def work(client: Client) -> None:
        i = 0
        mine, counts, bad = [], [], 0
        while time.perf_counter() < stop:
            started = time.perf_counter()
            answer = call(client, i)
            if answer is None:  # nothing left to do
                break
            status, _body, headers = answer
            mine.append(time.perf_counter() - started)
            counts.append(int(headers.get("x-query-count", "0")))
            if status >= 500:
                bad += 1
            i += 1
        with lock:
            latencies.extend(mine)
            queries.extend(counts)
            errors[0] += bad

    threads = [threading.Thread(target=work, args=(c,)) for c in ready]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(name, len(latencies), time.perf_counter() - began, latencies, queries, errors[0])


def peak_memory_mb(master: int) -> list[float]:
    children = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
    ).stdout.split()
    peaks = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return peaks


def main() -> None:
    global PORT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="sqlite:////tmp/bench.sqlite3")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--port", type=int, default=5123, help="where the app is served")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per gunicorn worker (above 1: gthread workers, as deploy/gunicorn.conf.py"
        " serves the app; 1: sync workers)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="a comma-separated subset of: catalogue, search, search-api, package, bundle,"
        " checkout, dashboard, statistics, concentration, api-list, api-post, api-usage (the"
        " minimal page is always measured)",
    )
    args = parser.parse_args()
    PORT = args.port
    env = {
        **os.environ,
        "DATABASE_URL": args.url,
        "SECRET_KEY": "bench",
        "COUNT_QUERIES": "true",
        "RATELIMIT_ENABLED": "false",
        "LOGIN_FAILURE_LIMIT": "1000 per minute",
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            *("-w", "2", "--threads", str(args.threads), "-b", f"127.0.0.1:{PORT}", "app:app"),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                Client().request("GET", "/login")
                break
            except OSError:
                time.sleep(0.2)
        results = scenarios(args)
        peaks = peak_memory_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    report(results, peaks, args)


def scenarios(args: argparse.Namespace) -> list[Result]:
    def plain() -> Client:
        return Client()

    def official() -> Client:
        c = Client()
        c.login("bench1@bench.demo")  # the agency's owner
        return c

    def get(path: str) -> Any:
        return lambda c, _i: c.request("GET", path)

    def catalogue(c: Client, i: int) -> Any:
        return c.request(
            "GET",
            "/catalog?q=%E8%BD%AC%E5%9E%8B%E5%8C%85&category=mes&size_tier=small"
            f"&sort=price_low&page={1 + i % 5}",
        )

    def statistics_computed(c: Client, i: int) -> Any:
        """The statistics page for a period no request asked for before, in this run or an
        earlier one (from a day long before the dataset's first line, another each request,
        to a day long after its last, another each run): no cache has a snapshot for it, so
        every figure is computed over all the lines, as on a cache miss."""
        since = date(2000, 1, 1) + timedelta(days=i % 7_000)  # the form takes 2000–2100
        until = date(2099, 12, 31) - timedelta(days=int(RUN_ID) % 20_000)
        answer = c.request("GET", f"/agency/dashboard?since={since}&until={until}")
        assert answer[0] == 200, f"the statistics page answered {answer[0]}"
        return answer

    def api_list(c: Client, i: int) -> Any:
        category = ["mes", "erp", "wms"][i % 3]
        return c.request("GET", f"/api/v1/packages?limit=50&category={category}")

    n, clients = args.seconds, args.clients
    enterprises, offer = buyers_and_packages(args)
    token = api_token(args)
    usage = usage_token(args)
    every: list[tuple[str, Any]] = [
        ("minimal", lambda: drive("minimal page (login form)", plain, get("/login"), n, clients)),
        ("catalogue", lambda: drive("catalogue search with filters", plain, catalogue, n, clients)),
        ("search", lambda: uncached_search(args, api=False)),
        ("search-api", lambda: uncached_search(args, api=True)),
        (
            "package",
            lambda: drive(
                "package page",
                plain,
                lambda c, i: c.request("GET", f"/packages/{1 + (i * 37) % 5000}"),
                n,
                clients,
            ),
        ),
        ("bundle", lambda: bundle_page(enterprises[0], offer, args)),
        ("checkout", lambda: checkout_with_voucher(enterprises[1:], offer, args)),
        ("dashboard", lambda: drive("agency dashboard", official, get("/agency/dashboard"), n, 2)),
        (
            "statistics",
            lambda: drive("agency dashboard, computed", official, statistics_computed, n, 1),
        ),
        (
            "concentration",
            lambda: drive(
                "concentration page", official, get("/agency/programmes/1/concentration"), n, 2
            ),
        ),
        ("api-list", lambda: drive("API packages list", plain, api_list, n, clients)),
        (
            "api-post",
            lambda: drive(
                "API measurement post",
                plain,
                partial(measurement, token=token, periods=FreePeriods(args, token[1])),
                n,
                clients,
            ),
        ),
        (
            "api-usage",
            lambda: drive(
                "API usage post (ingestion)", plain, partial(usage_post, token=usage), n, clients
            ),
        ),
    ]
    chosen = set(args.only.split(",")) if args.only else None
    return [run() for key, run in every if key == "minimal" or chosen is None or key in chosen]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOTAL = re.compile(r'<div class="results-head">\s*<p class="muted">([0-9]+)')


@dataclass
class Queries:
    """Distinct search words, each handed out once (in a shuffled order), by source."""

    categories: list[str]
    thesaurus: list[str]
    pieces: list[str]

    def shuffled(self, seed: int) -> list[str]:
        every = list(dict.fromkeys(self.categories + self.thesaurus + self.pieces))
        random.Random(seed).shuffle(every)
        return every

    def describe(self) -> str:
        return (
            f"{len(self.categories)} category names, {len(self.thesaurus)} thesaurus words,"
            f" {len(self.pieces):,} pieces of titles"
        )


def search_words(args: argparse.Namespace) -> Queries:
    """Category names (Chinese), the thesaurus's words (both sides of ``search_synonyms``) and
    a two- to four-character piece (letters and digits only, CJK included) cut at random from
    each of 20,000 published titles; every word once."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from marketplace.db import make_engine

    rng = random.Random(19)
    engine = make_engine(args.url)
    with engine.connect() as conn:
        categories = list(conn.scalars(text("SELECT name_zh FROM categories ORDER BY position")))
        titles = list(
            conn.scalars(text("SELECT title FROM package_versions WHERE status = 'published'"))
        )
    thesaurus: list[str] = []
    try:
        with engine.connect() as conn:
            for term, means in conn.execute(text("SELECT term, means FROM search_synonyms")):
                thesaurus += [term, means]
    except DBAPIError:  # an app without the search index has no thesaurus
        pass
    engine.dispose()
    pieces: list[str] = []
    for title in rng.sample(titles, min(len(titles), 20_000)):
        size = rng.randint(2, 4)
        if len(title) < size:
            continue
        start = rng.randrange(len(title) - size + 1)
        piece = title[start : start + size]
        if all(ch.isalnum() for ch in piece):
            pieces.append(piece)
    return Queries(
        categories,
        sorted(set(thesaurus)),
        sorted(set(pieces) - set(categories) - set(thesaurus)),
    )


# When every word has been asked once, the next round asks them again on another page or in
# another order: a different question, so still not in any cache.
ROUNDS = ["", "&page=2", "&sort=newest", "&sort=price_low", "&sort=rating", "&page=3"]


def uncached_search(args: argparse.Namespace, api: bool) -> Result:
    """A different query each request, from ``search_words`` (drawn before the clock starts):
    the catalogue page (relevance order, 24 cards) or the API's list (50 packages)."""
    words = search_words(args)
    order = words.shuffled(seed=2 if api else 1)
    lock = threading.Lock()
    asked: list[tuple[float, str, int | None]] = []  # seconds, query, matches
    cursor = [0]

    def ask(c: Client, _i: int) -> tuple[int, bytes, dict[str, str]] | None:
        with lock:
            n = cursor[0]
            cursor[0] += 1
        if n >= len(order) * len(ROUNDS):
            return None
        word, extra = order[n % len(order)], ROUNDS[n // len(order)]
        if api:
            # the API pages by cursor, but page and sort are still part of its cache key
            path = f"/api/v1/packages?limit=50&q={quote(word)}{extra}"
        else:
            path = f"/catalog?q={quote(word)}{extra}"
        started = time.perf_counter()
        answer = c.request("GET", path)
        elapsed = time.perf_counter() - started
        if api:
            matches = len(json.loads(answer[1]).get("items", [])) if answer[0] == 200 else None
        else:
            found = TOTAL.search(answer[1].decode())
            matches = int(found.group(1)) if found else None
        with lock:
            asked.append((elapsed, f"{word}{extra}", matches))
        return answer

    name = "uncached search, API list (50)" if api else "uncached search, catalogue page"
    result = drive(name, Client, ask, args.seconds, args.clients)
    counted = sorted(m for _s, _q, m in asked if m is not None)
    slowest = sorted(asked, reverse=True)[:5]
    rounds = 1 + (len(asked) - 1) // len(order) if asked else 0
    result.note = (
        f"{len(asked):,} queries, all different ({rounds} round(s) over {len(order):,} words:"
        f" {words.describe()});"
        + (
            f" {'items' if api else 'matches'} per query: median {statistics.median(counted):g},"
            f" max {counted[-1]:,};"
            if counted
            else ""
        )
        + " slowest: "
        + ", ".join(
            f"{q} ({s * 1000:.0f} ms, {m if m is not None else '?'})" for s, q, m in slowest
        )
    )
    return result


def buyers_and_packages(args: argparse.Namespace) -> tuple[list[str], list[int]]:
    """The enterprise owners' emails (each enterprise holds a voucher) and published packages
    with interfaces, of different categories."""
    from sqlalchemy import text

    from marketplace.db import make_engine

    engine = make_engine(args.url)
    with engine.connect() as conn:
        emails = list(
            conn.scalars(
                text(
                    "SELECT u.email FROM users u JOIN organisations o ON o.id = u.org_id"
                    " WHERE o.kind = 'enterprise' ORDER BY u.id"
                )
            )
        )
        packages = list(
            conn.scalars(
                text(
                    "SELECT min(p.id) FROM packages p JOIN package_versions v"
                    " ON v.id = p.published_version_id GROUP BY v.category_code ORDER BY 1"
                )
            )
        )
    engine.dispose()
    return emails, packages


def csrf_of(c: Client, path: str) -> str:
    _status, page, _h = c.request("GET", path)
    return CSRF.search(page.decode()).group(1)  # type: ignore[union-attr]


def new_bundle(c: Client, packages: list[int]) -> int:
    """A bundle of these packages, made through the web forms; its id."""
    token = csrf_of(c, "/my-bundles")
    bundle = "new"
    for package in packages:
        form = f"csrf_token={token}&package_id={package}&bundle_id={bundle}".encode()
        status, _body, headers = c.request("POST", "/my-bundles/add", form, FORM)
        found = re.search(r"/my-bundles/(\d+)", headers.get("location", ""))
        assert status == 302 and found, f"adding package {package} answered {status}"
        bundle = found.group(1)
    return int(bundle)


def bundle_page(email: str, offer: list[int], args: argparse.Namespace) -> Result:
    """An enterprise's bundle of four packages: the page checks how their interfaces meet."""
    owner = Client()
    owner.login(email)
    bundle = new_bundle(owner, offer[:4])
    return drive(
        "bundle page with the interoperability check",
        lambda: Client(cookies=dict(owner.cookies)),
        lambda c, _i: c.request("GET", f"/my-bundles/{bundle}"),
        args.seconds,
        args.clients,
    )


CHECKOUTS_PER_BUYER = 1  # a buyer's first order takes its whole voucher (face value = cap)


def checkout_with_voucher(emails: list[str], offer: list[int], args: argparse.Namespace) -> Result:
    """Each request places the order of a prepared two-package bundle, paid in part with the
    enterprise's transformation voucher. Before the clock starts each enterprise signs in and
    makes its bundles through the forms; one enterprise's bundles are far apart in the queue,
    so that no two of its checkouts race for its voucher."""
    signed_in = []
    for email in emails:
        c = Client()
        c.login(email)
        signed_in.append(c)
    pending: list[tuple[dict[str, str], int, str]] = []
    for k in range(CHECKOUTS_PER_BUYER):
        for n, c in enumerate(signed_in):
            pair = [offer[(n + k) % len(offer)], offer[(n + k + 1) % len(offer)]]
            bundle = new_bundle(c, pair)
            pending.append((c.cookies, bundle, csrf_of(c, f"/my-bundles/{bundle}")))
    queue = iter(pending)
    lock = threading.Lock()
    refused = [0]

    def place(c: Client, i: int) -> tuple[int, bytes, dict[str, str]] | None:
        with lock:
            item = next(queue, None)
        if item is None:
            return None
        cookies, bundle, token = item
        c.cookies = dict(cookies)
        form = f"csrf_token={token}&key=bench-{RUN_ID}-{bundle}-{i:06d}".encode()
        answer = c.request("POST", f"/my-bundles/{bundle}/checkout", form, FORM)
        if answer[0] != 302 or "/orders/" not in answer[2].get("location", ""):
            with lock:
                refused[0] += 1
        return answer

    started = datetime.now(UTC).replace(tzinfo=None)
    result = drive("checkout with a voucher", Client, place, args.seconds, args.clients)
    from sqlalchemy import text

    from marketplace.db import make_engine

    engine = make_engine(args.url)
    with engine.connect() as conn:
        subsidised = conn.scalar(
            text(
                "SELECT count(DISTINCT l.order_id) FROM voucher_reservations r"
                " JOIN order_lines l ON l.id = r.order_line_id WHERE r.created_at >= :t"
            ),
            {"t": started},
        )
    engine.dispose()
    result.note = (
        f"{result.requests - refused[0]} orders placed, {subsidised} of them with a voucher;"
        f" {refused[0]} refused; {len(pending)} bundles were prepared"
    )
    return result


def api_token(args: argparse.Namespace) -> tuple[str, int]:
    """A measurements token of the first contract's provider, and that contract."""
    contract, provider_code = _first(
        args,
        "SELECT c.id, o.credit_code FROM outcome_contracts c JOIN organisations o"
        " ON o.id = c.provider_id ORDER BY c.id LIMIT 1",
    )
    return bench_token(args, provider_code, "bench", "measurements:write"), contract


RUN_ID = str(int(time.time()))


def usage_token(args: argparse.Namespace) -> tuple[str, int]:
    """A usage:write token of the provider of the first line on a usage plan, and that line."""
    line, provider_code = _first(
        args,
        "SELECT l.id, o.credit_code FROM order_lines l JOIN organisations o"
        " ON o.id = l.provider_id WHERE l.plan_kind = 'usage' AND l.status = 'completed'"
        " ORDER BY l.id LIMIT 1",
    )
    return bench_token(args, provider_code, "bench-usage", "usage:write"), line


def _first(args: argparse.Namespace, sql: str) -> tuple[Any, ...]:
    from sqlalchemy import text

    from marketplace.db import make_engine

    engine = make_engine(args.url)
    with engine.connect() as conn:
        row = tuple(conn.execute(text(sql)).one())
    engine.dispose()
    return row


def bench_token(args: argparse.Namespace, credit_code: str, name: str, scopes: str) -> str:
    """A new API token of the organisation with this credit code, made with the CLI. The
    bench's earlier tokens of that name are revoked first: an organisation holds at most 20
    live tokens, and every run makes one."""
    from sqlalchemy import text

    from marketplace.db import make_engine

    engine = make_engine(args.url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP WHERE name = :name"
                " AND revoked_at IS NULL"
                " AND org_id = (SELECT id FROM organisations WHERE credit_code = :code)"
            ),
            {"name": name, "code": credit_code},
        )
    engine.dispose()
    create = [str(ROOT / ".venv/bin/flask"), "--app", "app", "api-token", "create"]
    out = subprocess.run(
        [*create, "--org", credit_code, "--name", name, "--scopes", scopes],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": args.url, "SECRET_KEY": "bench"},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def usage_post(c: Client, i: int, token: tuple[str, int]) -> tuple[int, bytes, dict[str, str]]:
    """A new usage record each request (today's report calls), as an IoT platform sends them;
    every tenth is a repeat of the one before (a retry after a timeout: answered 200)."""
    plain, line = token
    today = datetime.now(UTC).astimezone(LOCAL).date().isoformat()
    n = i - 1 if i % 10 == 9 else i
    body = json.dumps(
        {
            "external_id": f"bench-{RUN_ID}-{threading.get_ident()}-{n}",
            "metric": "report_calls",
            "quantity": 40 + n % 7,
            "period_start": today,
            "period_end": today,
        }
    ).encode()
    answer = c.request(
        "POST",
        f"/api/v1/subscriptions/{line}/usage",
        body,
        {"Authorization": f"Bearer {plain}", "Content-Type": "application/json"},
    )
    assert answer[0] in (200, 201), f"the usage post answered {answer[0]}: {answer[1][:300]!r}"
    return answer


class FreePeriods:
    """Periods of the contract's window that have no measurement yet, handed out once each:
    a contract takes one measurement per period (UNIQUE), so each post needs its own."""

    def __init__(self, args: argparse.Namespace, contract: int) -> None:
        from sqlalchemy import text

        from marketplace.db import make_engine

        engine = make_engine(args.url)
        with engine.connect() as conn:
            start, end = conn.execute(
                text("SELECT window_start, window_end FROM outcome_contracts WHERE id = :c"),
                {"c": contract},
            ).one()
            taken = {
                (str(a), str(b))
                for a, b in conn.execute(
                    text(
                        "SELECT period_start, period_end FROM measurements WHERE contract_id = :c"
                    ),
                    {"c": contract},
                )
            }
        engine.dispose()
        first = date.fromisoformat(str(start)[:10])
        last = min(date.fromisoformat(str(end)[:10]), date.today())
        days = [first + timedelta(days=d) for d in range((last - first).days + 1)]
        self.free = [(a, b) for a in days for b in days if a <= b and (str(a), str(b)) not in taken]
        random.Random(0).shuffle(self.free)
        self.lock = threading.Lock()

    def take(self) -> tuple[date, date] | None:
        with self.lock:
            return self.free.pop() if self.free else None


def measurement(
    c: Client, i: int, token: tuple[str, int], periods: FreePeriods
) -> tuple[int, bytes, dict[str, str]] | None:
    plain, contract = token
    period = periods.take()
    if period is None:  # every period of the window has its measurement
        return None
    body = json.dumps(
        {
            "external_id": f"bench-{RUN_ID}-{threading.get_ident()}-{i}",
            "period_start": period[0].isoformat(),
            "period_end": period[1].isoformat(),
            "value": 3.1,
        }
    ).encode()
    return c.request(
        "POST",
        f"/api/v1/contracts/{contract}/measurements",
        body,
        {"Authorization": f"Bearer {plain}", "Content-Type": "application/json"},
    )


def report(results: list[Result], peaks: list[float], args: argparse.Namespace) -> None:
    minimal = results[0].rps
    print(f"database: {args.url.split(':', 1)[0]}, {args.seconds:g} s per scenario")
    print(
        "| scenario | req/s | × minimal | p50 ms | p95 ms | SQL/request | 5xx |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    for r in results:
        sql = statistics.median(r.queries) if r.queries else 0
        print(
            f"| {r.name} | {r.rps:.1f} | {r.rps / minimal:.2f} | {r.pct(0.5):.1f} | "
            f"{r.pct(0.95):.1f} | {sql:g} | {r.errors} |"
        )
    print(f"peak memory per worker: {', '.join(f'{p:.0f} MB' for p in peaks)}")
    for r in results:
        if r.note:
            print(f"{r.name}: {r.note}")


if __name__ == "__main__":
    sys.exit(main())
