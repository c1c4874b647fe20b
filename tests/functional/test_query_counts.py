"""Key pages use a fixed number of queries whatever the amount of data."""

from marketplace.catalog import services as catalog
from marketplace.security import Actor
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)


def bundle(app, dbs, integrator, owner, packages, name="套餐"):
    fields = catalog.BundleFields(
        name, "", "machining", "small", 1_000_00, [p.id for p in packages]
    )
    with services(app, dbs):
        catalog.create_bundle(integrator, fields, Actor(owner.id, integrator.id, None))


def bundle_ids(dbs):
    from sqlalchemy import select

    from marketplace.catalog.models import CuratedBundle

    return list(dbs.scalars(select(CuratedBundle.id).order_by(CuratedBundle.id)))


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
