"""Demo data a user would believe (issue 20): no doubled suffix in a title or a plan's name,
bank branches spelled out in the organisation's own city, go-live days that match what the
text says, a package or bundle that promises a small price costs little, plan names that
say what the plan is, and the statistics CSV writes names, not codes, in its value cells."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind, Region
from marketplace.catalog import services as catalog
from marketplace.catalog.models import (
    Category,
    CuratedBundle,
    PackageVersion,
    PlanKind,
    PricePlan,
)
from marketplace.db import db
from marketplace.demo import seed
from marketplace.orders.models import OrderLine
from marketplace.oversight import stats
from marketplace.payments.models import Invoice
from marketplace.vouchers.models import Settlement
from tests.conftest import demo_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with demo_world(tmp_path_factory, "believable") as world_app:
        yield world_app


# 1. No doubled suffix

PAREN = re.compile(r"（[^（）]*）")


def doubled(text: str) -> bool:
    """Two bracketed notes in a row (“（标准版）（标准版）”, “（业财一体）（基础版）”) or one
    note twice."""
    notes = PAREN.findall(text)
    return bool(re.search(r"）\s*（", text)) or len(notes) != len(set(notes))


def test_the_doubled_suffix_check_finds_one() -> None:
    assert doubled("燕赵云链·行业 MES（标准版）（标准版）")
    assert doubled("云ERP·云 ERP（业财一体）（基础版）")
    assert not doubled("燕赵云链·行业专版 MES（标准版）")


def test_no_doubled_suffix_in_titles_and_plan_names(world: Flask) -> None:
    with world.app_context():
        texts = [
            *db.session.scalars(select(PackageVersion.title)),
            *db.session.scalars(select(PricePlan.name)),
            *db.session.scalars(select(CuratedBundle.name)),
            *db.session.scalars(select(OrderLine.title)),
        ]
        assert len(texts) > 300
        assert [t for t in texts if doubled(t)] == []
        # nor one product twice in a provider's list (its picker, its profile); the versions
        # of one package share its title (the demo has packages in their second version)
        rows = db.session.execute(
            select(PackageVersion.package_id, PackageVersion.title).distinct()
        ).all()
        providers = {
            v.package_id: v.package.provider_id for v in db.session.scalars(select(PackageVersion))
        }
        seen: dict[tuple[int, str], int] = {}
        for package_id, title in rows:
            key = (providers[package_id], title)
            seen[key] = seen.get(key, 0) + 1
        assert [k for k, n in seen.items() if n > 1] == []


def test_the_catalogue_page_shows_no_doubled_suffix(world: Flask) -> None:
    page = world.test_client().get("/packages?q=MES").get_data(as_text=True)
    assert "MES" in page and not re.search(r"）\s*（", page)


# 2. Bank names spelled out, the branch in the organisation's city

BANK = re.compile(
    r"^(中国工商银行|中国建设银行|中国银行|中国农业银行|交通银行|招商银行|兴业银行|"
    r"中信银行|浦发银行|民生银行|光大银行)([\u4e00-\u9fff]{2,4})分行$"
)


def _city(code: str | None) -> str:
    """The city of a registration (a credit code's division), without 市: 石家庄."""
    region = db.session.get(Region, (code or "")[2:6] + "00")
    assert region is not None, code
    return region.name_zh.removesuffix("市")


def test_bank_branches_are_spelled_out_in_the_own_city(world: Flask) -> None:
    with world.app_context():
        orgs = db.session.scalars(
            select(Organisation).where(
                Organisation.kind.in_([OrgKind.ENTERPRISE, OrgKind.PROVIDER])
            )
        ).all()
        assert orgs and all(o.bank_name and o.bank_account for o in orgs)
        wrong = []
        for org in orgs:
            match = BANK.match(org.bank_name or "")
            city = _city(org.credit_code)
            if not match or match.group(2) != city or not (org.address or "").startswith(city):
                wrong.append((org.name, org.bank_name, org.address))
        assert wrong == []
        invoices = db.session.scalars(select(Invoice)).all()
        assert invoices
        for invoice in invoices:  # the bank on an invoice is the seller's, as registered
            match = BANK.match(invoice.seller_bank_name or "")
            assert match and match.group(2) == _city(invoice.seller_credit_code), (
                invoice.seller_bank_name
            )
        settlement = db.session.scalars(select(Settlement).order_by(Settlement.id)).first()
        assert settlement is not None
        bank = settlement.provider.bank_name
        settlement_id = settlement.id
    client = world.test_client()
    client.login("official@sjz.demo", seed.DEMO_PASSWORD)
    page = client.get(f"/settlements/{settlement_id}")
    if page.status_code == 404:  # the other city's settlement
        client = world.test_client()
        client.login("official@xm.demo", seed.DEMO_PASSWORD)
        page = client.get(f"/settlements/{settlement_id}")
    assert page.status_code == 200 and bank in page.get_data(as_text=True)


# 3. What the text claims, the data hold

NUMBERS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "十": 10}
UNITS = {"天": 1, "周": 7, "个月": 30}
GO_LIVE_CLAIM = re.compile(r"(\d+|[一两二三四五六十]+)\s*(天|周|个月)\s*(?:完成|上线|交付)")
FAST = ("快速上线", "开箱即用", "即插即用")


def claimed_days(text: str) -> list[int]:
    found = []
    for number, unit in GO_LIVE_CLAIM.findall(text):
        n = int(number) if number.isdigit() else NUMBERS[number]
        found.append(n * UNITS[unit])
    return found


def test_the_claim_reader_reads_claims() -> None:
    assert claimed_days("即插即用，7 天完成设备上云。") == [7]
    assert claimed_days("两周上线") == [14]
    assert claimed_days("一个月交付") == [30]
    assert claimed_days("一个月的驻场陪跑") == []


def test_go_live_days_match_the_text(world: Flask) -> None:
    with world.app_context():
        versions = db.session.scalars(select(PackageVersion)).all()
        wrong = []
        claims = 0
        for v in versions:
            text = f"{v.title}\n{v.summary}\n{v.description}"
            days = claimed_days(text)
            claims += bool(days)
            if any(d != v.go_live_days for d in days):
                wrong.append((v.title, days, v.go_live_days))
            if any(w in text for w in FAST) and v.go_live_days > 14:
                wrong.append((v.title, "fast", v.go_live_days))
        assert claims >= 10  # the demo does make such claims
        assert wrong == []


LOW_COST = ("低成本", "小微", "入门", "轻量")


def _promises_little(title: str) -> bool:
    """A title's product (after the provider's short name) promises a small price."""
    return any(w in title.split("·", 1)[-1] for w in LOW_COST)


def test_a_package_that_promises_low_cost_is_among_the_cheapest(world: Flask) -> None:
    with world.app_context():
        rows, _n = catalog.catalogue(limit=1000)
        by_category: dict[str, list[PackageVersion]] = {}
        for v in rows:
            by_category.setdefault(v.category_code, []).append(v)
        promised = 0
        for category, versions in by_category.items():
            others = [v.entry_price_fen for v in versions if not _promises_little(v.title)]
            for v in versions:
                if _promises_little(v.title):
                    promised += 1
                    assert "基础版" in v.title, v.title
                    assert v.entry_price_fen <= min(others), (category, v.title)
        assert promised >= 5


def test_a_bundle_that_promises_low_cost_is_among_the_cheapest(world: Flask) -> None:
    with world.app_context():
        rows, _n = catalog.catalogue(limit=1000)
        prices: dict[str, list[int]] = {}
        for v in rows:
            prices.setdefault(v.category_code, []).append(v.entry_price_fen)
        bundles = db.session.scalars(select(CuratedBundle)).all()
        cheap = [b for b in bundles if _promises_little(b.name)]
        assert {b.name for b in cheap} >= {"低成本上云套餐"}
        fees = [b.integration_fee_fen for b in bundles if b not in cheap]
        for b in cheap:
            assert b.integration_fee_fen < min(fees), b.name
            for item in b.items:
                v = item.package.published_version
                assert v is not None
                quartile = sorted(prices[v.category_code])[len(prices[v.category_code]) // 4]
                assert v.entry_price_fen <= quartile, (b.name, v.title)


def test_plan_names_say_what_the_plan_is(world: Flask) -> None:
    with world.app_context():
        plans = db.session.scalars(select(PricePlan)).all()
        wrong = []
        for p in plans:
            if "年度" in p.name and not (p.kind is PlanKind.SUBSCRIPTION and p.term_months == 12):
                wrong.append((p.id, p.name))
            if "订阅" in p.name and p.kind is not PlanKind.SUBSCRIPTION:
                wrong.append((p.id, p.name))
            if ("买断" in p.name or "一次性" in p.name) and p.kind is not PlanKind.ONE_TIME:
                wrong.append((p.id, p.name))
            outcome_named = "按效果" in p.name or "按提升" in p.name
            if outcome_named and p.kind is not PlanKind.OUTCOME:
                wrong.append((p.id, p.name))
            if ("免费" in p.name or "试用" in p.name) and p.commitment_fen:
                wrong.append((p.id, p.name))
        assert wrong == []


def test_a_description_names_the_industries_the_package_serves(world: Flask) -> None:
    with world.app_context():
        for v in db.session.scalars(select(PackageVersion)):
            named = re.search(r"适用场景：(.+?)等行业", v.description or "")
            assert named, v.title
            assert set(named.group(1).split("、")) <= {i.name_zh for i in v.industries}, v.title


# 5. The statistics CSV: names in the export's language, codes in a column of their own


def _csv(client, section: str) -> list[list[str]]:
    response = client.get(f"/agency/dashboard/{section}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_the_statistics_csv_writes_names_not_codes(world: Flask) -> None:
    with world.app_context():
        categories = {c.code: (c.name_zh, c.name_en) for c in db.session.scalars(select(Category))}
    coded = [s for s in stats.SECTIONS if s not in ("money", "burn", "maturity")]
    client = world.test_client()
    client.login("official@sjz.demo", seed.DEMO_PASSWORD)
    code = re.compile(r"^[a-z_]+$|^\d{6}$")  # a code: equipment_networking, small, 130102
    for lang, slot, pattern in (("zh", 0, re.compile(r"[\u4e00-\u9fff]")), ("en", 1, None)):
        client.set_cookie("lang", lang)
        for section in coded:
            rows = _csv(client, section)
            header, body = rows[0], rows[1:]
            assert body or section == "tickets", section  # the demo's tickets may be elsewhere
            assert header[-1].endswith("代码" if lang == "zh" else "_code"), header
            for row in body:
                assert not code.match(row[0]), (lang, section, row)
                assert code.match(row[-1]), (lang, section, row)
                if pattern is not None:
                    assert pattern.search(row[0]), (section, row)
            if section == "orders_category":
                names = {row[-1]: row[0] for row in body}
                assert names and all(
                    names[c] == categories[c][slot] for c in names if c in categories
                )


# 4. A story told over months: nothing in the future, nothing before its cause


def test_the_demo_history_happens_in_order_and_in_the_past(world: Flask) -> None:
    from datetime import UTC, datetime, timedelta

    from marketplace.db import LOCAL_ZONE
    from marketplace.orders.models import LineStatusChange, Order
    from marketplace.oversight.models import KpiReport
    from marketplace.vouchers.models import EntryKind, Voucher, VoucherEntry, VoucherProgramme

    now = datetime.now(UTC)
    with world.app_context():
        lines = db.session.scalars(select(OrderLine)).all()
        assert {line.created_at.date() for line in lines} != {now.date()}  # not all today
        late = [
            line.id
            for line in lines
            for moment in (line.created_at, line.delivered_at, line.accepted_at)
            if moment is not None and moment > now
        ]
        assert late == []
        for order in db.session.scalars(select(Order)):
            placed = order.created_at.astimezone(LOCAL_ZONE)
            assert order.number.startswith(f"ZX{placed:%Y%m%d}-"), order.number
            for line in order.lines:  # the lines are placed with their order
                assert abs(line.created_at - order.created_at) < timedelta(minutes=1)
        placed_at = {line.id: line.created_at for line in lines}
        for change in db.session.scalars(select(LineStatusChange)):
            assert placed_at[change.line_id] <= change.at <= now, change.line_id
        for line in lines:
            if line.delivered_at is not None and line.accepted_at is not None:
                assert line.delivered_at <= line.accepted_at, line.id
            for m in line.milestones:
                assert m.due_on >= line.created_at.astimezone(LOCAL_ZONE).date(), line.id
                if m.done_at is not None:
                    assert line.created_at <= m.done_at <= now, line.id
        # a voucher is issued before any of it is reserved, and the expired programme's
        # vouchers expired after its redeem-by date
        entries = db.session.scalars(select(VoucherEntry).order_by(VoucherEntry.id)).all()
        issued = {e.voucher_id: e.at for e in entries if e.kind is EntryKind.ISSUE}
        for e in entries:
            assert e.at <= now
            if e.kind is not EntryKind.ISSUE:
                assert e.at >= issued[e.voucher_id], (e.kind, e.voucher_id)
            if e.kind is EntryKind.EXPIRE:
                voucher = db.session.get(Voucher, e.voucher_id)
                assert voucher is not None
                programme = db.session.get(VoucherProgramme, voucher.programme_id)
                assert programme is not None
                assert e.at.astimezone(LOCAL_ZONE).date() > programme.redeem_by
        # a month of use is reported for a line the enterprise has accepted by then
        for report in db.session.scalars(select(KpiReport)):
            line = db.session.get(OrderLine, report.line_id)
            assert line is not None and line.accepted_at is not None
            accepted = line.accepted_at.astimezone(LOCAL_ZONE).date().replace(day=1)
            assert report.month >= accepted, (line.id, report.month)


def test_the_pool_and_the_catalogue_have_their_history_in_order(world: Flask) -> None:
    from datetime import UTC, datetime

    from marketplace.db import LOCAL_ZONE
    from marketplace.oversight.models import EvaluationRound
    from marketplace.pool.models import PoolMembership, PoolStatus

    now = datetime.now(UTC)
    with world.app_context():
        for m in db.session.scalars(select(PoolMembership)):
            moments = [h.at for h in sorted(m.history, key=lambda h: h.id)]
            assert moments == sorted(moments) and moments[-1] <= now, m.id
            assert m.applied_at == moments[0]
            if m.status is PoolStatus.APPLIED:  # an application waits days, not months
                assert (now - m.applied_at).days <= 30, m.id
        for v in db.session.scalars(select(PackageVersion)):
            if v.published_at is not None:
                assert v.package.created_at <= v.published_at <= now, v.title
        rounds = db.session.scalars(select(EvaluationRound)).all()
        assert rounds
        for r in rounds:  # opened after its period, closed after it was opened
            assert r.opened_at.astimezone(LOCAL_ZONE).date() > r.period_end
            assert r.closed_at is not None and r.opened_at < r.closed_at <= now


def test_a_bundle_that_says_its_data_flow_passes_the_interoperability_check(
    world: Flask,
) -> None:
    from marketplace.orders import bundles

    with world.app_context():
        curated = db.session.scalars(select(CuratedBundle)).all()
        assert curated
        for c in curated:
            lines = [bundles.Line(None, i.package.published_version, True) for i in c.items]  # type: ignore[arg-type]
            if any(w in c.summary for w in ("数据打通", "无缝对接", "数据互通")):
                assert bundles.interoperability(lines).ok, c.name


def test_settlements_come_after_what_they_settle(world: Flask) -> None:
    from datetime import UTC, datetime

    from marketplace.vouchers.models import Reservation

    now = datetime.now(UTC)
    with world.app_context():
        settlements = db.session.scalars(select(Settlement)).all()
        assert settlements
        for s in settlements:
            redeemed = db.session.scalars(
                select(Reservation.redeemed_at).where(Reservation.settlement_id == s.id)
            ).all()
            assert redeemed and all(r is not None and r < s.created_at for r in redeemed)
            for later in (s.approved_at, s.paid_at):
                assert later is None or s.created_at < later <= now, s.id
