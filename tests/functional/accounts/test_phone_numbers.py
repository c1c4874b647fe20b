"""Phone numbers are checked wherever one is typed (one validator, marketplace/forms.py): the
enterprise's profile, the provider's profile and registration, and the pool application."""

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import Organisation
from marketplace.pool.models import PoolMembership
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import agency_with_official, provider_with_owner
from tests.functional.pool.test_pool import APPLICATION

ZH = "请输入11位手机号"
EN = "Enter a mobile number (11 digits"


def enterprise_profile(org, phone):
    return {
        "name": org.name,
        "industry_code": "machining",
        "region_code": "130102",
        "employees": "50",
        "annual_revenue": "5000000",
        "contact_phone": phone,
    }


@pytest.mark.parametrize("phone", ["138", "0311-1", "12345678901", "0311 8555"])
def test_a_bad_phone_on_the_enterprise_profile_is_refused_and_nothing_stored(client, dbs, phone):
    org = OrganisationFactory(contact_phone="13800000000")
    UserFactory(org=org, email="phone@ent.cn")
    client.login("phone@ent.cn")
    response = client.form("/org/profile", enterprise_profile(org, phone))
    assert response.status_code == 422
    assert ZH in response.get_data(as_text=True)
    dbs.expire_all()
    assert dbs.get(Organisation, org.id).contact_phone == "13800000000"


def test_the_message_is_in_english_too(english, dbs):
    org = OrganisationFactory()
    UserFactory(org=org, email="phone-en@ent.cn")
    english.login("phone-en@ent.cn")
    response = english.form("/org/profile", enterprise_profile(org, "555-1234"))
    assert response.status_code == 422 and EN in response.get_data(as_text=True)


def test_a_good_phone_is_kept_tidied(client, dbs):
    org = OrganisationFactory()
    UserFactory(org=org, email="phone-ok@ent.cn")
    client.login("phone-ok@ent.cn")
    response = client.form("/org/profile", enterprise_profile(org, " 139 1234 5678 "))
    assert response.status_code == 302
    dbs.expire_all()
    assert dbs.get(Organisation, org.id).contact_phone == "13912345678"


def test_the_provider_profile_needs_a_real_phone(client, dbs):
    org = OrganisationFactory(provider=True)
    UserFactory(org=org, email="phone@prov.cn")
    client.login("phone@prov.cn")
    form = {
        "name": org.name,
        "provider_type": "scenario",
        "industry_codes": ["machining"],
        "region_codes": ["130100"],
        "contact_name": "王工",
        "contact_phone": "8555-1234",
        "contact_email": "bd@provider.cn",
    }
    response = client.form("/org/profile", form)
    assert response.status_code == 422 and ZH in response.get_data(as_text=True)
    dbs.expire_all()
    assert dbs.get(Organisation, org.id).contact_phone == "13800000000"
    assert (
        client.form("/org/profile", {**form, "contact_phone": "0311-85551234-8"}).status_code == 302
    )
    dbs.expire_all()
    assert dbs.get(Organisation, org.id).contact_phone == "0311-85551234-8"


def test_a_provider_cannot_register_with_a_bad_phone(client, dbs):
    before = dbs.scalar(select(func.count(Organisation.id)))
    response = client.form(
        "/register/provider",
        {
            "name": "某科技公司",
            "provider_type": "scenario",
            "industry_codes": ["machining"],
            "region_codes": ["130100"],
            "contact_name": "刘洋",
            "contact_phone": "139123",
            "contact_email": "bd@x.cn",
            "owner_name": "刘洋",
            "email": "liu@x.cn",
            "password": "provider-password-1",
            "confirm": "provider-password-1",
        },
    )
    assert response.status_code == 422 and ZH in response.get_data(as_text=True)
    assert dbs.scalar(select(func.count(Organisation.id))) == before


def test_the_pool_application_checks_its_contact_phone(client, dbs):
    agency, _official = agency_with_official("official@phone.cn")
    provider_with_owner("owner@phone.cn")
    client.login("owner@phone.cn")
    response = client.form(f"/pool/apply/{agency.id}", {**APPLICATION, "contact_phone": "12"})
    assert response.status_code == 422 and ZH in response.get_data(as_text=True)
    assert dbs.scalar(select(func.count(PoolMembership.id))) == 0
