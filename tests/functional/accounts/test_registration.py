"""Self-registration of enterprises and providers, with the bad inputs of the issue."""

from sqlalchemy import func, select

from marketplace.accounts.models import MemberRole, Organisation, OrgKind, SizeTier, User
from marketplace.audit import AuditEntry
from tests.factories import OrganisationFactory, UserFactory, make_credit_code

VALID_CODE = make_credit_code(987654321, "350206")


def enterprise_form(**changes):
    data = {
        "name": "厦门鑫源精密机械有限公司",
        "credit_code": VALID_CODE,
        "industry_code": "machining",
        "region_code": "350206",
        "employees": "85",
        "annual_revenue": "12,500,000.00",
        "owner_name": "陈静",
        "email": "chen.jing@xinyuan.cn",
        "password": "a-long-enough-password",
        "confirm": "a-long-enough-password",
    }
    data.update(changes)
    return data


def counts(dbs):
    dbs.expire_all()
    return (
        dbs.scalar(select(func.count(Organisation.id))),
        dbs.scalar(select(func.count(User.id))),
    )


def test_enterprise_registers_and_becomes_owner(client, dbs):
    response = client.form("/register/enterprise", enterprise_form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")

    org = dbs.scalar(select(Organisation).where(Organisation.credit_code == VALID_CODE))
    assert org.kind is OrgKind.ENTERPRISE
    assert org.annual_revenue_fen == 12_500_000_00
    assert org.size_tier is SizeTier.SMALL  # derived: 85 employees, ¥12.5M
    user = dbs.scalar(select(User).where(User.org_id == org.id))
    assert user.role is MemberRole.OWNER and user.email == "chen.jing@xinyuan.cn"
    actions = set(dbs.scalars(select(AuditEntry.action).where(AuditEntry.actor_org_id == org.id)))
    assert {"organisation.registered", "member.added"} <= actions

    page = client.text("/dashboard")
    assert "厦门鑫源精密机械有限公司" in page
    assert "小型" in page  # size tier, in Chinese by default


def test_size_tier_in_sql_matches_python(client, dbs):
    orgs = [
        OrganisationFactory(employees=e, annual_revenue_fen=r)
        for e, r in [
            (5, 10**8),
            (50, 5 * 10**8),
            (400, 3 * 10**9),
            (1500, 5 * 10**10),
            (2000, 10**9),
        ]
    ]
    ids = [o.id for o in orgs]
    rows = dict(
        dbs.execute(
            select(Organisation.id, Organisation.size_tier).where(Organisation.id.in_(ids))
        ).all()
    )
    assert [rows[o.id] for o in orgs] == [o.size_tier.value for o in orgs]
    assert [o.size_tier.value for o in orgs] == ["micro", "small", "medium", "large", "small"]


BAD_INPUTS = [
    ({"credit_code": "91350206ABCDEFGH12"}, "credit_code", "统一社会信用代码"),
    (
        {"credit_code": VALID_CODE[:-1] + ("0" if VALID_CODE[-1] != "0" else "1")},
        "credit_code",
        "统一社会信用代码",
    ),
    ({"credit_code": "123"}, "credit_code", "18"),
    ({"password": "short", "confirm": "short"}, "password", "10"),
    ({"confirm": "something-else-entirely"}, "confirm", "不一致"),
    ({"email": "not-an-email"}, "email", "邮箱"),
    ({"employees": "-3"}, "employees", ""),
    ({"annual_revenue": "-100"}, "annual_revenue", "负"),
    ({"annual_revenue": "12.345"}, "annual_revenue", "两位小数"),
    ({"industry_code": "shipbuilding"}, "industry_code", ""),
    ({"region_code": "999999"}, "region_code", ""),
    ({"name": ""}, "name", "必填"),
]


def test_bad_inputs_are_answered_next_to_the_field_and_store_nothing(client, dbs):
    before = counts(dbs)
    for changes, field, words in BAD_INPUTS:
        response = client.form("/register/enterprise", enterprise_form(**changes))
        page = response.get_data(as_text=True)
        assert response.status_code == 422, changes
        assert f'id="{field}-error"' in page, (changes, field)
        assert words in page, (changes, words)
    assert counts(dbs) == before


def test_duplicate_credit_code_and_email(client, dbs):
    existing = OrganisationFactory(credit_code=VALID_CODE)
    UserFactory(email="taken@example.cn")
    before = counts(dbs)

    page = client.form("/register/enterprise", enterprise_form()).get_data(as_text=True)
    assert "该统一社会信用代码的组织已注册" in page

    other = make_credit_code(123123123, "350206")
    response = client.form(
        "/register/enterprise", enterprise_form(credit_code=other, email="TAKEN@example.cn")
    )
    assert response.status_code == 422
    assert "该邮箱已有账户" in response.get_data(as_text=True)
    assert counts(dbs) == before
    assert existing.id


def test_duplicate_credit_code_answers_in_english(english, dbs):
    OrganisationFactory(credit_code=VALID_CODE)
    page = english.form("/register/enterprise", enterprise_form()).get_data(as_text=True)
    assert "An organisation with this credit code is already registered." in page


def test_provider_registers_with_public_profile(client, dbs):
    code = make_credit_code(55501, "130100")
    response = client.form(
        "/register/provider",
        {
            "name": "石家庄智联设备科技有限公司",
            "credit_code": code,
            "provider_type": "scenario",
            "industry_codes": ["machining", "hardware"],
            "region_codes": ["130100", "350200"],
            "contact_name": "刘洋",
            "contact_phone": "13912345678",
            "contact_email": "BD@zhilian.cn",
            "description": "设备联网与数据采集。",
            "owner_name": "刘洋",
            "email": "liu@zhilian.cn",
            "password": "provider-password-1",
            "confirm": "provider-password-1",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    org = dbs.scalar(select(Organisation).where(Organisation.credit_code == code))
    assert org.kind is OrgKind.PROVIDER
    assert {i.code for i in org.industries_served} == {"machining", "hardware"}
    assert org.contact_email == "bd@zhilian.cn"

    client.post("/logout", data={"csrf_token": client.csrf_token()})
    profile = client.text(f"/providers/{org.id}")
    assert (
        "石家庄智联设备科技有限公司" in profile
        and "五金制品" in profile
        and "场景服务商" in profile
    )


def test_provider_needs_industries_and_regions(client, dbs):
    before = counts(dbs)
    response = client.form(
        "/register/provider",
        {
            "name": "某科技公司",
            "credit_code": make_credit_code(55502),
            "provider_type": "integrator",
            "contact_name": "a",
            "contact_phone": "1",
            "contact_email": "a@b.cn",
            "owner_name": "a",
            "email": "x@y.cn",
            "password": "provider-password-1",
            "confirm": "provider-password-1",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "请至少选择一个行业" in page and "请至少选择一个地区" in page
    assert counts(dbs) == before


def test_public_profile_of_a_non_provider_is_404(client, dbs):
    enterprise = OrganisationFactory()
    assert client.get(f"/providers/{enterprise.id}").status_code == 404
    assert client.get("/providers/999999").status_code == 404


def test_region_outside_the_credit_codes_division_is_refused_and_nothing_stored(client, dbs):
    before = counts(dbs)
    response = client.form(
        "/register/enterprise", enterprise_form(credit_code=make_credit_code(4242, "130102"))
    )
    assert response.status_code == 422
    assert "不在登记您统一社会信用代码的行政区划（130102）之内" in response.get_data(as_text=True)
    assert counts(dbs) == before


def test_a_region_within_the_registering_city_is_accepted(client, dbs):
    response = client.form(
        "/register/enterprise",
        enterprise_form(credit_code=make_credit_code(4343, "350200"), region_code="350211"),
    )
    assert response.status_code == 302
    dbs.expire_all()
    org = dbs.scalar(select(Organisation).where(Organisation.name == "厦门鑫源精密机械有限公司"))
    assert org.region_code == "350211"
