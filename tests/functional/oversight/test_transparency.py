"""/transparency opens on the agency with the most to show, not the first by name."""

import re

from marketplace.pool.models import PoolStatus
from tests.factories import OrganisationFactory
from tests.functional.catalog_helpers import agency_with_official, membership, provider_with_owner


def selected_agency(page):
    return re.search(r'<option value="(\d+)" selected>([^<]+)</option>', page).groups()


def test_opens_on_the_agency_with_the_most_activity(client, dbs):
    quiet = OrganisationFactory(agency=True, name="A 市工业和信息化局")  # first by name
    busy, _ = agency_with_official("busy@transparency.cn")
    busy.name = "B 市工业和信息化局"
    dbs.commit()
    for n in range(2):
        provider, _owner = provider_with_owner(f"p{n}@transparency.cn")
        membership(dbs, provider, busy)
    applied, _owner = provider_with_owner("applied@transparency.cn")
    membership(dbs, applied, quiet, PoolStatus.APPLIED)  # pending: not public, not counted
    page = client.text("/transparency")
    assert selected_agency(page) == (str(busy.id), "B 市工业和信息化局")
    assert page.count('class="status status-admitted"') == 2
    # a chosen agency is still shown, even a quiet one
    chosen = client.text(f"/transparency?agency={quiet.id}")
    assert selected_agency(chosen) == (str(quiet.id), "A 市工业和信息化局")
    # an unknown one falls back to the busiest
    assert selected_agency(client.text("/transparency?agency=999999"))[0] == str(busy.id)


def test_with_no_activity_anywhere_the_first_by_name(client, dbs):
    first = OrganisationFactory(agency=True, name="A 市工业和信息化局")
    OrganisationFactory(agency=True, name="B 市工业和信息化局")
    assert selected_agency(client.text("/transparency"))[0] == str(first.id)
