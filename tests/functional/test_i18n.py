"""Chinese by default, English complete, a language switch that persists."""

from datetime import UTC, datetime

from babel.messages.pofile import read_po

from marketplace.config import PACKAGE, ROOT
from tests.factories import OrganisationFactory, UserFactory


def test_chinese_is_the_default(client, dbs):
    page = client.text("/")
    assert '<html lang="zh-CN">' in page and "转型包服务市场" in page


def test_language_switch_persists(client, dbs):
    response = client.form("/language", {"lang": "en", "next": "/login"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "lang=en" in response.headers["Set-Cookie"]
    page = client.text("/login")
    assert '<html lang="en">' in page and "Log in" in page
    assert "Transformation Package Marketplace" in client.text("/register")
    client.form("/language", {"lang": "zh"})
    assert "登录" in client.text("/login")


def test_language_switch_ignores_unknown_languages_and_foreign_next(client, dbs):
    response = client.form("/language", {"lang": "fr", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"
    assert "lang=" not in response.headers.get("Set-Cookie", "")


def test_every_message_has_a_chinese_translation():
    with (PACKAGE / "translations/zh/LC_MESSAGES/messages.po").open("rb") as source:
        catalog = read_po(source)
    missing = [
        m.id
        for m in catalog
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == [] and fuzzy == []


def test_every_message_in_the_code_is_in_the_catalogue():
    """What ``make translations`` would extract (the code and the templates, as babel.cfg
    says) is all in the Chinese catalogue: a new message cannot ship in English only."""
    from babel.messages.extract import extract_from_dir

    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "N_": None}
    keywords |= {"lazy_gettext": None, "lazy_ngettext": (1, 2)}
    method_map = [("marketplace/**.py", "python"), ("marketplace/templates/**.html", "jinja2")]
    with (PACKAGE / "translations/zh/LC_MESSAGES/messages.po").open("rb") as source:
        catalog = read_po(source)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=keywords
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    missing = sorted(m for m in found if m and m not in catalog)
    assert missing == []


def test_money_and_dates_are_shown_for_china(client, dbs):
    org = OrganisationFactory(annual_revenue_fen=123_456_789)
    user = UserFactory(org=org, email="fmt@factory.cn")
    client.login("fmt@factory.cn")
    assert "¥1,234,567.89" in client.text("/dashboard")

    user.last_login_at = datetime(2026, 1, 1, 16, 30, tzinfo=UTC)  # 00:30 next day in Shanghai
    dbs.commit()
    members = client.text("/org")
    assert "2026/1/2" in members and "00:30" in members
