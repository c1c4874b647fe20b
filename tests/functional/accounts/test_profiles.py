"""Owners keep their organisation's profile; the size tier follows the numbers."""

from sqlalchemy import select

from marketplace.accounts.models import Organisation, ProfileChange, SizeTier
from tests.factories import OrganisationFactory, UserFactory


def test_enterprise_owner_edits_the_profile_and_size_inputs_wait_for_verification(client, dbs):
    org = OrganisationFactory(employees=10, annual_revenue_fen=100_000_00)
    UserFactory(org=org, email="profile@factory.cn")
    assert org.size_tier is SizeTier.MICRO
    client.login("profile@factory.cn")
    form = client.text("/org/profile")
    assert 'value="100000"' in form  # revenue shown in yuan
    response = client.form(
        "/org/profile",
        {
            "name": org.name,
            "industry_code": "food",
            "region_code": "130102",
            "employees": "320",
            "annual_revenue": "25000000",
            "contact_phone": "0311-12345678",
        },
    )
    assert response.status_code == 302
    dbs.expire_all()
    org = dbs.get(Organisation, org.id)
    # Free fields are saved at once; the eligibility inputs wait for an official.
    assert org.contact_phone == "0311-12345678"
    assert org.industry_code == "machining"
    assert org.size_tier is SizeTier.MICRO and org.employees == 10
    changes = dbs.scalars(select(ProfileChange).where(ProfileChange.org_id == org.id)).all()
    assert {(c.field, c.old_value, c.new_value) for c in changes} == {
        ("industry_code", "machining", "food"),
        ("employees", "10", "320"),
        ("annual_revenue_fen", "10000000", "2500000000"),
    }
    assert "等待核验" in client.text("/org/profile")


def test_profile_bad_input_changes_nothing(client, dbs):
    org = OrganisationFactory(employees=10)
    UserFactory(org=org, email="profile2@factory.cn")
    client.login("profile2@factory.cn")
    response = client.form(
        "/org/profile",
        {
            "name": "",
            "industry_code": "machining",
            "region_code": "130102",
            "employees": "abc",
            "annual_revenue": "1",
        },
    )
    assert response.status_code == 422
    dbs.expire_all()
    assert dbs.get(Organisation, org.id).employees == 10


def test_members_cannot_edit_the_profile(client, dbs):
    owner = UserFactory()
    UserFactory(org=owner.org, email="member@factory.cn", member=True)
    client.login("member@factory.cn")
    assert client.get("/org/profile").status_code == 403


def test_provider_edits_industries_served(client, dbs):
    org = OrganisationFactory(provider=True)
    UserFactory(org=org, email="prov@factory.cn")
    client.login("prov@factory.cn")
    page = client.text("/org/profile")
    assert "checked" in page and 'value="machining"' in page
    response = client.form(
        "/org/profile",
        {
            "name": org.name,
            "provider_type": "integrator",
            "industry_codes": ["food", "textile"],
            "region_codes": ["350200"],
            "contact_name": "王工",
            "contact_phone": "13800000000",
            "contact_email": "bd@provider.cn",
            "description": "食品与纺织行业集成改造。",
        },
    )
    assert response.status_code == 302
    dbs.expire_all()
    org = dbs.get(Organisation, org.id)
    assert {i.code for i in org.industries_served} == {"food", "textile"}
    assert "食品与纺织行业集成改造。" in client.text(f"/providers/{org.id}")


def test_create_account_command(app, connection, dbs):
    result = app.test_cli_runner().invoke(
        args=[
            "create-account",
            "--kind",
            "assessor",
            "--name",
            "厦门数字化转型评估中心",
            "--owner-name",
            "周杰",
            "--email",
            "zhou@assess.cn",
            "--password",
            "assessor-pass-1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "zhou@assess.cn" in result.output
    bad = app.test_cli_runner().invoke(
        args=[
            "create-account",
            "--kind",
            "agency",
            "--name",
            "x",
            "--owner-name",
            "x",
            "--email",
            "zhou@assess.cn",
            "--password",
            "assessor-pass-1",
        ]
    )
    assert bad.exit_code == 1 and "该邮箱已有账户" in bad.output
