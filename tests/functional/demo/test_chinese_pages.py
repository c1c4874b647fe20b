"""No English in Chinese pages: every demo login (and an anonymous visitor) walks the pages it
can reach in the default language, Chinese, and no page shows a Latin word outside the
allow-list of acronyms and product names, once the demo's own data (names, e-mail addresses,
URLs, codes) are taken out. The walk starts at every GET route without parameters and follows
the links it finds, a few per endpoint, so the pages with ids (an order, a voucher, a
contract, an evaluation round) are read too. CSV exports made in Chinese have Chinese
headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.db import db
from marketplace.demo import seed
from tests.conftest import Client, demo_world

pytestmark = pytest.mark.slow

# Acronyms, standards and product names a Chinese page writes in Latin letters.
ALLOWED = {
    "MES", "PLC", "API", "OEE", "SaaS", "ERP", "WMS", "CRM", "APS", "OPC", "UA", "CSV",
    "PDF", "SLA", "KPI", "HHI", "ID", "URL", "JSON", "HTTP", "HTTPS", "Modbus", "MQTT",
    "REST", "Excel", "Stripe", "TCP", "IoT", "AI", "SCADA", "QMS", "PLM", "EHS", "SRM",
    "IT", "OT", "SQL", "OpenAPI", "Bearer", "Token", "token", "AGV", "RFID", "SMT", "CNC",
    "SPC", "OA", "BI", "HR", "Wi", "Fi", "G", "x", "Content", "Type", "Authorization",
    "GB", "T", "ISO", "IEC", "UTF", "HTML", "CSRF", "TLS", "VAT", "Email",
    "Noto", "Sans", "CJK", "SC", "DCS", "SKU", "EDI", "APP", "App", "MB", "KB", "N",
    "Lite", "Pro", "Plus", "English", "L", "GBK", "JPG", "PNG", "XLSX", "TXT", "CMMI", "AA", "IP", "KiB", "RFC", "URI", "UTC", "kWh", "PROFINET",
}  # fmt: skip

# The demo's own data in Latin letters is not the interface leaking English.
DATA_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail addresses
    re.compile(r"https?://\S+"),  # URLs
    re.compile(r"(?<![A-Za-z])/[\w/{}<>.-]*"),  # paths
    re.compile(r"\b[A-Z0-9]{2,}(?:[-_][A-Z0-9]+)+\b"),  # numbers: INV-2026-0001, ZXQ-...
    re.compile(r"\b[0-9A-Z]{18}\b"),  # unified social credit codes
    re.compile(r"\b[a-z_]+\.[a-z_]+\b"),  # action codes: voucher.revoked
    re.compile(r"\b[A-Z]{1,4}\d{6,}\b"),  # references: a bank transfer's HX2026120500010
]
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")

# Attributes a user reads (tool tips, placeholders, labels read out, button captions).
VISIBLE_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label"}
SKIP_ENDPOINTS = {
    "accounts.logout",
    "ops.healthz",
    "ops.readyz",
    "ops.metrics",
    "api_docs.openapi_json",
    "payments.stripe_webhook",
}
# Not read: scripts and styles, and code (identifiers such as action codes and API scopes)
# or what a template marks ``translate="no"`` (data and identifiers, as HTML means it).
HIDDEN_TAGS = {"script", "style", "template", "code", "kbd", "samp"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
             "source", "track", "wbr"}  # fmt: skip
PER_ENDPOINT = 3  # distinct URLs read per endpoint and login


class VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._stack: list[str] = []  # open elements whose text is not read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if (
            tag in HIDDEN_TAGS
            or values.get("translate") == "no"
            or (values.get("lang") or "zh").startswith("en")
        ):
            self._stack.append(tag)
            return
        if self._stack:
            if tag not in VOID_TAGS:
                self._stack.append("")
            return
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        for name in VISIBLE_ATTRIBUTES:
            if values.get(name):
                self.parts.append(values[name] or "")
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if self._stack and tag not in VOID_TAGS:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._stack:
            self.parts.append(data)


def english_words(text: str, data_words: set[str]) -> set[str]:
    for pattern in DATA_PATTERNS:
        text = pattern.sub(" ", text)
    return {w for w in WORD.findall(text) if w not in ALLOWED and w not in data_words}


@pytest.fixture(scope="module")
def world(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The demo dataset in a database of its own (``app``: the translations are compiled)."""
    with demo_world(tmp_path_factory, "chinese") as world_app:
        yield world_app


def demo_data_words(world: Flask) -> set[str]:
    """Latin words the demo's users typed or were given: names of organisations, people,
    packages, plans, interfaces, bundles, programmes and the like."""
    from marketplace.accounts.models import Organisation, User
    from marketplace.catalog.models import (
        CuratedBundle,
        PackageVersion,
        PricePlan,
        SearchSynonym,
    )

    words: set[str] = set()
    with world.app_context():
        columns = [
            Organisation.name,
            Organisation.contact_name,
            User.name,
            PackageVersion.title,
            PackageVersion.summary,
            PackageVersion.description,
            PackageVersion.tags,
            PricePlan.name,
            CuratedBundle.name,
            SearchSynonym.term,
            SearchSynonym.means,
        ]
        for column in columns:
            for value in db.session.scalars(select(column)):
                words |= set(WORD.findall(value or ""))
    return words


def start_paths(world: Flask) -> list[str]:
    paths = []
    for rule in world.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint in SKIP_ENDPOINTS or rule.arguments:
            continue
        if "GET" not in (rule.methods or set()) or rule.rule.startswith("/api/v1"):
            continue
        paths.append(rule.rule)
    return sorted(paths)


def draft_package(world: Flask) -> tuple[str, str]:
    """A provider's login and its draft package's page (the forms to add a plan and a data
    interface show only on a draft), which the demo logins' walks do not reach."""
    from marketplace.accounts.models import User
    from marketplace.catalog.models import PackageVersion, VersionStatus

    with world.app_context():
        version = db.session.scalars(
            select(PackageVersion)
            .where(PackageVersion.status == VersionStatus.DRAFT)
            .order_by(PackageVersion.id)
        ).first()
        assert version is not None
        user = db.session.scalars(
            select(User).where(User.org_id == version.package.provider_id).order_by(User.id)
        ).first()
        assert user is not None
        return user.email, f"/provider/packages/{version.package_id}"


def walk(
    world: Flask, client: Client, data_words: set[str], also: tuple[str, ...] = ()
) -> dict[str, set[str]]:
    """Leaks by page: the English words each page reachable by ``client`` shows (``also``:
    pages to read first)."""
    adapter = world.url_map.bind("localhost")
    queue = [*also, "/dashboard", *start_paths(world)]
    seen_urls: set[str] = set()
    per_endpoint: dict[str, int] = {}
    leaks: dict[str, set[str]] = {}
    while queue:
        url = queue.pop(0)
        parts = urlsplit(url)
        if parts.netloc or parts.scheme or not parts.path.startswith("/"):
            continue
        url = parts.path + (f"?{parts.query}" if parts.query else "")
        if url in seen_urls:
            continue
        seen_urls.add(url)
        try:
            endpoint, _args = adapter.match(parts.path, method="GET")
        except Exception:
            continue
        if endpoint in SKIP_ENDPOINTS or endpoint == "static" or parts.path.startswith("/api/v1"):
            continue
        if per_endpoint.get(endpoint, 0) >= PER_ENDPOINT:
            continue
        per_endpoint[endpoint] = per_endpoint.get(endpoint, 0) + 1
        response = client.get(url)
        if response.status_code != 200:
            continue
        if response.mimetype == "text/csv":
            header = response.get_data(as_text=True).lstrip("\ufeff").splitlines()[:1]
            found = english_words(" ".join(header), data_words)
        elif response.mimetype == "text/html":
            parser = VisibleText()
            parser.feed(response.get_data(as_text=True))
            found = english_words(" ".join(parser.parts), data_words)
            queue.extend(parser.links)
        else:
            continue
        if found:
            leaks[url] = found
    return leaks


def test_no_english_in_chinese_pages(world: Flask) -> None:
    data_words = demo_data_words(world)
    leaks: dict[str, dict[str, set[str]]] = {}
    drafting, draft = draft_package(world)
    logins = [("visitor", None), *seed.DEMO_LOGINS, ("provider with a draft", drafting)]
    for _role, email in logins:
        client = world.test_client()
        if email:
            client.login(email, seed.DEMO_PASSWORD)
        found = walk(world, client, data_words, also=(draft,) if email == drafting else ())
        if found:
            leaks[email or "visitor"] = found
    report = "\n".join(
        f"{who} {url}: {' '.join(sorted(words))}"
        for who, pages in leaks.items()
        for url, words in sorted(pages.items())
    )
    assert not leaks, report
