"""The integrator's package picker (curated bundles) lists each package once, by its current
version, with its provider; packages that share a title are told apart."""

import re
from dataclasses import replace

from marketplace.catalog import services as catalog
from marketplace.security import Actor
from tests.functional.catalog_helpers import (
    FIELDS,
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)

TITLE = "设备联网网关套件（标准版）"


def options(page):
    """The picker's entries: (package id, label)."""
    return [
        (int(value), label.strip())
        for value, label in re.findall(
            r'name="package_ids"[^>]*value="(\d+)"[^>]*> <span>([^<]+)</span>', page
        )
    ]


def test_each_package_once_by_its_current_version_with_its_provider(app, client, dbs):
    agency, _ = agency_with_official("o@pick.cn")
    integrator, _ = provider_with_owner("i@pick.cn", integrator=True)
    a, a_owner = provider_with_owner("a@pick.cn")
    b, b_owner = provider_with_owner("b@pick.cn")
    for org in (integrator, a, b):
        membership(dbs, org, agency)
    of_a = published_package(app, dbs, a, a_owner, title=TITLE)
    of_b = published_package(app, dbs, b, b_owner, title=TITLE)
    # a's package gets a second version with a new title: only that one is listed.
    actor = Actor(a_owner.id, a.id, "127.0.0.1")
    with services(app, dbs):
        catalog.new_version(of_a, actor)
        catalog.update_draft(of_a, replace(FIELDS, title=f"{TITLE} 二代"), actor)
        catalog.submit(of_a, actor)
        catalog.publish(of_a, actor)
    client.login("i@pick.cn")
    # of_b is ticked and found again by the search: still listed once.
    page = client.form(
        "/provider/bundles/new",
        {"action": "find", "find": "网关", "package_ids": [str(of_b.id)]},
    ).get_data(as_text=True)
    found = options(page)
    assert [pid for pid, _ in found].count(of_b.id) == 1
    assert dict(found) == {
        of_b.id: f"{TITLE}（第 1 版）· {b.name}",
        of_a.id: f"{TITLE} 二代（第 2 版）· {a.name}",
    }
    assert len({label for _, label in found}) == len(found)


def test_one_providers_packages_of_the_same_title_are_told_apart(app, client, dbs):
    agency, _ = agency_with_official("o2@pick.cn")
    integrator, _ = provider_with_owner("i2@pick.cn", integrator=True)
    a, a_owner = provider_with_owner("a2@pick.cn")
    for org in (integrator, a):
        membership(dbs, org, agency)
    first = published_package(app, dbs, a, a_owner, title=TITLE)
    second = published_package(app, dbs, a, a_owner, title=TITLE)
    other = published_package(app, dbs, a, a_owner, title="扫码出入库")
    client.login("i2@pick.cn")
    found = dict(options(client.text("/provider/bundles/new")))
    assert found[first.id] == f"{TITLE}（第 1 版）· {a.name} · 转型包编号 {first.id}"
    assert found[second.id] == f"{TITLE}（第 1 版）· {a.name} · 转型包编号 {second.id}"
    assert found[other.id] == f"扫码出入库（第 1 版）· {a.name}"  # no twin: no number
    client.form("/language", {"lang": "en"})
    english = dict(options(client.text("/provider/bundles/new")))
    assert english[first.id] == f"{TITLE} (version 1) · {a.name} · package no. {first.id}"
