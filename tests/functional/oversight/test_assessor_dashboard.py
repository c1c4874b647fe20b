"""The assessor's workspace (issue 20): a dashboard counting what waits (measurements to
verify, providers to score, rounds, data grants), each count linking to its list."""

from __future__ import annotations

import re

import pytest

from marketplace.outcomes import services as outcomes
from marketplace.oversight import evaluation
from tests.functional.catalog_helpers import services
from tests.functional.outcomes.test_outcomes import SYSTEM, measuring, reading
from tests.functional.oversight.test_evaluation import terms
from tests.functional.voucher_helpers import pilot


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="asd")


def counts(page):
    found = re.findall(
        r'<a class="stat[^"]*" href="([^"]+)" data-count="(\w+)"><span class="stat-value">(\d+)<',
        page,
    )
    return {name: (int(n), href) for href, name, n in found}


def test_an_empty_dashboard_counts_zero(client, assessor):
    client.login("assessor@eval.cn")
    page = client.text("/dashboard")
    assert counts(page) == {
        "to_verify": (0, "/contracts"),
        "to_score": (0, "/assessor/evaluations?status=open"),
        "open_rounds": (0, "/assessor/evaluations?status=open"),
        "closed_rounds": (0, "/assessor/evaluations?status=closed"),
        "shared": (0, "/shared-data"),
    }


def test_the_dashboard_counts_what_waits_and_links_to_it(app, client, dbs, p, assessor):
    _line, contract = measuring(app, dbs, p)
    with services(app, dbs):
        m, _ = outcomes.submit(contract, reading(1, "70"), SYSTEM)
        outcomes.dispute(m, "数据有误", SYSTEM)
        rnd = evaluation.open_round(p.agency, terms(1), assessor[0].id, p.official_actor)
    client.login("assessor@eval.cn")
    page = client.text("/dashboard")
    found = counts(page)
    assert found["to_verify"][0] == 1 and found["to_score"][0] == len(rnd.entries) == 1
    assert found["open_rounds"][0] == 1 and found["closed_rounds"][0] == 0
    # each count leads to the list holding what it counts
    assert contract.title in client.text(found["to_verify"][1])
    assert p.provider.name in client.text(found["to_score"][1])
    # the counts are the to-do list's: the same number of items below
    assert page.count('data-todo="measurement_disputed"') == 1
    assert page.count('data-todo="evaluation_to_score"') == 1
    with services(app, dbs):
        outcomes.verify(m, True, "核实属实", SYSTEM)
    assert counts(client.text("/dashboard"))["to_verify"][0] == 0


def test_the_dashboard_in_english(english, assessor):
    english.login("assessor@eval.cn")
    page = english.text("/dashboard")
    assert "Measurements to verify" in page and "Providers to score" in page
