"""The provider's statement shows what it is asked to repay (recovery claims) beside the
settlements paid to it, and only its own."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.vouchers import settlement
from marketplace.vouchers.models import Reservation
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

REASON = "虚假交付：现场核查无部署记录"


@pytest.fixture
def claimed(app, dbs, monkeypatch):
    """A redemption settled and paid to the provider, then clawed back: a recovery claim."""
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="stm")
    voucher = p.issue_to(p.programme())
    accepted_order(app, dbs, p)
    reservation = dbs.scalars(select(Reservation)).one()
    with services(app, dbs):
        s = settlement.draw_up(voucher.programme, p.provider.id, p.official_actor)
        settlement.approve(s, s.total_fen, "已核对", p.official2_actor)
        settlement.mark_paid(s, "HX-PAID-7", p.official_actor)
        dbs.refresh(reservation)
        claim = settlement.claim_recovery(reservation, REASON, p.official_actor)
    dbs.commit()
    return p, s, claim


def test_the_provider_reads_what_it_must_repay(client, app, dbs, claimed):
    p, s, claim = claimed
    client.login(p.provider_owner.email)
    text = client.text("/provider/settlements")
    section = text[text.index('id="recovery-claims"') :]
    assert "待您退回的款项" in section
    assert s.number in section and REASON in section and "20,000.00" in section
    assert "待服务商退还" in section
    with services(app, dbs):
        settlement.mark_recovered(claim, "HX-BACK-7", p.official_actor)
    dbs.commit()
    again = client.text("/provider/settlements")
    assert "HX-BACK-7" in again[again.index('id="recovery-claims"') :]


def test_another_provider_sees_no_claim(client, app, dbs, claimed):
    other = pilot(app, dbs, tag="stm-other")
    client.login(other.provider_owner.email)
    text = client.text("/provider/settlements")
    assert 'id="recovery-claims"' not in text and REASON not in text
