"""Owners invite (by e-mail) and remove members; one organisation never sees another's."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from marketplace.accounts.models import Invitation, MemberRole, User
from marketplace.audit import AuditEntry
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.accounts.mail_helpers import last_link, mails_to


def invite(client, dbs, email, role="member", **extra):
    response = client.form("/org/invitations", {"email": email, "role": role, **extra})
    assert response.status_code == 302
    return last_link(dbs, email, "invitation")


def test_owner_invites_and_the_invitee_joins(app, client, dbs):
    owner = UserFactory(email="boss@factory.cn")
    client.login("boss@factory.cn")
    response = client.form(
        "/org/invitations", {"email": "zhao@factory.cn", "role": "member", "note": "生产主管"}
    )
    assert response.status_code == 302
    page = client.text("/org")
    path = last_link(dbs, "zhao@factory.cn", "invitation")
    assert "邀请已发送至 zhao@factory.cn" in page and path not in page  # e-mailed, not shown
    [sent] = mails_to(dbs, "zhao@factory.cn")
    assert owner.org.name in sent.subject and owner.name in sent.text_body

    invitee = app.test_client()
    assert owner.org.name in invitee.text(path)
    assert 'value="zhao@factory.cn"' in invitee.text(path)  # the invited address, prefilled
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
    assert user.email_confirmed_at is not None  # the link came to this address
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
    path = invite(client, dbs, "invited2@factory.cn")
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
    path = invite(client, dbs, "invited3@factory.cn", "owner")
    invitation = dbs.scalar(select(Invitation).where(Invitation.org_id == owner.org_id))
    client.form(f"/org/invitations/{invitation.id}/revoke")
    assert client.get(path).status_code == 404


def test_members_cannot_manage_members(client, dbs):
    owner = UserFactory(email="boss4@factory.cn")
    UserFactory(email="worker@factory.cn", org=owner.org, member=True)
    client.login("worker@factory.cn")
    assert client.get("/org").status_code == 200
    assert client.form("/org/invitations", {"email": "x@f.cn", "role": "owner"}).status_code == 403
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
        owner.org,
        MemberRole.MEMBER,
        "",
        Actor(owner.id, owner.org_id, None),
        timedelta(days=1),
        email="racer@factory.cn",
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
