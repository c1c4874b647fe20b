"""Mixed traffic from every role against the served app, for ``tests/load/test_load.py``.

    LOAD_PLAN=plan.json LOAD_REPORT=report.json \\
        locust -f tests/load/locustfile.py --headless --host http://127.0.0.1:PORT -u 20 -r 10 -t 45s

``LOAD_PLAN`` is written by ``tests/load/dataset.py`` (logins, the small voucher programme,
API tokens). At the end the report lists every response with status >= 500, every failed
request, the request count per role and what became of the voucher checkouts and issues.

Voucher buyers fire several checkouts of one enterprise at once, each from its own browser
session, while its voucher covers only one of them: the others must be refused with a message
(or placed without subsidy once the voucher is spent), never answered with an error.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, between, events, task
from locust.clients import HttpSession

PLAN: dict[str, Any] = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
PASSWORD = PLAN["password"]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
HIDDEN = r'name="{}"[^>]*value="([^"]*)"'
LANES = 3  # parallel checkouts per voucher

# Claimed one by one (gevent switches only on I/O, so a pop is atomic here).
BUYERS: list[str] = list(PLAN["buyers"])
WAITING: list[str] = list(PLAN["waiting_codes"])

STATS: dict[str, Any] = {
    "by_role": Counter(),
    "server_errors": [],
    "failures": [],
    "checkouts": Counter(),
    "issues": Counter(),
}


@events.request.add_listener
def _count(
    request_type: str,
    name: str,
    response: Any = None,
    exception: Any = None,
    **_kwargs: Any,
) -> None:
    STATS["by_role"][name.split(" ", 1)[0]] += 1
    status = getattr(response, "status_code", None) or 0
    if status >= 500:
        STATS["server_errors"].append(
            {
                "request": f"{request_type} {getattr(response, 'url', name)}",
                "status": status,
                "body": (getattr(response, "text", "") or "")[:500],
            }
        )
    if exception is not None and len(STATS["failures"]) < 200:
        cause = getattr(response, "error", None)  # the connection error behind a status 0
        STATS["failures"].append(
            {
                "request": f"{request_type} {name}",
                "status": status,
                "error": f"{exception!s:.300}" + (f" ({cause!r:.300})" if cause else ""),
            }
        )


@events.quitting.add_listener
def _write_report(**_kwargs: Any) -> None:
    target = os.environ.get("LOAD_REPORT")
    if target:
        Path(target).write_text(json.dumps(STATS, ensure_ascii=False, indent=1, default=dict))


# --- helpers ---------------------------------------------------------------------------


def get(
    client: HttpSession, name: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any
) -> Any:
    with client.get(path, name=name, catch_response=True, **kwargs) as response:
        if response.status_code in ok:
            response.success()
        else:
            response.failure(f"status {response.status_code}")
        return response


def post(
    client: HttpSession,
    name: str,
    path: str,
    data: dict[str, Any],
    ok: tuple[int, ...] = (302,),
) -> Any:
    with client.post(
        path, data=data, name=name, catch_response=True, allow_redirects=False
    ) as response:
        if response.status_code in ok:
            response.success()
        else:
            response.failure(f"status {response.status_code}")
        return response


def csrf(page: str) -> str:
    match = CSRF.search(page)
    return match.group(1) if match else ""


def hidden(page: str, field: str) -> str:
    match = re.search(HIDDEN.format(field), page)
    return match.group(1) if match else ""


def links(page: str, pattern: str) -> list[str]:
    return sorted(set(re.findall(pattern, page)))


def login(client: HttpSession, role: str, email: str, lang: str = "en") -> bool:
    client.cookies.set("lang", lang)
    page = get(client, f"{role} /login", "/login").text
    response = post(
        client,
        f"{role} POST /login",
        "/login",
        {"csrf_token": csrf(page), "email": email, "password": PASSWORD, "next": ""},
    )
    return response.status_code == 302


def location(response: Any) -> str:
    return str(response.headers.get("Location", ""))


# --- visitors --------------------------------------------------------------------------

CATEGORIES = ["mes", "wms", "erp", "aps", "equipment_networking", "production_visualisation"]
INDUSTRIES = ["machining", "textile", "electronics", "food", "auto_parts", "hardware"]
SORTS = ["relevance", "newest", "price_low", "price_high", "go_live", "rating"]
WORDS = ["MES", "看板", "设备", "质量", "能耗", "仓储", "排程", "ERP"]


def catalogue_query() -> dict[str, str]:
    query: dict[str, str] = {"sort": random.choice(SORTS)}
    if random.random() < 0.6:
        query["q"] = random.choice(WORDS)
    if random.random() < 0.5:
        query["category"] = random.choice(CATEGORIES)
    if random.random() < 0.4:
        query["industry"] = random.choice(INDUSTRIES)
    if random.random() < 0.3:
        query["size_tier"] = random.choice(["micro", "small", "medium"])
    if random.random() < 0.3:
        query["pricing"] = random.choice(["one_time", "subscription", "outcome"])
    if random.random() < 0.3:
        query["max_price"] = str(random.choice([50_000, 100_000, 300_000]))
    if random.random() < 0.2:
        query["page"] = "2"
    return query


class Visitor(HttpUser):
    """Anonymous browsing: home, catalogue search with filters, packages, curated bundles."""

    weight = 5
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        self.client.cookies.set("lang", random.choice(["zh", "en"]))
        self.packages: list[str] = []
        self.providers: list[str] = []
        self.bundles: list[str] = []

    @task(2)
    def home(self) -> None:
        get(self.client, "visitor /", "/")

    @task(5)
    def search(self) -> None:
        page = get(self.client, "visitor /catalog?…", "/catalog", params=catalogue_query()).text
        self.packages = links(page, r'href="(/packages/\d+)"') or self.packages
        self.providers = links(page, r'href="(/providers/\d+)"') or self.providers

    @task(4)
    def package(self) -> None:
        if self.packages:
            get(self.client, "visitor /packages/[id]", random.choice(self.packages))

    @task(1)
    def provider(self) -> None:
        if self.providers:
            get(self.client, "visitor /providers/[id]", random.choice(self.providers))

    @task(2)
    def curated(self) -> None:
        page = get(self.client, "visitor /bundles", "/bundles").text
        self.bundles = links(page, r'href="(/bundles/\d+)"') or self.bundles
        if self.bundles:
            get(self.client, "visitor /bundles/[id]", random.choice(self.bundles))

    @task(1)
    def transparency(self) -> None:
        get(self.client, "visitor /transparency", "/transparency")


# --- enterprises -----------------------------------------------------------------------


class Enterprise(HttpUser):
    """A demo enterprise's owner: dashboard, orders, vouchers, bundles, invoices."""

    weight = 3
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        login(self.client, "enterprise", random.choice(PLAN["enterprises"]))
        self.orders: list[str] = []

    @task(3)
    def dashboard(self) -> None:
        get(self.client, "enterprise /dashboard", "/dashboard")

    @task(3)
    def orders(self) -> None:
        page = get(self.client, "enterprise /orders", "/orders").text
        self.orders = links(page, r'href="(/orders/ZX[0-9-]+)"')
        if self.orders:
            get(self.client, "enterprise /orders/[number]", random.choice(self.orders))

    @task(2)
    def vouchers(self) -> None:
        get(self.client, "enterprise /vouchers", "/vouchers")

    @task(1)
    def bundles(self) -> None:
        get(self.client, "enterprise /my-bundles", "/my-bundles")

    @task(1)
    def invoices(self) -> None:
        get(self.client, "enterprise /invoices", "/invoices")

    @task(2)
    def catalogue(self) -> None:
        get(self.client, "enterprise /catalog?…", "/catalog", params=catalogue_query())


class VoucherBuyer(HttpUser):
    """An enterprise of the small programme ordering the package paid partly by its voucher,
    from ``LANES`` browser sessions at once; then the next enterprise."""

    fixed_count = 5
    wait_time = between(0.2, 1)

    @task
    def rush(self) -> None:
        if not BUYERS:  # every voucher of the programme was tried: browse instead
            get(self.client, "enterprise /catalog?…", "/catalog", params=catalogue_query())
            return
        email = BUYERS.pop()
        lanes = [
            HttpSession(
                base_url=self.host,
                request_event=self.environment.events.request,
                user=self,
            )
            for _ in range(LANES)
        ]
        try:
            ready = [(lane, self._prepare(lane, email)) for lane in lanes]
            jobs = [gevent.spawn(self._checkout, lane, form) for lane, form in ready if form]
            gevent.joinall(jobs)
            get(lanes[0], "enterprise /vouchers", "/vouchers")
            get(lanes[0], "enterprise /orders", "/orders")
        finally:
            for lane in lanes:
                lane.close()

    def _prepare(self, lane: HttpSession, email: str) -> dict[str, str] | None:
        """Log in, put the package into a new bundle; the review page's checkout form."""
        if not login(lane, "enterprise", email):
            return None
        package = f"/packages/{PLAN['package_id']}"
        page = get(lane, "enterprise /packages/[id]", package).text
        added = post(
            lane,
            "enterprise POST /my-bundles/add",
            "/my-bundles/add",
            {
                "csrf_token": csrf(page),
                "package_id": PLAN["package_id"],
                "plan_id": PLAN["plan_id"],
                "bundle_id": "new",
            },
        )
        bundle = location(added)
        if not re.search(r"/my-bundles/\d+$", bundle):
            return None
        get(lane, "enterprise /my-bundles/[id]", bundle)
        page = get(lane, "enterprise /my-bundles/[id]/review", bundle + "/review").text
        if "Your vouchers pay" not in page:
            self_count("checkouts", "no_subsidy_shown")
        return {
            "url": bundle + "/checkout",
            "csrf_token": csrf(page),
            "key": hidden(page, "key"),
            "subsidy_shown": hidden(page, "subsidy_shown"),
            "reviewed": hidden(page, "reviewed"),
        }

    def _checkout(self, lane: HttpSession, form: dict[str, str]) -> None:
        url = form.pop("url")
        response = post(lane, "enterprise POST /my-bundles/[id]/checkout", url, form)
        target = location(response)
        if "/orders/" in target:
            self_count("checkouts", "placed")
            get(lane, "enterprise /orders/[number]", target)
        elif "/my-bundles/" in target:
            page = get(lane, "enterprise /my-bundles/[id]/review", target).text
            refused = "balance changed" in page
            self_count("checkouts", "refused" if refused else "refused_without_message")
        else:
            self_count("checkouts", f"unexpected {response.status_code}")


def self_count(kind: str, outcome: str) -> None:
    STATS[kind][outcome] += 1


# --- providers -------------------------------------------------------------------------


class Provider(HttpUser):
    """A provider's owner: dashboard, incoming orders, its packages, contracts, statements."""

    fixed_count = 2
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        login(self.client, "provider", random.choice(PLAN["providers"]))
        self.packages: list[str] = []

    @task(3)
    def dashboard(self) -> None:
        get(self.client, "provider /dashboard", "/dashboard")

    @task(3)
    def orders(self) -> None:
        status = random.choice(["", "placed", "accepted", "delivered"])
        get(self.client, "provider /orders?status=…", "/orders", params={"status": status})

    @task(3)
    def packages(self) -> None:
        page = get(self.client, "provider /provider/packages", "/provider/packages").text
        self.packages = links(page, r'href="(/provider/packages/\d+)"')
        if self.packages:
            get(self.client, "provider /provider/packages/[id]", random.choice(self.packages))

    @task(1)
    def contracts(self) -> None:
        get(self.client, "provider /contracts", "/contracts")

    @task(1)
    def statements(self) -> None:
        get(self.client, "provider /provider/settlements", "/provider/settlements")


# --- agency officials ------------------------------------------------------------------


class Official(HttpUser):
    """The programme's agency: dashboards, statistics, concentration, programmes, vouchers,
    and issuing vouchers one by one against the small programme's last yuan of budget."""

    fixed_count = 2
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        login(self.client, "official", PLAN["official"])
        self.programmes = [PLAN["programme_id"], *PLAN["demo_programme_ids"]]

    @task(2)
    def dashboard(self) -> None:
        get(self.client, "official /dashboard", "/dashboard")

    @task(3)
    def statistics(self) -> None:
        get(self.client, "official /agency/dashboard", "/agency/dashboard")

    @task(2)
    def concentration(self) -> None:
        programme = random.choice(self.programmes)
        get(
            self.client,
            "official /agency/programmes/[id]/concentration",
            f"/agency/programmes/{programme}/concentration",
        )

    @task(2)
    def programme(self) -> None:
        get(self.client, "official /agency/programmes", "/agency/programmes")
        programme = random.choice(self.programmes)
        get(self.client, "official /agency/programmes/[id]", f"/agency/programmes/{programme}")
        get(
            self.client,
            "official /agency/programmes/[id]/vouchers",
            f"/agency/programmes/{programme}/vouchers",
        )

    @task(1)
    def modes(self) -> None:
        get(self.client, "official /agency/modes", "/agency/modes")

    @task(4)
    def issue(self) -> None:
        if not WAITING:
            return
        code = WAITING.pop()
        programme = f"/agency/programmes/{PLAN['programme_id']}"
        page = get(self.client, "official /agency/programmes/[id]", programme).text
        response = post(
            self.client,
            "official POST /agency/programmes/[id]/issue-one",
            programme + "/issue-one",
            {
                "csrf_token": csrf(page),
                "key": secrets.token_urlsafe(24),
                "credit_code": code,
                # the official ticks the box stating the amount the page shows (issue 20)
                "total_fen": _issue_amount(page),
                "confirmed": "y",
            },
        )
        if not location(response).endswith(programme):
            self_count("issues", f"unexpected {response.status_code}")
            return
        page = get(self.client, "official /agency/programmes/[id]", programme).text
        if "issued to" in page:
            self_count("issues", "issued")
        elif "does not cover" in page:
            self_count("issues", "refused_for_budget")
        else:
            self_count("issues", "refused_otherwise")


# --- Open API clients ------------------------------------------------------------------


class ApiClient(HttpUser):
    """Integrations: the catalogue (with and without a token), a provider's measurements, an
    enterprise's ERP reading orders, invoices and vouchers."""

    fixed_count = 2
    wait_time = between(0.2, 1)

    def on_start(self) -> None:
        self.provider = random.choice(PLAN["api_providers"])
        self.auth = {"Authorization": f"Bearer {self.provider['token']}"}
        self.erp = {"Authorization": f"Bearer {PLAN['api_enterprise']}"}
        self.sent: list[dict[str, Any]] = []

    def period(self) -> tuple[str, str]:
        """A random period of the days the contract may be measured."""
        first = date.fromisoformat(self.provider["period_start"])
        span = (date.fromisoformat(self.provider["period_end"]) - first).days
        a = random.randint(0, span)
        b = random.randint(a, span)
        return (first + timedelta(days=a)).isoformat(), (first + timedelta(days=b)).isoformat()

    @task(4)
    def packages(self) -> None:
        params = {"limit": str(random.choice([10, 20, 50]))}
        if random.random() < 0.5:
            params["category"] = random.choice(CATEGORIES)
        headers = self.auth if random.random() < 0.7 else {}
        body = get(
            self.client, "api /api/v1/packages", "/api/v1/packages", params=params, headers=headers
        )
        items = body.json().get("items", []) if body.status_code == 200 else []
        if items:
            package = random.choice(items)["id"]
            get(self.client, "api /api/v1/packages/[id]", f"/api/v1/packages/{package}")

    @task(3)
    def measurement(self) -> None:
        contract = self.provider["contract_id"]
        path = f"/api/v1/contracts/{contract}/measurements"
        if self.sent and random.random() < 0.3:  # a retry: the stored one, 200
            body, ok = random.choice(self.sent), (200,)
        else:
            start, end = self.period()
            body = {
                "external_id": f"load-{uuid.uuid4().hex}",
                "period_start": start,
                "period_end": end,
                "value": round(random.uniform(10, 30), 2),
                "note": "负载测试",
            }
            # 409: the period was measured already (one measurement per period), by the
            # other client on this contract or by the demo's history.
            ok = (201, 409)
        with self.client.post(
            path,
            json=body,
            headers=self.auth,
            name="api POST /api/v1/contracts/[id]/measurements",
            catch_response=True,
        ) as response:
            if response.status_code in ok:
                response.success()
                if response.status_code == 201:
                    self.sent.append(body)
            else:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
        get(self.client, "api /api/v1/contracts/[id]/measurements", path, headers=self.auth)

    @task(2)
    def enterprise_erp(self) -> None:
        for what in ("orders", "invoices", "vouchers"):
            get(self.client, f"api /api/v1/{what}", f"/api/v1/{what}", headers=self.erp)


ISSUE_AMOUNT = re.compile(r'action="[^"]*/issue-one".*?name="total_fen" value="(\d+)"', re.S)


def _issue_amount(page: str) -> str:
    """The amount the programme page's issue-one form states (the face value)."""
    found = ISSUE_AMOUNT.search(page)
    return found.group(1) if found else ""
