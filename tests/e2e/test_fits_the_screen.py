"""Every role's key pages fit a laptop (1366 px) and a phone (390 px), in Chinese and English.

For each page of ``tests/e2e/key_pages.py`` at both widths: the page does not scroll
sideways, nor does any table inside its box; at 1366 px the navigation's entries stay on one row, the brand and the user menu
on one row above it, and the user menu shows the whole organisation name; at 390 px the first catalogue result
starts within the first screen. Full-page screenshots are saved into ``SCREENSHOT_DIR``
(default ``test-results/screenshots/``) as ``<role>-<page>-<lang>-<width>.png`` for a person to
look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page

from tests.e2e.key_pages import ROLES, TOO_WIDE, log_in, resolve

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", REPO / "test-results" / "screenshots"))
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
FIRST_RESULT_WITHIN = 700  # px from the top of the page, on a phone

# What is wrong with the header at this width: the brand and the tools (language, user menu)
# not on one row, the navigation's top-level entries on more than one row, or the user
# menu's text cut off.
HEADER = """() => {
  const problems = [];
  const shown = e => e && e.getClientRects().length > 0;
  const rows = els => new Set(els.filter(shown).map(e => {
    const r = e.getBoundingClientRect();
    return Math.round((r.top + r.bottom) / 20);  // vertical centres, within 10 px
  })).size;
  const tier = [document.querySelector('.brand'), document.querySelector('.header-tools')];
  if (rows(tier) > 1) problems.push('the brand and the user menu are on different rows');
  const entries = [...document.querySelectorAll('.main-nav .nav-top > li')];
  if (rows(entries) > 1) problems.push('the navigation wraps onto ' + rows(entries) + ' rows');
  for (const e of document.querySelectorAll('.user-menu summary, .user-menu summary *')) {
    if (shown(e) && e.scrollWidth > e.clientWidth + 1) {
      problems.push('cut off: "' + e.textContent.trim() + '"');
    }
  }
  return problems;
}"""

# Two frames after a resize: the page's script has answered the media query's change.
SETTLED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"

# Tables wider than their box at this width (they would scroll sideways inside it).
WIDE_TABLES = """() => [...document.querySelectorAll('main table')]
  .filter(t => t.getClientRects().length > 0)
  .filter(t => t.scrollWidth > t.parentElement.clientWidth + 1
    || t.getBoundingClientRect().right > window.innerWidth + 1)
  .map(t => (t.className || 'table') + ' "' + (t.querySelector('th') || t).textContent.trim().slice(0, 30) + '"')"""

FIRST_RESULT = """() => {
  const card = document.querySelector('#results .package-card');
  return card ? card.getBoundingClientRect().top + window.scrollY : null;
}"""


def _scrolls_sideways(page: Page) -> str | None:
    scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if scroll <= inner + 1:
        return None
    return f"scrolls sideways (scrollWidth {scroll} > {inner}; too wide: {page.evaluate(TOO_WIDE)})"


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role", list(ROLES))
def test_key_pages_fit_the_screen(
    context: BrowserContext,
    page: Page,
    live_server: str,
    live_app: Flask,
    role: str,
    lang: str,
):
    email, pages = ROLES[role]
    context.add_cookies([{"name": "lang", "value": lang, "url": live_server}])
    if email:
        log_in(page, live_server, email)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for name, target in pages:
        page.set_viewport_size(LAPTOP)
        url = resolve(page, live_server, live_app, target)
        response = page.goto(url)
        assert response is not None and response.ok, (
            f"{url} answered {response and response.status}"
        )
        shot = SCREENSHOT_DIR / f"{role}-{name}-{lang}"
        if sideways := _scrolls_sideways(page):
            problems.append(f"{name} at 1366 px: {sideways}")
        for problem in page.evaluate(HEADER):
            problems.append(f"{name} at 1366 px: {problem}")
        page.screenshot(path=f"{shot}-1366.png", full_page=True)

        page.set_viewport_size(PHONE)
        page.evaluate(SETTLED)
        if sideways := _scrolls_sideways(page):
            problems.append(f"{name} at 390 px: {sideways}")
        for table in page.evaluate(WIDE_TABLES):
            problems.append(f"{name} at 390 px: a table wider than the screen: {table}")
        if name == "catalogue":
            top = page.evaluate(FIRST_RESULT)
            if top is None or top > FIRST_RESULT_WITHIN:
                problems.append(f"{name} at 390 px: the first result starts at {top} px")
        page.screenshot(path=f"{shot}-390.png", full_page=True)

    assert not problems, f"{role} ({lang}):\n" + "\n".join(problems)
