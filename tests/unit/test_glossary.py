"""One word for one thing: wherever an English message names a domain term of the glossary
(``marketplace/translations/glossary.csv``), its Chinese translation uses the glossary's
Chinese term (or one of the variants the glossary accepts)."""

from __future__ import annotations

import csv
import re

from babel.messages.pofile import read_po

from marketplace.config import PACKAGE

GLOSSARY = PACKAGE / "translations/glossary.csv"
CATALOGUE = PACKAGE / "translations/zh/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")  # a name filled in says the term itself

# Messages that name a term without needing its Chinese word, each for a reason.
EXCEPTIONS = {
    # the site's description: "transformation packages" is the marketplace itself (服务市场)
    ("package", "A marketplace of lightweight digital-transformation packages"),
    # the diagnosis proposes a bundle of packages: 组合方案 names it
    ("package", "Fourteen questions, about ten minutes."),
    # a voucher batch is 批量发放 (issuing in a batch); the page is about vouchers already
    ("voucher", "Proposed voucher batch cancelled"),
    ("voucher", "Voucher batch approved and issued"),
    ("voucher", "Voucher batch proposed for approval"),
    ("voucher", "Approve or cancel the voucher batch"),
    # the status of a programme open for vouchers: 开放中
    ("voucher", "Open for vouchers"),
    # an example of an action code, kept in English on purpose
    ("voucher", "Action (its name or code, e.g. settlement, voucher.revoked)"),
    # "eligible enterprise waiting for a voucher": 尚未领券 says it
    ("voucher", "No eligible enterprise is waiting for a voucher."),
    # "redeem by" a date is the redeem-by date (兑付截止日), not a redemption
    ("redeem", "Redeem by"),
    ("redeem", "redeem by %(date)s"),
}


def glossary() -> list[dict[str, str]]:
    with GLOSSARY.open(encoding="utf-8") as source:
        return list(csv.DictReader(source))


def pattern(term: str) -> re.Pattern[str]:
    """The term and its plural, as a whole word, not the start of a compound ("redeem-by")."""
    words = re.escape(term).replace(r"\ ", r"\s+")
    if term.endswith("y"):
        words = words[:-1] + "(?:y|ies)"
    else:
        words += "(?:s|es)?"
    return re.compile(rf"(?<![\w-]){words}(?![\w-])", re.IGNORECASE)


def test_the_glossary_is_well_formed():
    rows = glossary()
    assert len(rows) >= 30
    assert all(r["english"] and r["chinese"] and r["checked"] in {"yes", "no"} for r in rows)
    assert len({r["english"] for r in rows}) == len(rows)
    assert all(re.search(r"[\u4e00-\u9fff]", r["chinese"]) for r in rows)


def test_the_catalogue_uses_the_glossarys_words():
    with CATALOGUE.open("rb") as source:
        catalogue = read_po(source)
    wrong = []
    for row in glossary():
        if row["checked"] != "yes":
            continue
        term = pattern(row["english"])
        accepted = [row["chinese"], *filter(None, row["also"].split(";"))]
        for message in catalogue:
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not any(term.search(PLACEHOLDER.sub("", i)) for i in ids):
                continue
            if any(ids[0].startswith(start) for key, start in EXCEPTIONS if key == row["english"]):
                continue
            if not all(any(word in s for word in accepted) for s in strings):
                wrong.append(f"{row['english']} → {row['chinese']}: {ids[0]!r} = {strings[0]!r}")
    assert wrong == [], "\n".join(wrong)


def test_no_word_the_glossary_rules_out():
    """Words for the same thing that the glossary replaced."""
    with CATALOGUE.open("rb") as source:
        catalogue = read_po(source)
    ruled_out = ("成效费", "效果费", "服务包", "发票", "暂停出库", "测量数据", "集成商")
    found = [
        (m.id, m.string) for m in catalogue if m.id and any(w in str(m.string) for w in ruled_out)
    ]
    assert found == []
