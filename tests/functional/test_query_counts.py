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


def bundle(app, dbs, integrator, owner, packages):
    fields = catalog.BundleFields(
        "套餐", "", "machining", "small", 1_000_00, [p.id for p in packages]
    )
    with services(app, dbs):
        catalog.create_bundle(integrator, fields, Actor(owner.id, integrator.id, None))


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
    small = {
        p: queries_for(client, count_queries, p)
        for p in ["/catalog", "/bundles", f"/providers/{providers[1][0].id}"]
    }
    for provider, owner in providers[1:]:
        for _ in range(3):
            parts.append(published_package(app, dbs, provider, owner))
    for n in range(4):
        bundle(app, dbs, *providers[0], parts[n : n + 3])
    large = {p: queries_for(client, count_queries, p) for p in small}
    assert large == small
