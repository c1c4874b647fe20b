"""The concentration figures kept per process under the programme's money stamp: every write
that moves what they are computed from shows on the next view, and the kept figures are
always the computed ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from marketplace.catalog import freshness
from marketplace.catalog.models import CatalogueStamp
from marketplace.db import db
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent
from marketplace.oversight import concentration
from marketplace.vouchers import ledger
from marketplace.vouchers.models import Reservation, ReservationStatus, RiskFlag
from tests.functional.catalog_helpers import services
from tests.functional.oversight.test_concentration_figures import as_tuples
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import ACCEPTED, accepted_order, move, the_line


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="fresh")


def money_token(dbs, programme):
    return dbs.scalar(
        select(CatalogueStamp.token).where(CatalogueStamp.scope == freshness.money(programme.id))
    )


def page_figures(app, dbs, programme):
    """What the page and /transparency are given (kept), checked against a computation."""
    with services(app, dbs):
        kept = concentration.markets(programme)
        overall = concentration.markets(programme, shown=0)
        routing = concentration.by_routing_integrator(programme)
        assert as_tuples(kept) == as_tuples(concentration.computed_markets(programme))
        assert as_tuples(overall) == as_tuples(concentration.computed_markets(programme, 0))
        assert routing == concentration.computed_routing(programme)
        assert concentration.markets(programme) is kept  # kept: not computed again
    return kept


def provider_share(found, provider):
    overall = [m for m in found if m.category == concentration.ALL]
    if not overall:
        return None
    return {s.provider.id: s.value_fen for s in overall[0].shares}.get(provider.id)


def test_each_write_of_redeemed_money_shows_on_the_next_view(app, dbs, p, client):
    programme = p.programme()
    p.issue_to(programme)
    assert page_figures(app, dbs, programme) == []
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    # a reservation is not redeemed money: nothing to compute again
    assert money_token(dbs, programme) is None
    assert page_figures(app, dbs, programme) == []
    line = the_line(dbs, p.enterprise)
    move(app, dbs, line, *ACCEPTED)  # the redemption (held by a fast-delivery flag)
    redeemed = money_token(dbs, programme)
    assert redeemed is not None
    assert provider_share(page_figures(app, dbs, programme), p.provider) == 20_000_00
    client.login("official@fresh.cn")
    page = client.text(f"/agency/programmes/{programme.id}/concentration")
    assert p.provider.name in page and "100.0%" in page

    # the provider's new name is on the kept figures (the providers' stamp)
    p.provider.name = "新名字科技有限公司"
    dbs.commit()
    assert "新名字科技有限公司" in client.text(f"/agency/programmes/{programme.id}/concentration")
    page_figures(app, dbs, programme)

    # a claw-back takes the money out of the market
    flag = dbs.scalars(select(RiskFlag)).first()
    p.claw_back(flag, "交付时间不合理")
    assert money_token(dbs, programme) not in (None, redeemed)
    assert page_figures(app, dbs, programme) == []
    assert p.provider.name not in client.text(f"/agency/programmes/{programme.id}/concentration")


def test_a_release_leaves_the_kept_figures_alone(app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    kept = page_figures(app, dbs, programme)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    move(app, dbs, the_line(dbs, p.enterprise), LineEvent.CANCEL)  # reserved, then released
    assert dbs.scalars(select(Reservation.status)).all().count(ReservationStatus.RELEASED) == 1
    assert money_token(dbs, programme) is None
    assert page_figures(app, dbs, programme) is kept


def redeemed(app, dbs, p):
    """A programme with one redeemed line, its figures kept: (programme, figures, money token,
    the reservation)."""
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    kept = page_figures(app, dbs, programme)
    return programme, kept, money_token(dbs, programme), dbs.scalars(select(Reservation)).one()


def test_a_redeemed_reservation_written_through_the_orm_stamps_its_programme(app, dbs, p):
    programme, found, before, reservation = redeemed(app, dbs, p)
    reservation.amount_fen -= 1  # (not what the services do: the listener's case)
    dbs.commit()
    assert money_token(dbs, programme) != before
    assert provider_share(page_figures(app, dbs, programme), p.provider) == 20_000_00 - 1
    assert page_figures(app, dbs, programme) is not found


def test_the_stamp_is_written_at_commit_and_survives_a_savepoint_rolled_back(app, dbs, p):
    programme, kept, before, reservation = redeemed(app, dbs, p)
    with services(app, dbs):
        assert ledger.move_reservation(
            reservation, ReservationStatus.REDEEMED, ReservationStatus.CLAWED_BACK
        )
        # not written yet (the stamp's row is taken at commit), but this transaction's own
        # view is computed, not the kept figures
        assert money_token(dbs, programme) == before
        assert concentration.markets(programme) == []
        with pytest.raises(RuntimeError), db.session.begin_nested():
            ledger.money_moved(programme.id)
            raise RuntimeError
    assert money_token(dbs, programme) != before  # the savepoint's end did not drop it
    assert page_figures(app, dbs, programme) == [] != kept


def test_reservations_change_status_only_through_the_ledger():
    """Every bulk UPDATE of reservations that sets a status goes through
    ``ledger.move_reservation``, which stamps the programme's money."""
    root = Path(concentration.__file__).parents[1]
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for found in re.finditer(
            r"update\(Reservation\)(.{0,600}?)\.values\(([^)]*)\)", text, re.S
        ):
            if path.name == "ledger.py" and "status=after" in found.group(2):
                continue
            assert "status" not in found.group(2), f"{path}: {found.group(0)[:200]}"
