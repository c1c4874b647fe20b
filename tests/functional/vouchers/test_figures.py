"""One figure everywhere: every place that shows a programme's money (its page, the list of
programmes, the monthly page and its CSV, the statistics and their CSV, the agency's home page,
/transparency and the Open API) shows what ``vouchers.figures`` computes from the ledger, for
every programme of the demo; and the figures follow the ledger through a voucher's life."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.db import db
from marketplace.demo import seed
from marketplace.vouchers import figures, ledger, spending
from marketplace.vouchers import programmes as programme_service
from marketplace.vouchers.models import ProgrammeStatus, VoucherProgramme
from tests.conftest import demo_world
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

FIGURE = re.compile(r'data-figure="(\w+)" data-fen="(-?\d+)"')


@pytest.fixture(scope="module")
def world(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The demo dataset in a database of its own (``app``: the translations are compiled)."""
    with demo_world(tmp_path_factory, "figures") as world_app:
        yield world_app


def _shown(html: str, programme_id: int) -> dict[str, int]:
    """The figures inside the element marked ``data-programme="<id>"`` of a page."""
    found: dict[str, int] = {}
    for match in re.finditer(rf'data-programme="{programme_id}"', html):
        start = match.start()
        tag = html.rfind("<", 0, start)
        name = re.match(r"<(\w+)", html[tag:]).group(1)  # type: ignore[union-attr]
        end = html.find(f"</{name}>", start)
        for figure, fen in FIGURE.findall(html[start:end]):
            assert found.get(figure, int(fen)) == int(fen), (figure, found[figure], fen)
            found[figure] = int(fen)
    return found


def _expected(f: figures.Figures, names: set[str]) -> dict[str, int]:
    return {name: getattr(f, f"{name}_fen") for name in names}


def _fen(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


def _official(agency: Organisation) -> str:
    user = db.session.scalar(
        select(User).where(User.org_id == agency.id, User.email.startswith("official@"))
    )
    assert user is not None
    return user.email


def test_every_page_shows_the_ledger_figures_of_every_demo_programme(world: Flask) -> None:
    checked: dict[str, int] = {}

    def agree(place: str, shown: dict[str, int], f: figures.Figures) -> None:
        assert shown, f"{place}: no figures found"
        assert shown == _expected(f, set(shown)), place
        checked[place.split(" ")[0]] = checked.get(place.split(" ")[0], 0) + 1

    # What the service says, read first: requests must not share this app context (and its g)
    plan = []
    with world.app_context():
        assert ledger.check() == []
        for agency in db.session.scalars(
            select(Organisation).where(Organisation.kind == OrgKind.AGENCY)
        ):
            found = list(
                db.session.scalars(
                    select(VoucherProgramme).where(VoucherProgramme.agency_id == agency.id)
                )
            )
            assert found, agency.name
            money = figures.of_programmes(found)
            on_home = {p.id for p in programme_service.programmes_of(agency)[:4]}
            plan.append(
                (
                    agency.id,
                    _official(agency),
                    [
                        (
                            p.id,
                            p.name,
                            p.status is ProgrammeStatus.DRAFT,
                            money[p.id],
                            p.id in on_home,
                        )
                        for p in found
                    ],
                )
            )

    public = world.test_client()
    api = {p["id"]: p for p in public.get("/api/v1/programmes?limit=100").get_json()["items"]}
    for agency_id, official, programmes in plan:
        client = world.test_client()
        client.login(official, seed.DEMO_PASSWORD)
        client.set_cookie("lang", "en")  # the CSV columns by the names scripts read
        listing = client.text("/agency/programmes")
        home = client.text("/dashboard")
        statistics = client.text("/agency/dashboard")
        statistics_csv = list(
            csv.DictReader(io.StringIO(client.text("/agency/dashboard/money.csv").lstrip("\ufeff")))
        )
        transparency = public.get(f"/transparency?agency={agency_id}").get_data(as_text=True)
        for pid, name, draft, f, shown_on_home in programmes:
            page = client.text(f"/agency/programmes/{pid}")
            agree(f"programme-page {name}", _shown(page, pid), f)
            agree(f"programmes-list {name}", _shown(listing, pid), f)
            monthly = client.text(f"/agency/programmes/{pid}/burn")
            agree(f"monthly-page {name}", _shown(monthly, pid), f)
            rows = list(
                csv.reader(
                    io.StringIO(client.text(f"/agency/programmes/{pid}/burn.csv").lstrip("\ufeff"))
                )
            )
            months, total = rows[1:-1], rows[-1]
            assert total[1] == "total"
            columns = ("issued", "redeemed", "settled", "returned")
            assert [_fen(v) for v in total[2:]] == [getattr(f, f"{c}_fen") for c in columns]
            for at, column in enumerate(columns, start=2):  # the months add up to the total
                assert sum(_fen(m[at]) for m in months) == getattr(f, f"{column}_fen"), column
            checked["monthly-csv"] = checked.get("monthly-csv", 0) + 1
            row = next(r for r in statistics_csv if r["programme"] == name)
            assert {k: _fen(v) for k, v in row.items() if k.endswith("_yuan")} == {
                f"{n}_yuan": getattr(f, f"{n}_fen")
                for n in ("budget", "issued", "reserved", "redeemed", "settled")
            }
            checked["statistics-csv"] = checked.get("statistics-csv", 0) + 1
            table = statistics[statistics.index('data-section="money"') :]
            table = table[: table.index("</table>")]
            line = table[table.index(f">{name}<") :]
            line = line[: line.index("</tr>")]
            agree(f"statistics {name}", {k: int(v) for k, v in FIGURE.findall(line)}, f)
            if shown_on_home:
                agree(f"home {name}", _shown(home, pid), f)
            if draft:
                assert f'data-programme="{pid}"' not in transparency
                assert pid not in api
                continue
            agree(f"transparency {name}", _shown(transparency, pid), f)
            one = public.get(f"/api/v1/programmes/{pid}").get_json()
            assert one == api[pid]
            agree(
                f"api {name}",
                {k.removesuffix("_fen"): v for k, v in one.items() if k.endswith("_fen")},
                f,
            )
    for place in (
        "programme-page",
        "programmes-list",
        "monthly-page",
        "monthly-csv",
        "statistics",
        "statistics-csv",
        "home",
        "transparency",
        "api",
    ):
        assert checked.get(place, 0) >= 2, (place, checked)


def test_the_figures_follow_a_voucher_through_its_life(app, client, dbs, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="fig")
    programme = p.programme()
    first = p.issue_to(programme)
    second = p.issue_to(programme)
    with services(app, dbs):
        spending.revoke(second, "重复发放", p.official_actor)
    accepted_order(app, dbs, p)  # the first voucher pays part of an accepted line
    with services(app, dbs):
        f = figures.of(programme)
        assert ledger.check() == []
    face = programme.face_value_fen
    assert (f.issued_fen, f.revoked_fen) == (2 * face, face)
    assert f.left_to_issue_fen == programme.budget_fen - face
    assert f.redeemed_fen > 0 and f.reserved_fen == 0 and f.settled_fen == 0
    assert f.available_fen == face - f.redeemed_fen
    assert (f.vouchers, f.holders) == (2, 1)
    dbs.refresh(first)
    assert first.available_fen == f.available_fen

    client.login(p.official.email)
    page = client.text(f"/agency/programmes/{programme.id}")
    assert _shown(page, programme.id) == _expected(f, set(_shown(page, programme.id)))
    api: dict[str, Any] = client.get(f"/api/v1/programmes/{programme.id}").get_json()
    assert (api["issued_fen"], api["revoked_fen"]) == (2 * face, face)
    assert api["agency"] == {"id": p.agency.id, "name": p.agency.name}


def test_the_public_programmes_api_pages_and_hides_drafts(app, client, dbs):
    p = pilot(app, dbs, tag="fap")
    shown = [p.programme(name=f"公开项目{n}") for n in range(3)]
    draft = p.programme(name="草稿项目", open_it=False)
    first = client.get("/api/v1/programmes?limit=2").get_json()
    assert [i["id"] for i in first["items"]] == [s.id for s in shown[:2]]
    rest = client.get(f"/api/v1/programmes?limit=2&cursor={first['next_cursor']}").get_json()
    assert [i["id"] for i in rest["items"]] == [shown[2].id] and rest["next_cursor"] is None
    assert client.get(f"/api/v1/programmes/{draft.id}").status_code == 404
    assert client.get("/api/v1/programmes/999999").status_code == 404
    bad = client.get("/api/v1/programmes?cursor=nonsense")
    assert bad.status_code == 422 and bad.content_type.startswith("application/problem+json")
