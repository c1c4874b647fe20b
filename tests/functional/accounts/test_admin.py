"""The platform admin creates agency, assessor and platform accounts and sends password
links: the link goes by e-mail to the user, never onto the admin's screen."""

from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind, User
from tests.factories import OrganisationFactory, UserFactory, make_credit_code
from tests.functional.accounts.mail_helpers import last_link


def admin(client):
    UserFactory(email="admin@factory.cn", org=OrganisationFactory(platform=True))
    client.login("admin@factory.cn")


def test_admin_creates_an_agency_whose_owner_sets_a_password(app, client, dbs):
    admin(client)
    response = client.form(
        "/admin/organisations/new",
        {
            "kind": "agency",
            "name": "厦门市工业和信息化局",
            "credit_code": "",
            "owner_name": "林芳",
            "email": "lin@xm.gov.cn",
        },
    )
    assert response.status_code == 302
    page = client.text(response.headers["Location"])
    path = last_link(dbs, "lin@xm.gov.cn", "account_created")
    assert "lin@xm.gov.cn" in page and path not in page  # "an e-mail was sent to …"
    org = dbs.scalar(select(Organisation).where(Organisation.name == "厦门市工业和信息化局"))
    assert org.kind is OrgKind.AGENCY
    official_user = dbs.scalar(select(User).where(User.email == "lin@xm.gov.cn"))
    assert official_user.email_confirmed_at is None

    official = app.test_client()
    assert (
        official.form(
            "/login", {"email": "lin@xm.gov.cn", "password": "anything-at-all"}
        ).status_code
        == 200
    )
    short = official.form(path, {"password": "short", "confirm": "short"})
    assert short.status_code == 422
    done = official.form(path, {"password": "official-password", "confirm": "official-password"})
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard"
    assert "厦门市工业和信息化局" in official.text("/dashboard")  # signed in
    assert official.get(path).status_code == 404  # one use only
    dbs.expire_all()
    assert dbs.get(User, official_user.id).email_confirmed_at is not None  # the link proved it
    official.login("lin@xm.gov.cn", "official-password")
    assert "厦门市工业和信息化局" in official.text("/dashboard")


def test_admin_cannot_create_enterprises_and_bad_input_stores_nothing(client, dbs):
    admin(client)
    UserFactory(email="dup@factory.cn")
    cases = [
        {"kind": "enterprise", "name": "x", "owner_name": "x", "email": "a1@factory.cn"},
        {"kind": "agency", "name": "x", "owner_name": "x", "email": "dup@factory.cn"},
        {
            "kind": "agency",
            "name": "x",
            "owner_name": "x",
            "email": "a2@factory.cn",
            "credit_code": "123456789012345679",
        },
        {"kind": "agency", "name": "", "owner_name": "x", "email": "a3@factory.cn"},
    ]
    for data in cases:
        assert client.form("/admin/organisations/new", data).status_code == 422, data
    assert (
        dbs.scalar(
            select(User).where(User.email.in_(["a1@factory.cn", "a2@factory.cn", "a3@factory.cn"]))
        )
        is None
    )


def test_admin_reset_link_ends_the_users_sessions(app, client, dbs):
    user = UserFactory(email="forgetful@factory.cn")
    victim = app.test_client()
    victim.login("forgetful@factory.cn")
    admin(client)
    response = client.form(f"/admin/users/{user.id}/reset-link")
    page = client.text(response.headers["Location"])
    path = last_link(dbs, "forgetful@factory.cn", "password_reset")
    assert "forgetful@factory.cn" in page and path not in page
    assert victim.get("/dashboard").status_code == 200  # a link alone changes nothing
    fresh = app.test_client()
    assert (
        fresh.form(path, {"password": "remembered-now", "confirm": "remembered-now"}).status_code
        == 302
    )
    assert victim.get("/dashboard").status_code == 302
    fresh.login("forgetful@factory.cn", "remembered-now")


def test_admin_deactivates_and_reactivates(app, client, dbs):
    user = UserFactory(email="paused@factory.cn")
    admin(client)
    client.form(f"/admin/users/{user.id}/deactivate")
    other = app.test_client()
    assert (
        other.form(
            "/login", {"email": "paused@factory.cn", "password": "correct-horse-battery"}
        ).status_code
        == 200
    )
    client.form(f"/admin/users/{user.id}/activate")
    other.login("paused@factory.cn")


def test_admin_list_filters_and_serves_an_htmx_fragment(client, dbs):
    OrganisationFactory(name="鹭岛精工有限公司")
    admin(client)
    full = client.get("/admin/organisations?q=鹭岛")
    assert "鹭岛精工有限公司" in full.get_data(as_text=True) and "<html" in full.get_data(
        as_text=True
    )
    assert "HX-Request" in full.headers["Vary"]
    fragment = client.get("/admin/organisations?q=鹭岛", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "鹭岛精工有限公司" in body and "<html" not in body
    assert "HX-Request" in fragment.headers["Vary"]
    assert "鹭岛精工有限公司" not in client.text("/admin/organisations?q=没有这个")


def test_back_button_restore_gets_the_whole_page(client, dbs):
    admin(client)
    restore = client.get(
        "/admin/organisations?q=x",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.get_data(as_text=True)


def test_search_treats_percent_and_underscore_literally(client, dbs):
    OrganisationFactory(name="鹭岛精工有限公司")
    admin(client)
    assert "鹭岛精工有限公司" not in client.text("/admin/organisations?q=%25")
    assert "鹭岛精工有限公司" not in client.text("/admin/organisations?q=_")


def test_an_agencys_region_must_lie_within_its_credit_codes_division(client, english, dbs):
    admin(client)
    data = {
        "kind": "agency",
        "name": "厦门市工业和信息化局",
        "credit_code": make_credit_code(5150, "130100"),
        "region_code": "350200",
        "owner_name": "林芳",
        "email": "lin2@xm.gov.cn",
    }
    response = english.form("/admin/organisations/new", data)
    assert response.status_code == 422
    assert "does not lie within the division that registered" in response.get_data(as_text=True)
    assert dbs.scalar(select(User).where(User.email == "lin2@xm.gov.cn")) is None
    data["credit_code"] = make_credit_code(5151, "350200")
    assert english.form("/admin/organisations/new", data).status_code == 302
    org = dbs.scalar(select(Organisation).where(Organisation.name == "厦门市工业和信息化局"))
    assert org.region_code == "350200" and org.jurisdiction == "350200"
