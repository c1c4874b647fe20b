"""Four eyes on large voucher batches (issue 16): a batch (or CSV list) above the programme's
threshold is stored as a proposal of its exact holders, with no voucher and no budget taken;
another official of the agency approves it with a note for the total their page showed, and
then it is issued as a batch at once would be. The proposer never approves their own (the
database refuses it too); anything changed since the proposal refuses the approval; every
refusal stores nothing. At or below the threshold a batch issues at once, as before."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from marketplace.audit import AuditEntry
from marketplace.errors import DomainError
from marketplace.security import Actor
from marketplace.vouchers import issuing, programmes
from marketplace.vouchers.models import (
    EntryKind,
    IssueRun,
    RunItem,
    RunStatus,
    Voucher,
    VoucherEntry,
    VoucherProgramme,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import key, pilot
from tests.functional.vouchers.test_vouchers import books_balance, csv_bytes, en

FACE = 20_000_00
OWN = "another official of your agency must approve it"
OWN_ZH = "须由本单位另一名工作人员批准"
NOTE = "首批：全部符合条件的企业，名单已核对。"


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="quad")


@pytest.fixture
def others(dbs, p):
    """Two more eligible enterprises: with the pilot's own, three (¥60,000 at ¥20,000)."""
    return [OrganisationFactory(), OrganisationFactory()]


@pytest.fixture
def programme(p, others):
    """Batches above ¥40,000 (two vouchers) need a second official."""
    return p.programme(batch_approval_threshold_fen=2 * FACE)


@pytest.fixture
def proposal(app, dbs, p, programme):
    with services(app, dbs):
        return issuing.issue_batch(programme, key(), p.official_actor, NOTE)


def count(dbs, model):
    return dbs.scalar(select(func.count()).select_from(model))


def actions(dbs, action):
    return dbs.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def nothing_issued(dbs, run, programme):
    """The proposal is as it was: proposed, no approver, no voucher, no budget taken."""
    dbs.refresh(run)
    dbs.refresh(programme)
    assert run.status is RunStatus.PROPOSED
    assert (run.approved_by_id, run.approval_note, run.approved_at) == (None, None, None)
    assert programme.issued_fen == 0
    assert count(dbs, Voucher) == 0 and count(dbs, VoucherEntry) == 0
    assert actions(dbs, "vouchers.batch_approved") == []


def third_official(p):
    user = UserFactory(org=p.agency, email="official3@quad.cn")
    return Actor(user.id, p.agency.id, None)


# --- proposing ------------------------------------------------------------------------


def test_a_batch_at_the_threshold_issues_at_once(app, dbs, p, others):
    programme = p.programme(batch_approval_threshold_fen=3 * FACE)  # ¥60,000: not above
    with services(app, dbs):
        run = issuing.issue_batch(programme, key(), p.official_actor)
    assert run.status is RunStatus.ISSUED and run.proposed_by_id is None
    assert (run.count, run.total_fen) == (3, 3 * FACE)
    dbs.refresh(programme)
    assert programme.issued_fen == 3 * FACE and count(dbs, Voucher) == 3
    assert count(dbs, RunItem) == 0 and actions(dbs, "vouchers.batch_proposed") == []
    assert len(actions(dbs, "vouchers.issued")) == 1
    books_balance(app, dbs)


def test_a_batch_above_the_threshold_is_a_proposal_and_issues_nothing(app, dbs, p, programme):
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.issue_batch(programme, key(), p.official_actor, "  ")
    assert refused.value.field == "note" and "¥40,000.00" in en(refused.value.message)
    assert count(dbs, IssueRun) == 0  # refused: nothing stored

    once = key()
    with services(app, dbs):
        run = issuing.issue_batch(programme, once, p.official_actor, f"  {NOTE} ")
    assert run.status is RunStatus.PROPOSED
    assert (run.count, run.total_fen) == (3, 3 * FACE)
    assert (run.proposed_by_id, run.proposal_note) == (p.official.id, NOTE)
    assert count(dbs, RunItem) == 3
    nothing_issued(dbs, run, programme)
    entry = actions(dbs, "vouchers.batch_proposed")[0]
    assert entry.actor_user_id == p.official.id
    assert (entry.details["count"], entry.details["total_fen"], entry.details["note"]) == (
        3,
        3 * FACE,
        NOTE,
    )
    with services(app, dbs):  # the same form again: the same proposal
        again = issuing.issue_batch(programme, once, p.official_actor, NOTE)
    assert again.id == run.id and count(dbs, IssueRun) == 1


def test_the_proposal_stores_exactly_its_holders(app, dbs, p, others, proposal):
    held = set(dbs.scalars(select(RunItem.enterprise_id).where(RunItem.run_id == proposal.id)))
    assert held == {p.enterprise.id, *(o.id for o in others)}
    with pytest.raises(IntegrityError), dbs.begin_nested():  # once per run and enterprise
        dbs.add(RunItem(run_id=proposal.id, enterprise_id=p.enterprise.id, seq=1))
        dbs.flush()


def test_a_proposal_the_budget_does_not_cover_is_refused(app, dbs, p, others):
    programme = p.programme(budget_fen=2 * FACE, batch_approval_threshold_fen=FACE)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.issue_batch(programme, key(), p.official_actor, NOTE)
    assert "budget" in en(refused.value.message)
    assert count(dbs, IssueRun) == 0 and count(dbs, RunItem) == 0


# --- approving ------------------------------------------------------------------------


def test_the_proposer_cannot_approve_their_own_batch(app, dbs, p, programme, proposal):
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(proposal, proposal.total_fen, "自己批准", p.official_actor)
    assert OWN in en(refused.value.message)
    nothing_issued(dbs, proposal, programme)


def test_another_agencys_official_cannot_approve(app, dbs, p, programme, proposal):
    elsewhere = pilot(app, dbs, tag="quad-other").official2
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(
            proposal, proposal.total_fen, "已核对", Actor(elsewhere.id, elsewhere.org_id, None)
        )
    assert "same organisation" in en(refused.value.message)
    with services(app, dbs), pytest.raises(DomainError):
        issuing.cancel_batch(proposal, "不是我们的", Actor(elsewhere.id, elsewhere.org_id, None))
    nothing_issued(dbs, proposal, programme)


def test_an_approval_needs_a_note_and_the_total_shown(app, dbs, p, programme, proposal):
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(proposal, proposal.total_fen, "   ", p.official2_actor)
    assert refused.value.field == "note"
    nothing_issued(dbs, proposal, programme)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(proposal, proposal.total_fen - FACE, "已核对", p.official2_actor)
    assert "not the one you saw" in en(refused.value.message)
    nothing_issued(dbs, proposal, programme)


def test_the_second_official_approves_and_the_batch_is_issued(
    app, dbs, p, others, programme, proposal
):
    with services(app, dbs):
        issuing.approve_batch(proposal, 3 * FACE, "  已核对名单与合计金额  ", p.official2_actor)
    dbs.refresh(proposal)
    dbs.refresh(programme)
    assert proposal.status is RunStatus.ISSUED
    assert (proposal.proposed_by_id, proposal.approved_by_id) == (p.official.id, p.official2.id)
    assert proposal.approval_note == "已核对名单与合计金额" and proposal.approved_at is not None
    # as a batch issued at once: the budget, one voucher per holder, one ledger entry each
    assert programme.issued_fen == 3 * FACE
    vouchers = dbs.scalars(select(Voucher).where(Voucher.run_id == proposal.id)).all()
    assert {v.enterprise_id for v in vouchers} == {p.enterprise.id, *(o.id for o in others)}
    assert all(v.face_value_fen == FACE and v.seq == 1 for v in vouchers)
    entries = dbs.scalars(select(VoucherEntry)).all()
    assert len(entries) == 3 and {e.kind for e in entries} == {EntryKind.ISSUE}
    assert {e.actor_user_id for e in entries} == {p.official2.id}
    assert (proposal.count, proposal.total_fen) == (3, 3 * FACE)
    approved = actions(dbs, "vouchers.batch_approved")
    assert len(approved) == 1 and approved[0].actor_user_id == p.official2.id
    assert approved[0].details["proposed_by"] == p.official.id
    assert approved[0].details["note"] == "已核对名单与合计金额"
    assert len(actions(dbs, "vouchers.issued")) == 1
    books_balance(app, dbs)


def test_approving_twice_is_refused_and_keeps_the_first(app, dbs, p, programme, proposal):
    with services(app, dbs):
        issuing.approve_batch(proposal, proposal.total_fen, "第一次", p.official2_actor)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(proposal, proposal.total_fen, "第二次", third_official(p))
    assert "already approved" in en(refused.value.message)
    dbs.refresh(proposal)
    assert (proposal.approved_by_id, proposal.approval_note) == (p.official2.id, "第一次")
    assert count(dbs, Voucher) == 3 and len(actions(dbs, "vouchers.batch_approved")) == 1


def test_an_enterprise_given_a_voucher_meanwhile_refuses_the_approval(
    app, dbs, p, others, programme, proposal
):
    with services(app, dbs):
        issuing.issue_one(programme, others[0].credit_code, key(), p.official_actor)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(proposal, proposal.total_fen, "已核对", p.official2_actor)
    message = en(refused.value.message)
    assert "changed since it was proposed" in message and others[0].name in message
    assert "1 of its enterprises got a voucher" in message
    dbs.refresh(proposal)
    dbs.refresh(programme)
    assert proposal.status is RunStatus.PROPOSED and proposal.approved_by_id is None
    assert programme.issued_fen == FACE and count(dbs, Voucher) == 1  # only the single one
    assert actions(dbs, "vouchers.batch_approved") == []
    # cancelled with a reason, then proposed again: the two left and a newcomer
    with services(app, dbs):
        issuing.cancel_batch(proposal, "名单已变化，重新提交", p.official_actor)
    newcomer = OrganisationFactory()
    with services(app, dbs):
        again = issuing.issue_batch(programme, key(), p.official_actor, NOTE)
    assert again.status is RunStatus.PROPOSED and again.count == 3
    held = set(dbs.scalars(select(RunItem.enterprise_id).where(RunItem.run_id == again.id)))
    assert held == {p.enterprise.id, others[1].id, newcomer.id}
    with services(app, dbs):
        issuing.approve_batch(again, again.total_fen, "已核对", p.official2_actor)
    assert count(dbs, Voucher) == 4
    books_balance(app, dbs)


def test_an_enterprise_no_longer_eligible_refuses_the_approval(app, dbs, p, others):
    programme = p.programme(industry_codes=["machining"], batch_approval_threshold_fen=FACE)
    with services(app, dbs):
        run = issuing.issue_batch(programme, key(), p.official_actor, NOTE)
    others[1].industry_code = "textile"  # its profile changed after the proposal
    dbs.commit()
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(run, run.total_fen, "已核对", p.official2_actor)
    message = en(refused.value.message)
    assert "no longer eligible" in message and others[1].name in message
    nothing_issued(dbs, run, programme)


def test_a_lowered_budget_or_a_closed_programme_refuses_the_approval(
    app, dbs, p, programme, proposal
):
    with services(app, dbs):
        programmes.change_budget(programme, 2 * FACE, p.official_actor)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(proposal, proposal.total_fen, "已核对", p.official2_actor)
    assert "does not cover" in en(refused.value.message)
    nothing_issued(dbs, proposal, programme)
    with services(app, dbs):
        programmes.change_budget(programme, 10 * FACE, p.official_actor)
        programmes.close_programme(programme, p.official_actor)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(proposal, proposal.total_fen, "已核对", p.official2_actor)
    assert "only while the programme is open" in en(refused.value.message)
    nothing_issued(dbs, proposal, programme)


# --- cancelling -----------------------------------------------------------------------


def test_a_proposal_is_cancelled_with_a_reason(app, dbs, p, programme, proposal):
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.cancel_batch(proposal, "  ", p.official2_actor)
    assert refused.value.field == "reason"
    nothing_issued(dbs, proposal, programme)
    with services(app, dbs):
        issuing.cancel_batch(proposal, "名单需区县复核", p.official2_actor)
    dbs.refresh(proposal)
    assert proposal.status is RunStatus.CANCELLED
    assert (proposal.cancelled_by_id, proposal.cancel_reason) == (p.official2.id, "名单需区县复核")
    entry = actions(dbs, "vouchers.batch_cancelled")[0]
    assert entry.details["reason"] == "名单需区县复核"
    assert entry.details["proposed_by"] == p.official.id
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.approve_batch(proposal, proposal.total_fen, "已核对", p.official2_actor)
    assert "cancelled" in en(refused.value.message)
    with services(app, dbs), pytest.raises(DomainError):
        issuing.cancel_batch(proposal, "再取消一次", p.official_actor)
    assert count(dbs, Voucher) == 0 and len(actions(dbs, "vouchers.batch_cancelled")) == 1


# --- the database ---------------------------------------------------------------------


def test_the_database_refuses_an_approval_by_the_proposer(dbs, p, proposal):
    refused = [
        # the proposer approving their own
        "UPDATE voucher_issue_runs SET status = 'issued', approved_by_id = :proposer,"
        " approval_note = 'x' WHERE id = :r",
        # an approval without a note
        "UPDATE voucher_issue_runs SET status = 'issued', approved_by_id = :other WHERE id = :r",
        # a proposal issued with no approver at all
        "UPDATE voucher_issue_runs SET status = 'issued' WHERE id = :r",
        # cancelled without a reason
        "UPDATE voucher_issue_runs SET status = 'cancelled' WHERE id = :r",
        # a negative threshold
        "UPDATE voucher_programmes SET batch_approval_threshold_fen = -1",
    ]
    values = {"proposer": p.official.id, "other": p.official2.id, "r": proposal.id}
    for statement in refused:
        with pytest.raises(IntegrityError), dbs.begin_nested():
            dbs.execute(text(statement), values)
    dbs.execute(
        text(
            "UPDATE voucher_issue_runs SET status = 'issued', approved_by_id = :other,"
            " approval_note = 'x' WHERE id = :r"
        ),
        values,
    )  # another official: allowed


# --- CSV lists ------------------------------------------------------------------------


def test_a_csv_list_above_the_threshold_is_proposed_then_issued(app, dbs, p, others, programme):
    raw = csv_bytes(
        [("统一社会信用代码", "企业名称")]
        + [(o.credit_code, o.name) for o in [p.enterprise, *others]]
        + [("91130100MA0000000X", "查无此企业")]
    )
    with services(app, dbs), pytest.raises(DomainError) as refused:
        issuing.import_csv(programme, raw, key(), p.official_actor)
    assert refused.value.field == "note" and count(dbs, IssueRun) == 0
    with services(app, dbs):
        run = issuing.import_csv(programme, raw, key(), p.official_actor, "区县报送名单")
    assert run.status is RunStatus.PROPOSED and (run.count, run.total_fen) == (3, 3 * FACE)
    assert [r["result"] for r in run.report] == ["issued", "issued", "issued", "unknown"]
    nothing_issued(dbs, run, programme)
    with services(app, dbs):
        issuing.approve_batch(run, run.total_fen, "已核对名单", p.official2_actor)
    assert count(dbs, Voucher) == 3
    books_balance(app, dbs)


# --- the pages ------------------------------------------------------------------------


def approve_on_the_page(client, run, note="已核对名单、张数与合计金额", total=None, **kwargs):
    return client.form(
        f"/agency/programmes/{run.programme_id}/runs/{run.id}/approve",
        {
            "note": note,
            "total_fen": str(run.total_fen if total is None else total),
            "confirmed": "y",
        },
        **kwargs,
    )


def test_on_the_page_the_proposer_waits_and_the_second_official_approves(
    client, dbs, p, programme, proposal
):
    client.login("official@quad.cn")
    page = client.text(f"/agency/programmes/{programme.id}")
    assert "批量发放超过 ¥40,000.00 须另一名工作人员批准" in page
    assert "等待本单位另一名工作人员批准" in page and NOTE in page
    assert f"/runs/{proposal.id}/approve" not in page  # no approve form for the proposer
    assert f"/runs/{proposal.id}/cancel" in page  # but they may withdraw it
    refused = approve_on_the_page(client, proposal, follow_redirects=True)
    assert OWN_ZH in refused.get_data(as_text=True)
    nothing_issued(dbs, proposal, programme)
    client.post("/logout", data={"csrf_token": client.csrf_token()})

    client.login("official2@quad.cn")
    page = client.text(f"/agency/programmes/{programme.id}")
    assert f'name="total_fen" value="{proposal.total_fen}"' in page
    assert f"提出人：{p.official.name}" in page
    no_note = approve_on_the_page(client, proposal, note="", follow_redirects=True)
    assert "批准前请写明您核对了哪些内容" in no_note.get_data(as_text=True)
    nothing_issued(dbs, proposal, programme)
    stale = approve_on_the_page(client, proposal, total=FACE, follow_redirects=True)
    assert "该批合计金额与您看到的不一致" in stale.get_data(as_text=True)
    nothing_issued(dbs, proposal, programme)
    done = approve_on_the_page(client, proposal, follow_redirects=True)
    assert "已批准：已发放 3 张转型券" in done.get_data(as_text=True)
    assert count(dbs, Voucher) == 3
    report = client.text(f"/agency/programmes/{programme.id}/runs/{proposal.id}")
    assert f"提出人</dt><dd>{p.official.name} · " in report
    assert f"经办人：{p.official2.name}<" in report
    assert "已核对名单、张数与合计金额" in report
    again = approve_on_the_page(client, proposal, follow_redirects=True)
    assert "该批已经批准并发放" in again.get_data(as_text=True)
    assert len(actions(dbs, "vouchers.batch_approved")) == 1


def test_the_proposers_refusal_in_english(english, dbs, p, programme, proposal):
    english.login("official@quad.cn")
    page = english.text(f"/agency/programmes/{programme.id}/runs/{proposal.id}")
    assert "Waiting for another official of your agency to approve" in page
    refused = approve_on_the_page(english, proposal, follow_redirects=True)
    assert "You proposed this batch; another official" in refused.get_data(as_text=True)
    nothing_issued(dbs, proposal, programme)


def test_proposing_and_cancelling_through_the_pages(client, dbs, p, programme):
    client.login("official@quad.cn")
    page = client.text(f"/agency/programmes/{programme.id}/issue")
    assert "该批超过 ¥40,000.00" in page and "提交 3 张转型券待批准" in page
    form_key = page.split('name="key" type="hidden" value="')[1].split('"')[0]
    shown = {"key": form_key, "total_fen": "6000000", "confirmed": "y"}
    no_note = client.form(f"/agency/programmes/{programme.id}/issue", shown)
    assert no_note.status_code == 422 and "请为批准人写明本批用途" in no_note.get_data(as_text=True)
    assert count(dbs, IssueRun) == 0
    proposed = client.form(f"/agency/programmes/{programme.id}/issue", {**shown, "note": NOTE})
    assert proposed.status_code == 302
    run = dbs.scalar(select(IssueRun))
    assert run.status is RunStatus.PROPOSED and count(dbs, Voucher) == 0
    report = client.text(proposed.headers["Location"])
    assert "待批准" in report and p.enterprise.name in report
    no_reason = client.form(
        f"/agency/programmes/{programme.id}/runs/{run.id}/cancel",
        {"reason": ""},
        follow_redirects=True,
    )
    assert "请写明取消该批发放的原因" in no_reason.get_data(as_text=True)
    dbs.refresh(run)
    assert run.status is RunStatus.PROPOSED
    client.form(f"/agency/programmes/{programme.id}/runs/{run.id}/cancel", {"reason": "撤回"})
    dbs.refresh(run)
    assert run.status is RunStatus.CANCELLED and run.cancel_reason == "撤回"
    page = client.text(f"/agency/programmes/{programme.id}")
    assert f"取消人：{p.official.name}" in page


def test_a_csv_list_through_the_page_says_it_needs_approval(client, dbs, p, others, programme):
    client.login("official@quad.cn")
    body = "统一社会信用代码,企业名称\n" + "".join(
        f"{o.credit_code},{o.name}\n" for o in [p.enterprise, *others]
    )
    staged = client.form(
        f"/agency/programmes/{programme.id}/import",
        {"file": (io.BytesIO(body.encode()), "名单.csv")},
        content_type="multipart/form-data",
    )
    preview = client.text(staged.headers["Location"])
    assert "提交这 3 张转型券（合计 ¥60,000.00）待批准" in preview
    response = client.form(
        staged.headers["Location"], {**confirm_fields(preview), "note": "区县名单"}
    )
    assert response.status_code == 302
    report = client.text(response.headers["Location"])
    assert "拟发放: 3" in report and "待批准" in report
    assert count(dbs, Voucher) == 0


def confirm_fields(page):
    """The hidden fields of a dry run's confirmation form, with its box ticked."""
    found = dict(re.findall(r'name="(key|digest|count|total_fen)"[^>]*value="([^"]*)"', page))
    return {**found, "confirmed": "y"}


def test_the_threshold_is_set_on_the_programme_form(client, dbs, p):
    from tests.functional.vouchers.test_voucher_pages import programme_form

    client.login("official@quad.cn")
    page = client.text("/agency/programmes/new")
    assert 'name="batch_approval_threshold"' in page and 'value="200000"' in page
    negative = client.form("/agency/programmes/new", programme_form(batch_approval_threshold="-1"))
    assert negative.status_code == 422
    created = client.form(
        "/agency/programmes/new", programme_form(batch_approval_threshold="500,000")
    )
    assert created.status_code == 302
    programme = dbs.scalar(select(VoucherProgramme))
    assert programme.batch_approval_threshold_fen == 500_000_00
    edit = client.text(f"/agency/programmes/{programme.id}/edit")
    assert 'value="500000"' in edit
    assert "批量发放超过 ¥500,000.00 须另一名工作人员批准" in client.text(
        f"/agency/programmes/{programme.id}"
    )
