"""Accessibility and look of the key pages of every role, in Chinese and in English.

For each page: axe-core finds no "serious" or "critical" violation; at phone width (390 px)
the page does not scroll sideways; and full-page screenshots at desktop and phone width are
saved as artefacts into ``SCREENSHOT_DIR`` (default ``test-results/screenshots/``), named
``<role>-<page>-<lang>-<desktop|phone>.png``, for a person to look at.

Pages whose URL carries an id are found by following the first matching link on the page
loaded just before, so the test does not depend on the demo's ids.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import func, select

from marketplace.db import db
from marketplace.demo.seed import DEMO_PASSWORD
from marketplace.oversight.models import EvaluationEntry

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", REPO / "test-results" / "screenshots"))
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
BLOCKING = set(os.environ.get("AXE_IMPACTS", "serious critical").split())


@dataclass(frozen=True)
class Link:
    """The first link on the current page whose path matches ``pattern``."""

    pattern: str


@dataclass(frozen=True)
class Compare:
    """The comparison of the first two packages linked from the current page."""


@dataclass(frozen=True)
class ScoringEntry:
    """The assessor's scoring page of the latest evaluation entry assigned to it: the demo's
    rounds are closed, so the list of assignments links to none."""


Target = str | Link | Compare | ScoringEntry

VISITOR: list[tuple[str, Target]] = [
    ("home", "/"),
    ("catalogue", "/catalog?min_rating=3"),
    ("package", Link(r"/packages/\d+")),
    ("bundles", "/bundles"),
    ("bundle", Link(r"/bundles/\d+")),
    ("login", "/login"),
    ("register", "/register"),
    ("register-enterprise", "/register/enterprise"),
    ("transparency", "/transparency"),
]

ROLES: dict[str, tuple[str | None, list[tuple[str, Target]]]] = {
    "visitor": (None, VISITOR),
    "enterprise": (
        "e001@enterprise.demo",
        [
            ("dashboard", "/dashboard"),
            ("diagnoses", "/diagnosis"),
            ("diagnosis", Link(r"/diagnosis/\d+")),
            ("diagnosis-new", "/diagnosis/new"),
            ("catalogue", "/catalog"),
            ("compare", Compare()),
            ("my-bundles", "/my-bundles"),
            ("bundle", Link(r"/my-bundles/\d+")),
            ("review", Link(r"/my-bundles/\d+/review")),
            ("orders", "/orders"),
            ("order", Link(r"/orders/[^/?#]+")),
            ("vouchers", "/vouchers"),
            ("contracts", "/contracts"),
            ("invoices", "/invoices"),
            ("data-grants", "/data-grants"),
        ],
    ),
    "provider": (
        "i01@provider.demo",
        [
            ("dashboard", "/dashboard"),
            ("packages", "/provider/packages"),
            ("package-edit", Link(r"/provider/packages/\d+")),
            ("curated-bundles", "/provider/bundles"),
            ("orders", "/orders"),
            ("order", Link(r"/orders/[^/?#]+")),
            ("tickets", "/tickets"),
            ("pools", "/pool"),
            ("evaluations", "/provider/evaluations"),
            ("settlements", "/provider/settlements"),
        ],
    ),
    "agency": (
        "official@sjz.demo",
        [
            ("dashboard", "/dashboard"),
            ("pool", "/pool/queue"),
            ("programmes", "/agency/programmes"),
            ("programme", Link(r"/agency/programmes/\d+")),
            ("concentration", Link(r"/agency/programmes/\d+/concentration")),
            ("statistics", "/agency/dashboard"),
            ("modes", "/agency/modes"),
            ("evaluations", "/agency/evaluations"),
            ("evaluation", Link(r"/agency/evaluations/\d+")),
            ("audit", "/agency/audit"),
            ("disputes", "/disputes"),
            ("dispute", Link(r"/disputes/\d+")),
        ],
    ),
    "assessor": (
        "assessor@assess.demo",
        [
            ("dashboard", "/dashboard"),
            ("evaluations", "/assessor/evaluations"),
            ("scoring", ScoringEntry()),
            ("contracts", "/contracts"),
            ("shared-data", "/shared-data"),
            ("shared-scope", Link(r"/shared-data/\d+/\w+")),
        ],
    ),
    "admin": (
        "admin@platform.demo",
        [
            ("dashboard", "/dashboard"),
            ("organisations", "/admin/organisations"),
            ("organisation", Link(r"/admin/organisations/\d+")),
            ("categories", "/admin/categories"),
            ("members", "/org"),
        ],
    ),
}


def _log_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(base + "/dashboard")


def _links(page: Page) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all(
        "main a[href]", "els => els.map(a => new URL(a.href).pathname)"
    )
    return hrefs


def _resolve(page: Page, base: str, app: Flask, target: Target) -> str:
    if isinstance(target, str):
        return base + target
    if isinstance(target, ScoringEntry):
        with app.app_context():
            entry_id = db.session.scalar(
                select(func.max(EvaluationEntry.id)).where(EvaluationEntry.assessor_id.is_not(None))
            )
        assert entry_id, "no evaluation entry is assigned to an assessor"
        return f"{base}/assessor/evaluations/{entry_id}"
    hrefs = _links(page)
    if isinstance(target, Link):
        found = next((h for h in hrefs if re.fullmatch(target.pattern, h)), None)
        assert found, f"no link matching {target.pattern} on {page.url}"
        return base + found
    ids = list(
        dict.fromkeys(m.group(1) for h in hrefs if (m := re.fullmatch(r"/packages/(\d+)", h)))
    )
    assert len(ids) >= 2, f"fewer than two packages linked from {page.url}"
    return f"{base}/compare?ids={ids[0]}&ids={ids[1]}"


def _describe(violations: list[dict]) -> list[str]:
    lines = []
    for v in violations:
        node = v["nodes"][0] if v["nodes"] else {}
        lines.append(
            f"  {v['id']} [{v['impact']}] {v['help']} — {len(v['nodes'])} node(s), "
            f"first: {node.get('target')} {node.get('html', '')[:120]!r}"
        )
    return lines


# The outermost elements that stick out past the right edge of the viewport and are not
# inside a scrolling or clipping box: what makes the page scroll sideways.
TOO_WIDE = """() => {
  const edge = window.innerWidth + 1;
  const out = e => e.getBoundingClientRect().right > edge;
  const clipped = e => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return true;
    }
    return false;
  };
  return [...document.body.querySelectorAll('*')]
    .filter(e => out(e) && !clipped(e) && (e.parentElement === document.body || !out(e.parentElement)))
    .slice(0, 3)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
      + ' "' + e.textContent.trim().slice(0, 40) + '"');
}"""


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role", list(ROLES))
def test_key_pages_are_accessible_and_fit_a_phone(
    context: BrowserContext,
    page: Page,
    live_server: str,
    live_app: Flask,
    axe: Axe,
    role: str,
    lang: str,
):
    email, pages = ROLES[role]
    context.add_cookies([{"name": "lang", "value": lang, "url": live_server}])
    if email:
        _log_in(page, live_server, email)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for name, target in pages:
        page.set_viewport_size(DESKTOP)
        url = _resolve(page, live_server, live_app, target)
        response = page.goto(url)
        assert response is not None and response.ok, (
            f"{url} answered {response and response.status}"
        )
        html_lang = page.locator("html").get_attribute("lang") or ""
        assert html_lang.startswith(lang), f"{url} is in {html_lang}, expected {lang}"
        shot = SCREENSHOT_DIR / f"{role}-{name}-{lang}"

        violations = [v for v in axe.run(page).response["violations"] if v["impact"] in BLOCKING]
        if violations:
            problems.append(f"{name} {url}:")
            problems.extend(_describe(violations))
        page.screenshot(path=f"{shot}-desktop.png", full_page=True)

        page.set_viewport_size(PHONE)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1] + 1:
            wide = page.evaluate(TOO_WIDE)
            problems.append(
                f"{name} {url}: scrolls sideways at phone width "
                f"(scrollWidth {widths[0]} > {widths[1]}; too wide: {wide})"
            )
        page.screenshot(path=f"{shot}-phone.png", full_page=True)

    assert not problems, f"{role} ({lang}):\n" + "\n".join(problems)
