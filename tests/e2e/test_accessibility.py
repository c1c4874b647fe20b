"""Accessibility and look of the key pages of every role, in Chinese and in English.

For each page (``tests/e2e/key_pages.py``): axe-core finds no "serious" or "critical"
violation at desktop width. How the same pages fit 1366 and 390 px screens, and their
screenshots for a person to look at: ``test_fits_the_screen.py``.
"""

from __future__ import annotations

import os

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import BrowserContext, Page

from tests.e2e.key_pages import ROLES, log_in, resolve

DESKTOP = {"width": 1366, "height": 900}
BLOCKING = set(os.environ.get("AXE_IMPACTS", "serious critical").split())


def _describe(violations: list[dict]) -> list[str]:
    lines = []
    for v in violations:
        node = v["nodes"][0] if v["nodes"] else {}
        lines.append(
            f"  {v['id']} [{v['impact']}] {v['help']} — {len(v['nodes'])} node(s), "
            f"first: {node.get('target')} {node.get('html', '')[:120]!r}"
        )
    return lines


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role", list(ROLES))
def test_key_pages_are_accessible(
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
        log_in(page, live_server, email)
    problems: list[str] = []
    page.set_viewport_size(DESKTOP)
    for name, target in pages:
        url = resolve(page, live_server, live_app, target)
        response = page.goto(url)
        assert response is not None and response.ok, (
            f"{url} answered {response and response.status}"
        )
        html_lang = page.locator("html").get_attribute("lang") or ""
        assert html_lang.startswith(lang), f"{url} is in {html_lang}, expected {lang}"
        violations = [v for v in axe.run(page).response["violations"] if v["impact"] in BLOCKING]
        if violations:
            problems.append(f"{name} {url}:")
            problems.extend(_describe(violations))

    assert not problems, f"{role} ({lang}):\n" + "\n".join(problems)
