"""Every role's key pages, for the browser tests that look at them all (accessibility, fit).

Pages whose URL carries an id are found by following the first matching link on the page
loaded just before, so the tests do not depend on the demo's ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import func, select

from marketplace.db import db
from marketplace.demo.seed import DEMO_PASSWORD
from marketplace.oversight.models import EvaluationEntry


@dataclass(frozen=True)
class Link:
    """The first link on the current page whose path matches ``pattern``."""

    pattern: str


@dataclass(frozen=True)
class Sibling:
    """The current page's path with its last segment replaced by ``segment``."""

    segment: str


@dataclass(frozen=True)
class Compare:
    """The comparison of the first two packages linked from the current page."""


@dataclass(frozen=True)
class ScoringEntry:
    """The assessor's scoring page of the latest evaluation entry assigned to it: the demo's
    rounds are closed, so the list of assignments links to none."""


Target = str | Link | Sibling | Compare | ScoringEntry

VISITOR: list[tuple[str, Target]] = [
    ("home", "/"),
    ("catalogue", "/catalog?min_rating=3"),
    ("compare", Compare()),
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
        "e002@enterprise.demo",
        [
            ("dashboard", "/dashboard"),
            ("diagnoses", "/diagnosis"),
            ("diagnosis", Link(r"/diagnosis/\d+")),
            ("recommendations", Link(r"/diagnosis/\d+/recommendations")),
            ("diagnosis-new", "/diagnosis/new"),
            ("catalogue", "/catalog"),
            ("compare", Compare()),
            ("my-bundles", "/my-bundles"),
            ("bundle", Link(r"/my-bundles/\d+")),
            ("review", Link(r"/my-bundles/\d+/review")),
            ("orders", "/orders"),
            ("order", Link(r"/orders/[^/?#]+")),
            ("vouchers", "/vouchers"),
            ("voucher", Link(r"/vouchers/\d+")),
            ("contracts", "/contracts"),
            ("invoices", "/invoices"),
            ("invoice", Link(r"/invoices/\d+")),
            ("tickets", "/tickets"),
            ("data-grants", "/data-grants"),
            ("trials", "/trials"),
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
            ("invoices", "/invoices"),
            ("contracts", "/contracts"),
            ("trials", "/provider/trials"),
        ],
    ),
    "agency": (
        "official@sjz.demo",
        [
            ("dashboard", "/dashboard"),
            ("pool", "/pool/queue"),
            ("programmes", "/agency/programmes"),
            ("programme", Link(r"/agency/programmes/\d+")),
            ("programme-vouchers", Link(r"/agency/programmes/\d+/vouchers")),
            ("concentration", Sibling("concentration")),
            ("risk-flags", "/agency/risk-flags"),
            ("statistics", "/agency/dashboard"),
            ("modes", "/agency/modes"),
            ("demand-radar", "/agency/demand"),
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
            ("overview", "/admin/overview"),
            ("organisations", "/admin/organisations"),
            ("organisation", Link(r"/admin/organisations/\d+")),
            ("categories", "/admin/categories"),
            ("thesaurus", "/admin/thesaurus"),
            ("payouts", "/platform/payouts"),
            ("jobs", "/admin/jobs"),
            ("members", "/org"),
        ],
    ),
}


def log_in(page: Page, base: str, email: str) -> None:
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


def resolve(page: Page, base: str, app: Flask, target: Target) -> str:
    if isinstance(target, str):
        return base + target
    if isinstance(target, ScoringEntry):
        with app.app_context():
            entry_id = db.session.scalar(
                select(func.max(EvaluationEntry.id)).where(EvaluationEntry.assessor_id.is_not(None))
            )
        assert entry_id, "no evaluation entry is assigned to an assessor"
        return f"{base}/assessor/evaluations/{entry_id}"
    if isinstance(target, Sibling):
        path = urlsplit(page.url).path
        return base + path.rsplit("/", 1)[0] + "/" + target.segment
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


def nav(page: Page, name: str) -> None:
    """Follow the main navigation's link ``name``, opening the menu that holds it."""
    main_nav = page.locator("nav.main-nav")
    main_nav.wait_for()  # the page that was just asked for, not the one before it
    link = main_nav.get_by_role("link", name=name, exact=True)
    menu = main_nav.locator("details.nav-menu").filter(has=page.locator(f"a:text-is('{name}')"))
    # open the phone's fold (the page's script opens it on wide screens, perhaps not yet)
    # and the menu (a click on its summary would close a menu already open)
    page.locator("details.nav-toggle").evaluate_all("all => all.forEach(d => { d.open = true; })")
    if menu.count():
        menu.first.evaluate("menu => { menu.open = true; }")
    link.click()
