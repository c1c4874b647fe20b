"""An official reads the statistics and sees a market-concentration alert, opens the demand
radar and sees a category its enterprises need that no provider in its pool offers, then runs an
evaluation round: the assessor scores, the official closes the round despite a missing score,
and a provider that failed the previous round fails again and is suspended from the pool."""

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.accounts.models import Organisation
from marketplace.db import db, local_today
from marketplace.demo.oversight_seed import quarter_of
from marketplace.oversight.models import (
    ConcentrationAlert,
    EvaluationEntry,
    EvaluationRound,
    RoundStatus,
)
from marketplace.pool.models import PoolMembership, PoolStatus
from tests.e2e.key_pages import nav
from tests.e2e.test_enterprise_journey import log_in, log_out

WEIGHT_LABELS = (
    "已购企业评价",
    "效果合约达标率",
    "工单按时响应率",
    "关键工序数据采集率",
    "数字化率",
    "报告的月节省金额",
)


def _failed_last_round(live_app) -> str:
    """The provider with the lowest score among those that failed the latest closed round."""
    with live_app.app_context():
        latest = db.session.scalars(
            select(EvaluationRound)
            .where(EvaluationRound.status == RoundStatus.CLOSED)
            .order_by(EvaluationRound.period_end.desc())
        ).first()
        failed = [e for e in latest.entries if e.passed is False]
        return min(failed, key=lambda e: e.score_tenths).provider.name


def _alerted_provider(live_app) -> str:
    """The provider whose share raised an active alert in the demo (the programme's leader)."""
    with live_app.app_context():
        return db.session.scalars(
            select(Organisation.name)
            .join(ConcentrationAlert, ConcentrationAlert.provider_id == Organisation.id)
            .where(ConcentrationAlert.cleared_at.is_(None), ConcentrationAlert.kind == "share")
        ).first()


def test_oversight_journey(page: Page, live_server: str, live_app):
    base = live_server
    weak = _failed_last_round(live_app)
    leader = _alerted_provider(live_app)
    start, end = quarter_of(local_today())

    # 1. the statistics, with the market-concentration alert the demo raised
    log_in(page, base, "official@sjz.demo")
    nav(page, "统计分析")
    expect(page.locator("h1")).to_have_text("统计分析")
    alerts = page.locator("section", has=page.get_by_role("heading", name="市场集中度预警"))
    expect(alerts).to_contain_text("预警中")
    expect(alerts).to_contain_text(leader)
    expect(page.locator("#orders_category svg")).to_be_visible()
    page.get_by_label("类别", exact=True).select_option(label="能源管理")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"category=energy_management"))

    # 1b. the demand radar: where the diagnosed enterprises' needs find no provider in the pool
    nav(page, "需求雷达")
    expect(page.locator("h1")).to_have_text("需求雷达")
    gaps = page.locator("#gaps")
    expect(gaps.locator("[data-gap='no_supply']").first).to_have_text("有需求无供给")
    expect(gaps).to_contain_text("没有已入库的服务商提供")
    first_cell = page.locator("#grid td a[data-enterprises]").first
    first_cell.click()
    expect(page).to_have_url(re.compile(r"industry=\w+&district=\d{6}"))
    expect(page.locator("#detail h2")).to_contain_text("·")
    expect(page.locator("#grid td a[data-enterprises]")).to_have_count(1)  # the one cell
    nav(page, "案例库")
    expect(page.locator("h1")).to_contain_text("案例")

    # 2. a new round: the assessor's score alone decides this time
    nav(page, "考核评价")
    page.get_by_role("link", name="开启考核").click()
    page.get_by_label("考核名称").fill("2026年第4季度专项考核")
    page.get_by_label("统计起始日").fill(start.isoformat())
    page.get_by_label("统计截止日").fill(end.isoformat())
    for label in WEIGHT_LABELS:
        page.get_by_label(label, exact=True).fill("0")
    page.get_by_label("评估机构评分", exact=True).fill("90")
    page.get_by_role("button", name="开启本轮考核").click()
    expect(page.locator(".form-errors")).to_contain_text("100%")  # 90% in all: refused
    page.get_by_label("评估机构评分", exact=True).fill("100")
    page.get_by_label("所有服务商的评估机构").select_option(
        label="河北省中小企业数字化转型评估中心"
    )
    page.get_by_role("button", name="开启本轮考核").click()
    expect(page.locator(".flashes")).to_contain_text("考核已开启")
    log_out(page)

    # 3. the assessor scores the weak provider
    log_in(page, base, "assessor@assess.demo")
    nav(page, "考核评价")
    row = page.locator("tr", has_text=weak).filter(has_text="2026年第4季度专项考核")
    row.get_by_role("link", name="录入评分").click()
    page.get_by_label("评分（0–100）").fill("35")
    page.get_by_label("给服务商的评语").fill("两家企业投诉交付延期，整改未完成。")
    page.get_by_role("button", name="保存评分").click()
    expect(page.locator(".flashes")).to_contain_text("评分已保存")
    log_out(page)

    # 4. the official closes the round: warned of the missing scores, closes anyway
    log_in(page, base, "official@sjz.demo")
    nav(page, "考核评价")
    page.get_by_role("link", name="2026年第4季度专项考核").click()
    page.get_by_role("button", name="结束本轮并发布结果").click()
    expect(page.locator(".flashes")).to_contain_text("尚缺")
    page.get_by_label("仍然结束，并记录缺失的评分").check()
    page.get_by_role("button", name="结束本轮并发布结果").click()
    expect(page.locator(".flashes")).to_contain_text("结果已向服务商发布")
    expect(page.locator(".flashes")).to_contain_text(weak)
    result = page.locator("details.result", has_text=weak)
    expect(result).to_contain_text("因退出机制被暂停")

    # 5. the pool shows the suspension with its reason; the public page shows the verdicts
    nav(page, "服务商入库申请")
    page.locator("a[href$='status=suspended']").click()
    expect(page.locator("tr", has_text=weak)).to_contain_text("暂停")
    with live_app.app_context():
        sjz = db.session.scalar(
            select(Organisation.id).where(Organisation.name == "石家庄市工业和信息化局")
        )
    page.goto(f"{base}/transparency?agency={sjz}")
    expect(page.locator("body")).to_contain_text("2026年第4季度专项考核")
    with live_app.app_context():
        provider = db.session.scalar(select(Organisation).where(Organisation.name == weak))
        membership = db.session.scalar(
            select(PoolMembership).where(PoolMembership.provider_id == provider.id)
        )
        assert membership.status is PoolStatus.SUSPENDED and membership.reapply_after
        entry = db.session.scalars(
            select(EvaluationEntry)
            .where(EvaluationEntry.provider_id == provider.id)
            .order_by(EvaluationEntry.id.desc())
        ).first()
        assert entry.suspended and entry.passed is False
