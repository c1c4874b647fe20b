"""Owners invite and remove members; one organisation never sees another's."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from marketplace.accounts.models import Invitation, MemberRole, User
from marketplace.audit import AuditEntry
from tests.factories import OrganisationFactory, UserFactory

LINK = re.compile(r'value="(http://localhost/invite/[^"]+)"')


def test_owner_invites_and_the_invitee_joins(app, client, dbs):
    owner = UserFactory(email="boss@factory.cn")
    client.login("boss@factory.cn")
    response = client.form("/org/invitations", {"role": "member", "note": "生产主管"})
    assert response.status_code == 302
    page = client.text("/org")
    link = LINK.search(page).group(1)
    assert "邀请链接" in page
    assert LINK.search(client.text("/org")) is None  # shown once

    invitee = app.test_client()
    path = link.removeprefix("http://localhost")
    assert owner.org.name in invitee.text(path)
    joined = invitee.form(
        path,
        {
            "owner_name": "赵敏",
            "email": "zhao@factory.cn",
            "password": "member-password-1",
            "confirm": "member-password-1",
        },
    )
    assert joined.status_code == 302
    user = dbs.scalar(select(User).where(User.email == "zhao@factory.cn"))
    assert user.org_id == owner.org_id and user.role is MemberRole.MEMBER
    assert invitee.get(path).status_code == 404  # used
    assert dbs.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "member.added", AuditEntry.object_id == str(user.id)
        )
    )


def test_invitation_bad_inputs_store_nothing(app, client, dbs):
    UserFactory(email="boss2@factory.cn")
    UserFactory(email="taken2@factory.cn")
    client.login("boss2@factory.cn")
    client.form("/org/invitations", {"role": "member"})
    path = LINK.search(client.text("/org")).group(1).removeprefix("http://localhost")
    invitee = app.test_client()
    for data, words in [
        (
            {
                "owner_name": "甲",
                "email": "taken2@factory.cn",
                "password": "member-password-1",
                "confirm": "member-password-1",
            },
            "该邮箱已有账户",
        ),
        (
            {
                "owner_name": "甲",
                "email": "new@factory.cn",
                "password": "short",
                "confirm": "short",
            },
            "10",
        ),
    ]:
        response = invitee.form(path, data)
        assert response.status_code == 422 and words in response.get_data(as_text=True)
    assert dbs.scalar(select(User).where(User.email == "new@factory.cn")) is None
    assert invitee.get(path).status_code == 200  # still usable


def test_unknown_and_revoked_invitations_are_404(client, dbs):
    owner = UserFactory(email="boss3@factory.cn")
    assert client.get("/invite/not-a-token").status_code == 404
    client.login("boss3@factory.cn")
    client.form("/org/invitations", {"role": "owner"})
    path = LINK.search(client.text("/org")).group(1).removeprefix("http://localhost")
    invitation = dbs.scalar(select(Invitation).where(Invitation.org_id == owner.org_id))
    client.form(f"/org/invitations/{invitation.id}/revoke")
    assert client.get(path).status_code == 404


def test_members_cannot_manage_members(client, dbs):
    owner = UserFactory(email="boss4@factory.cn")
    UserFactory(email="worker@factory.cn", org=owner.org, member=True)
    client.login("worker@factory.cn")
    assert client.get("/org").status_code == 200
    assert client.form("/org/invitations", {"role": "owner"}).status_code == 403
    assert client.form(f"/org/members/{owner.id}/remove").status_code == 403
    assert client.form(f"/org/members/{owner.id}/role", {"role": "member"}).status_code == 403


def test_owner_removes_a_member_and_their_session_ends(app, client, dbs):
    owner = UserFactory(email="boss5@factory.cn")
    worker = UserFactory(email="worker5@factory.cn", org=owner.org, member=True)
    worker_client = app.test_client()
    worker_client.login("worker5@factory.cn")
    client.login("boss5@factory.cn")
    assert client.form(f"/org/members/{worker.id}/remove").status_code == 302
    assert worker_client.get("/dashboard").status_code == 302
    dbs.expire_all()
    assert not dbs.get(User, worker.id).active
    entry = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "member.removed"))
    assert entry.object_id == str(worker.id) and entry.actor_user_id == owner.id


def test_role_changes_are_audited(client, dbs):
    owner = UserFactory(email="boss6@factory.cn")
    worker = UserFactory(email="worker6@factory.cn", org=owner.org, member=True)
    client.login("boss6@factory.cn")
    client.form(f"/org/members/{worker.id}/role", {"role": "owner"})
    dbs.expire_all()
    assert dbs.get(User, worker.id).role is MemberRole.OWNER
    entry = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "member.role_changed"))
    assert entry.details == {"before": "member", "after": "owner", "org_id": owner.org_id}
    client.form(f"/org/members/{worker.id}/role", {"role": "member"})
    dbs.expire_all()
    assert dbs.get(User, worker.id).role is MemberRole.MEMBER


def test_the_last_owner_can_be_neither_demoted_nor_removed(client, dbs):
    owner = UserFactory(email="solo@factory.cn")
    client.login("solo@factory.cn")
    page = client.form(f"/org/members/{owner.id}/role", {"role": "member"}, follow_redirects=True)
    assert "每个组织至少需要一名负责人" in page.get_data(as_text=True)
    page = client.form(f"/org/members/{owner.id}/remove", follow_redirects=True)
    assert "不能移除自己" in page.get_data(as_text=True)
    dbs.expire_all()
    assert dbs.get(User, owner.id).role is MemberRole.OWNER and dbs.get(User, owner.id).active


def test_unknown_role_is_answered(client, dbs):
    owner = UserFactory(email="boss8@factory.cn")
    worker = UserFactory(org=owner.org, member=True)
    client.login("boss8@factory.cn")
    page = client.form(
        f"/org/members/{worker.id}/role", {"role": "superadmin"}, follow_redirects=True
    )
    assert "请从列表中选择角色" in page.get_data(as_text=True)


def test_an_invitation_is_accepted_once_even_in_a_race(app_ctx, connection):
    from marketplace.accounts import services
    from marketplace.errors import NotFound
    from marketplace.security import Actor

    owner = UserFactory()
    invitation, token = services.create_invitation(
        owner.org, MemberRole.MEMBER, "", Actor(owner.id, owner.org_id, None), timedelta(days=1)
    )
    app_ctx.flush()
    # another request accepts it after this one has looked it up
    connection.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id)
        .values(accepted_at=invitation.created_at)
    )
    with pytest.raises(NotFound):
        services.accept_invitation(
            token, "甲", "racer@factory.cn", "member-password-1", Actor(None, None, None)
        )


def test_another_organisations_objects_answer_404(client, dbs):
    UserFactory(email="boss7@factory.cn")
    stranger_org = OrganisationFactory()
    stranger = UserFactory(org=stranger_org)
    other_invitation = Invitation(
        org=stranger_org,
        token_hash="f" * 64,
        role=MemberRole.MEMBER,
        created_by_id=stranger.id,
        expires_at=stranger.created_at.replace(year=2100),
    )
    dbs.add(other_invitation)
    dbs.commit()
    client.login("boss7@factory.cn")
    assert client.form(f"/org/members/{stranger.id}/remove").status_code == 404
    assert client.form(f"/org/members/{stranger.id}/role", {"role": "member"}).status_code == 404
    assert client.form(f"/org/invitations/{other_invitation.id}/revoke").status_code == 404
    dbs.expire_all()
    assert dbs.get(User, stranger.id).active
    assert dbs.get(Invitation, other_invitation.id).revoked_at is None
