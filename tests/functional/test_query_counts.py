"""Key pages use a fixed number of queries whatever the amount of data."""

import pytest

from marketplace.accounts import api_tokens
from marketplace.accounts.models import ApiScope
from marketplace.catalog import curated_bundles
from marketplace.orders import services as orders
from marketplace.security import Actor
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)

# What the two busiest public pages cost a signed-in enterprise (measured before and after
# issue 15 took the querying template globals apart: unchanged). Change them on purpose:
# issue 19 read the cards in two statements instead of loading versions, plans and packages.
# Issue 22 follow-up: one more on the catalogue, the grouped statement saying on each card
# where the enterprise's vouchers do not pay yet (待准入 / 未准入), filled in per request.
# Issue 19 again: two fewer, the cards read from the search index's cards in one statement
# (they were two on SQLite) with the pools that admit their providers (the pool tags' own
# statement per request is gone).
CATALOGUE_QUERIES = 12
PACKAGE_QUERIES = 25  # issue 20: one more, for the vouchers behind the price after vouchers;
# issue 21: six more, the track record's grouped statements (contracts, delivery, tickets,
# ratings, enterprises served, the provider's evaluation verdicts), and one for the count of
# the case library's cases with the package (its "N cases" link); issue 22: one more, the
# live voucher programmes the version's admission is shown for (none here; with programmes,
# their pool memberships and decisions: two more, however many); issue 23: one more, the
# usage plans' tiers, loaded with the plans in one statement whatever their number


def bundle(app, dbs, integrator, owner, packages, name="套餐"):
    fields = curated_bundles.BundleFields(
        name, "", "machining", "small", 1_000_00, [p.id for p in packages]
    )
    with services(app, dbs):
        curated_bundles.create_bundle(integrator, fields, Actor(owner.id, integrator.id, None))


def bundle_ids(dbs):
    from sqlalchemy import select

    from marketplace.catalog.models import CuratedBundle

    return list(dbs.scalars(select(CuratedBundle.id).order_by(CuratedBundle.id)))


@pytest.fixture(autouse=True)
def _no_catalogue_cache(app, monkeypatch):
    # the searches themselves are counted, not a cached page (nor reference data an earlier
    # test of this process kept: the categories' and industries' stamps are the same in each)
    for cache in ("catalogue_cache", "card_cache"):
        app.extensions[cache].clear()
        monkeypatch.setattr(app.extensions[cache], "size", 0)


def queries_for(client, count_queries, path):
    client.get(path)  # warm up (session, CSRF)
    count_queries.count = 0
    assert client.get(path).status_code == 200
    return count_queries.count


def test_catalogue_and_bundles_do_not_grow_with_the_data(app, client, dbs, count_queries):
    agency, _ = agency_with_official("oq@q.cn")
    providers = []
    for n in range(6):
        provider, owner = provider_with_owner(f"pq{n}@q.cn", integrator=n == 0)
        membership(dbs, provider, agency)
        providers.append((provider, owner))
    parts = [published_package(app, dbs, *providers[1]), published_package(app, dbs, *providers[2])]
    bundle(app, dbs, *providers[0], parts)
    published_package(app, dbs, *providers[0])
    client.login("pq0@q.cn")  # the integrator: its dashboard and workspace pages too
    pages = [
        "/catalog",
        "/bundles",
        f"/bundles/{bundle_ids(dbs)[0]}",
        f"/providers/{providers[1][0].id}",
        f"/packages/{parts[0].id}",
        "/dashboard",
        "/provider/bundles",
        "/provider/packages",
    ]
    small = {p: queries_for(client, count_queries, p) for p in pages}
    for provider, owner in providers[1:]:
        for _ in range(3):
            parts.append(published_package(app, dbs, provider, owner))
    for _ in range(3):
        published_package(app, dbs, *providers[0])
    by_provider = [[p for p in parts if p.provider_id == org.id] for org, _ in providers[1:]]
    for n in range(4):
        bundle(app, dbs, *providers[0], [by_provider[k][n % 2] for k in range(3)], name=f"套餐{n}")
    large = {p: queries_for(client, count_queries, p) for p in small}
    assert large == small


def test_the_roles_key_pages_do_not_grow_with_the_data(app, client, dbs, count_queries):
    """An enterprise's orders, bundle and vouchers, a provider's queue, an official's
    programme, statistics and concentration, and the API's lists: the same number of
    queries with one order as with many (more orders, enterprises, vouchers, packages)."""
    from tests.factories import OrganisationFactory, UserFactory
    from tests.functional.voucher_helpers import pilot

    p = pilot(app, dbs, "qc")
    programme = p.programme()
    p.issue_to(programme)

    def order(enterprise, owner):
        with services(app, dbs):
            b = p.bundle(enterprise, owner)
            return orders.checkout(enterprise, b, Actor(owner.id, enterprise.id, None))

    first = order(p.enterprise, p.owner)
    bundle = p.bundle()
    with services(app, dbs):
        _made, token = api_tokens.create(
            p.enterprise, "qc", [ApiScope.ORDERS_READ], None, p.enterprise_actor
        )
    pages = {
        p.owner.email: [
            "/dashboard",
            "/orders",
            f"/orders/{first.number}",
            "/my-bundles",
            f"/my-bundles/{bundle.id}",
            "/vouchers",
            "/invoices",
        ],
        p.provider_owner.email: ["/dashboard", "/orders", "/provider/packages"],
        p.official.email: [
            "/dashboard",
            f"/agency/programmes/{programme.id}",
            f"/agency/programmes/{programme.id}/vouchers",
            f"/agency/programmes/{programme.id}/concentration",
            f"/agency/programmes/{programme.id}/cap-holds",
            f"/agency/programmes/{programme.id}/simulator",
            "/agency/dashboard",
            "/pool/queue",
            "/transparency",
        ],
    }

    def measure():
        found = {}
        for email, paths in pages.items():
            client.login(email)
            for path in paths:
                found[path, email] = queries_for(client, count_queries, path)
        for path in ("/api/v1/orders?limit=50", "/api/v1/packages?limit=50"):
            auth = {"Authorization": f"Bearer {token}"}
            client.get(path, headers=auth)
            count_queries.count = 0
            assert client.get(path, headers=auth).status_code == 200
            found[path, "api"] = count_queries.count
        return found

    small = measure()
    for n in range(3):  # more orders of the same enterprise, more enterprises with vouchers
        order(p.enterprise, p.owner)
        other = OrganisationFactory(contact_phone="0311-66668888")
        owner = UserFactory(org=other, email=f"o{n}@qc.cn")
        p.issue_to(programme, other)
        order(other, owner)
        provider, provider_owner = provider_with_owner(f"p{n}@qc.cn")
        membership(dbs, provider, p.agency)
        published_package(app, dbs, provider, provider_owner)
    p.bundle()
    assert measure() == small


def test_template_helpers_query_once_a_request_however_often_a_page_calls_them(
    app, app_ctx, count_queries
):
    """The unread badge is asked for by templates (every page's header): the second and
    third call in a request cost nothing, and the next request asks again. (An enterprise's
    bundles, vouchers and trial on the package page are passed by its view instead.)"""
    from flask import render_template_string
    from flask_login import login_user

    from marketplace import notifications
    from tests.factories import OrganisationFactory, UserFactory

    enterprise = OrganisationFactory()
    user = UserFactory(org=enterprise)
    notifications.notify(enterprise.id, "order_placed", "/orders", number="1", title="MES")
    app_ctx.flush()

    def render(calls):
        page = "{{ unread_notifications() }};" * calls
        with app.test_request_context("/"):
            login_user(user)
            count_queries.count = 0
            html = render_template_string(page)
            return count_queries.count, html

    once = render(1)
    assert once == (1, "1;")  # one query
    assert render(3) == (1, "1;" * 3)
    notifications.mark_all_read(enterprise.id)
    assert render(1) == (1, "0;")  # a new request, a fresh answer


def test_the_catalogue_and_package_pages_cost_the_same_for_an_enterprise(
    app, client, dbs, count_queries
):
    """An enterprise sees the unread badge on every page and its bundles in the package
    page's "add to bundle" form: pinned (issue 15 moved them out of template globals that
    queried on every call, without changing what a page costs)."""
    from tests.functional.voucher_helpers import pilot

    p = pilot(app, dbs, "tq")
    p.bundle()
    p.bundle()
    client.login(p.owner.email)
    counts = {
        path: queries_for(client, count_queries, path)
        for path in ("/catalog", f"/packages/{p.package.id}")
    }
    assert counts == {"/catalog": CATALOGUE_QUERIES, f"/packages/{p.package.id}": PACKAGE_QUERIES}


def test_track_records_do_not_grow_with_the_data(app, client, dbs, count_queries):
    """The package, provider and compare pages and the API's package list and package compute
    track records in a fixed number of grouped statements: the same with one settled contract
    as with more contracts, accepted lines, tickets and evaluation rounds (issue 21)."""
    from datetime import date

    from marketplace.orders import tickets
    from tests.functional.oversight.test_track_record import evaluation, settled
    from tests.functional.voucher_helpers import pilot

    p = pilot(app, dbs, "tr")
    first, _ = settled(app, dbs, p, "66")
    second, _ = settled(app, dbs, p, "62")
    ids = f"ids={first.package_id}&ids={second.package_id}"
    pages = [
        f"/packages/{first.package_id}",
        f"/providers/{p.provider.id}",
        f"/compare?{ids}",
        "/api/v1/packages?limit=50",
        f"/api/v1/packages/{first.package_id}",
    ]

    def measure():
        return {path: queries_for(client, count_queries, path) for path in pages}

    small = measure()
    for n in range(3):
        line, _ = settled(app, dbs, p, str(61 + n))
        with services(app, dbs):
            tickets.open_ticket(line, "normal", "数据不刷新", p.enterprise_actor)
        evaluation(dbs, p.agency, p.provider, f"第 {n} 轮", date(2026, 3 * n + 3, 28), n != 1, 700)
    with services(app, dbs):
        tickets.open_ticket(first, "high", "停机", p.enterprise_actor)
    assert measure() == small


def test_needs_board_and_quote_comparison_do_not_grow_with_the_data(
    app, client, dbs, count_queries
):
    """The providers' needs board, the enterprise's needs and the comparison of a need's quotes
    (with the packages' track records) cost the same with one quote as with many."""
    from datetime import timedelta

    from marketplace.db import local_today
    from marketplace.orders import needs
    from tests.factories import OrganisationFactory, UserFactory

    agency, _ = agency_with_official("on@q.cn")
    enterprise = OrganisationFactory()
    UserFactory(org=enterprise, email="en@q.cn")
    actor = Actor(None, enterprise.id, None)

    def post_need():
        fields = needs.NeedFields(
            "equipment_networking", "十台注塑机联网", 80_000_00, local_today() + timedelta(days=9)
        )
        with services(app, dbs):
            return needs.post(enterprise, fields, actor)

    def quoting_provider(n, need_ids):
        provider, owner = provider_with_owner(f"pn{n}@q.cn")
        membership(dbs, provider, agency)
        package = published_package(app, dbs, provider, owner, title=f"联网网关 {n}")
        plan_id = package.published_version.plans[0].id
        with services(app, dbs):
            for need_id in need_ids:
                needs.send_quote(
                    provider,
                    need_id,
                    needs.QuoteFields([plan_id], 20_000_00, 30, "含安装"),
                    Actor(owner.id, provider.id, None),
                )

    first = post_need()
    quoting_provider(0, [first.id])
    enterprise_pages = ["/needs", f"/needs/{first.id}"]
    provider_pages = ["/needs/board", f"/needs/board/{first.id}"]

    def measure():
        client.login("en@q.cn")
        found = {path: queries_for(client, count_queries, path) for path in enterprise_pages}
        client.get("/logout")
        client.login("pn0@q.cn")
        found |= {path: queries_for(client, count_queries, path) for path in provider_pages}
        client.get("/logout")
        return found

    small = measure()
    more = [post_need().id for _ in range(3)]
    for n in range(1, 4):
        quoting_provider(n, [first.id, *more])
    assert measure() == small


def test_the_demand_radar_does_not_grow_with_the_data(app, client, dbs, count_queries):
    """The officials' demand radar and its CSV: grouped statements over the diagnoses and the
    pool, the same with one diagnosed enterprise and one package as with more of each in more
    industries and districts, more providers and settled contracts (issue 21)."""
    from tests.factories import OrganisationFactory
    from tests.functional.oversight.test_radar import diagnosed
    from tests.functional.oversight.test_track_record import settled
    from tests.functional.voucher_helpers import pilot

    p = pilot(app, dbs, "radarq")
    p.agency.region_code = "130100"
    diagnosed(dbs, p.enterprise, (20, 40, 60, 80, 50), ["downtime"])
    pages = ["/agency/demand", "/agency/demand?industry=machining", "/agency/demand.csv"]
    client.login(p.official.email)

    def measure():
        return {path: queries_for(client, count_queries, path) for path in pages}

    small = measure()
    for n, (industry, district) in enumerate(
        [("textile", "130104"), ("machining", "130105"), ("food", "130102")]
    ):
        firm = OrganisationFactory(industry_code=industry, region_code=district)
        diagnosed(dbs, firm, (10 * n, 50, 30, 70, 40), ["quality", "inventory"])
        diagnosed(dbs, firm, (10 * n + 5, 50, 30, 70, 40), ["sales"])
        provider, owner = provider_with_owner(f"radarq{n}@q.cn")
        membership(dbs, provider, p.agency)
        published_package(app, dbs, provider, owner, category_code="mes", title=f"MES {n}")
        settled(app, dbs, p, str(62 + 2 * n))
    assert measure() == small


def test_recommendations_do_not_grow_with_verified_results(app, client, dbs, count_queries):
    """The recommendations' evidence (peers' met contracts, their months to result, the
    providers' evaluation verdicts) is read in two grouped statements: the same with no
    settled contract as with several, and with more evaluation rounds (issue 21)."""
    from datetime import date

    from marketplace.diagnosis import services as diagnosis
    from tests.functional.diagnosis.test_recommendations import (
        answers,
        contract_on,
        enterprise,
        machining_firm,
        two_providers,
    )
    from tests.functional.oversight.test_track_record import evaluation

    market = two_providers(app, dbs)
    org, user = machining_firm(dbs)
    with services(app, dbs):
        d = diagnosis.diagnose(
            org, answers(), ["downtime"], "200k_1m", Actor(user.id, org.id, None)
        )
    client.login("boss@rank.cn")
    path = f"/diagnosis/{d.id}/recommendations"
    none = queries_for(client, count_queries, path)
    contract_on(app, dbs, market, market.first, enterprise(), "66")
    one = queries_for(client, count_queries, path)
    for value in ("67", "62", "70"):
        contract_on(app, dbs, market, market.second, enterprise(), value)
    contract_on(app, dbs, market, market.first, enterprise(industry="textile"), "68")
    for n in range(3):
        end = date(2026, 3 * n + 3, 28)
        evaluation(dbs, market.agency, market.rival, f"第 {n} 轮", end, n != 1, 700)
    assert queries_for(client, count_queries, path) == one == none


def test_the_admission_queue_does_not_grow_with_the_waiting_versions(
    app, client, dbs, count_queries
):
    """Issue 22: the deciders' queue (criteria, plans, interfaces of each waiting version),
    their dashboard and the package pages with a version's standing in each programme."""
    from marketplace.vouchers import admission
    from tests.functional.voucher_helpers import pilot

    p = pilot(app, dbs, "aq")
    programme = p.programme(admit=False)
    p.programme(admit=False, name="第二个转型券项目")
    with services(app, dbs):
        admission.set_rules(programme, "价格公开；接口标准。", None, p.official_actor)
    pages = {
        p.official.email: ["/admissions", f"/admissions?programme={programme.id}", "/dashboard"],
        p.provider_owner.email: [f"/provider/packages/{p.package.id}", "/dashboard"],
        p.owner.email: [f"/packages/{p.package.id}"],
    }

    def measure():
        found = {}
        for email, paths in pages.items():
            client.login(email)
            for path in paths:
                found[path, email] = queries_for(client, count_queries, path)
        return found

    small = measure()
    for n in range(3):  # more providers, each with a package waiting in both programmes
        provider, provider_owner = provider_with_owner(f"p{n}@aq.cn")
        membership(dbs, provider, p.agency)
        published_package(app, dbs, provider, provider_owner, admit=False)
    assert measure() == small


def test_advisor_lists_do_not_grow_with_the_data(app, client, dbs, count_queries):
    """Issue 21's advisors: the enterprise's choice of advisor (with ratings), the agency's
    advisors in its pool and the advisor's requests cost the same with more of them."""
    from tests.functional.advisor_helpers import (
        advisor_membership,
        advisor_with_owner,
        enterprise_with_diagnosis,
        region_agency,
        requested_visit,
    )

    agency, _ = region_agency("oq-adv@q.cn")
    advisor, _ = advisor_with_owner("aq@q.cn")
    m = advisor_membership(dbs, advisor, agency)
    _e, user, d = enterprise_with_diagnosis(app, dbs, "eq-adv@q.cn")
    requested_visit(app, dbs, d, m, user)
    pages = {
        "eq-adv@q.cn": [f"/diagnosis/{d.id}/visits/new", f"/diagnosis/{d.id}"],
        "oq-adv@q.cn": ["/agency/advisors", "/dashboard"],
        "aq@q.cn": ["/advisor/visits", "/dashboard"],
    }

    def cost():
        found = {}
        for email, paths in pages.items():
            client.login(email)
            found.update({p + email: queries_for(client, count_queries, p) for p in paths})
            client.form("/logout")
        return found

    small = cost()
    for n in range(3):
        other, _ = advisor_with_owner(f"aq{n}@q.cn")
        advisor_membership(dbs, other, agency)
        _e, more_user, more_d = enterprise_with_diagnosis(app, dbs, f"eq{n}-adv@q.cn")
        requested_visit(app, dbs, more_d, m, more_user)
        requested_visit(app, dbs, d, m, user)
    assert cost() == small


def test_the_usage_page_does_not_grow_with_the_records(app, client, dbs, count_queries):
    """A usage line's page (issue 23) costs the same with one record and a billed month as
    with many records and months."""
    from datetime import timedelta

    from marketplace.db import local_today
    from marketplace.outcomes import usage
    from marketplace.security import Actor
    from tests.functional.outcomes.test_usage import previous_month, subscribed, usage_pilot

    p = usage_pilot(app, dbs, tag="uq")
    month, since = previous_month()
    line = subscribed(app, dbs, p, since)
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    day = usage.month_start(month)

    def add(n: int, start: object) -> None:
        with services(app, dbs):
            usage.report(line, usage.Report(f"q-{n}", "devices", 10 + n, start, start), provider)

    add(0, day)
    with services(app, dbs):
        usage.bill_line(line.id, provider)
    client.login(p.owner.email)
    path = f"/usage/lines/{line.id}"
    few = queries_for(client, count_queries, path)
    for n in range(1, 8):
        add(n, local_today() - timedelta(days=n % max(1, local_today().day)))
    assert queries_for(client, count_queries, path) == few


def test_the_programme_usage_page_does_not_grow_with_subscriptions(app, client, dbs, count_queries):
    """The officials' usage page with its KPIs read from usage (issue 23) costs the same with
    one provider's two subscriptions as with more subscriptions, records and typed reports."""
    from sqlalchemy import select

    from marketplace.catalog.models import Package
    from marketplace.outcomes import usage
    from marketplace.oversight import kpi
    from marketplace.vouchers.models import Reservation
    from tests.functional.outcomes.test_usage import subscribed
    from tests.functional.oversight.test_usage_kpi import (
        last_month,
        provider_with_two_usage_lines_and_a_typed_one,
    )

    p, lines = provider_with_two_usage_lines_and_a_typed_one(app, dbs, "kq", (90, 95))
    programme = dbs.scalar(select(Reservation.programme_id))
    client.login(p.official.email)
    path = f"/agency/programmes/{programme}/usage"
    few = queries_for(client, count_queries, path)
    _month, first_day, _last, noon = last_month()
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    p.package = dbs.get(Package, lines[0].package_id)  # the pay-by-use one again
    for n in range(3):
        line = subscribed(app, dbs, p, noon)
        with services(app, dbs):
            usage.report(
                line, usage.Report(f"kq-{n}", "devices", 5, first_day, first_day), provider
            )
            kpi.report(line, kpi.Figures(first_day, 50, 50, 0), p.enterprise_actor)
            usage.bill_line(line.id, provider)
    assert queries_for(client, count_queries, path) == few


def test_the_line_kpi_page_does_not_grow_with_usage_records(app, client, dbs, count_queries):
    """A pay-by-use line's KPI page, with its metered months (issue 23), costs the same with
    few and with many usage records and reports."""
    from datetime import timedelta

    from sqlalchemy import update

    from marketplace.db import local_today
    from marketplace.orders.models import OrderLine
    from marketplace.outcomes import usage
    from marketplace.oversight import kpi
    from tests.functional.oversight.test_usage_kpi import (
        last_month,
        provider_with_two_usage_lines_and_a_typed_one,
    )

    p, (a, _b, _c) = provider_with_two_usage_lines_and_a_typed_one(app, dbs, "kl", (90, 95))
    client.login(p.owner.email)
    path = f"/order-lines/{a.id}/kpi"
    few = queries_for(client, count_queries, path)
    _month, _first, _last, noon = last_month()
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    earlier = noon - timedelta(days=62)  # accepted two months earlier: more months shown
    dbs.execute(update(OrderLine).where(OrderLine.id == a.id).values(accepted_at=earlier))
    dbs.commit()
    with services(app, dbs):
        for n in range(4):
            day = local_today() - timedelta(days=n % max(1, local_today().day))
            usage.report(a, usage.Report(f"kl-{n}", "devices", 3, day, day), provider)
        kpi.report(a, kpi.Figures(local_today(), 50, 50, 0), p.enterprise_actor)
    assert queries_for(client, count_queries, path) == few
