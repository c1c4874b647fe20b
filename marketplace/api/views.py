"""Open API v1 endpoints. Reads are plain selects scoped to the token's organisation; every
write goes through the same service as the web, with the same rules and the same audit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from flask import Response, request
from pydantic import BaseModel
from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload, selectinload

from marketplace.accounts import services as accounts
from marketplace.accounts.models import ApiScope, OrgKind
from marketplace.api import schemas as s
from marketplace.api.core import (
    ApiError,
    actor,
    decode_cursor,
    endpoint,
    json_response,
    org,
    page_limit,
    page_of,
    paginate,
    unprocessable,
)
from marketplace.api.schemas import FieldError
from marketplace.catalog import freshness, search
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Package, PackageVersion, PlanKind
from marketplace.db import db, local_today
from marketplace.errors import DomainError, NotFound
from marketplace.orders import services as orders
from marketplace.orders.models import LINE_MACHINE, LineEvent, Order, OrderLine
from marketplace.outcomes import services as outcomes
from marketplace.outcomes import usage
from marketplace.outcomes.models import Measurement, OutcomeContract, UsageRecord
from marketplace.oversight import track_record
from marketplace.payments.models import Invoice
from marketplace.vouchers import admission, appointments, figures
from marketplace.vouchers.models import (
    AdmissionEvent,
    AdmissionState,
    Appointment,
    ProgrammeStatus,
    Voucher,
    VoucherProgramme,
)

M = TypeVar("M", bound=BaseModel)

PAGING = {
    "limit": ("integer", "Items per page, 1–100 (default 20)."),
    "cursor": ("string", "The `next_cursor` of the previous page."),
}
FILTERS = {
    "q": (
        "string",
        "Words, as in the web catalogue's search: title, category, summary, description,"
        " provider, industries, interfaces and tags, with the search thesaurus (Chinese is"
        " matched by character pairs; spaces and punctuation only separate words). With words"
        " the list is in the catalogue's relevance order, not by id.",
    ),
    "category": ("string", "A category code, e.g. `predictive_maintenance`."),
    "industry": ("string", "An industry code the package serves."),
    "size_tier": ("string", "micro, small, medium or large."),
    "pricing": ("string", "A plan kind: one_time, subscription, outcome or usage."),
    "provider_type": ("string", "integrator or scenario."),
    "max_go_live_days": ("integer", "At most this many days to go live."),
    "trial": ("boolean", "`true` (or `1`): only packages whose provider offers a trial."),
}


def _ref(o: Any) -> s.Ref:
    return s.Ref(id=o.id, name=o.name)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _from(model: type[M], obj: Any, **fields: Any) -> M:
    """``model`` from the object's attributes of the same names, but ``fields`` as given;
    enums answer their values (the schema checks every type)."""
    values = {
        name: fields[name] if name in fields else getattr(obj, name) for name in model.model_fields
    }
    return model.model_validate(
        {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}
    )


def list_endpoint(
    rule: str,
    *,
    query: dict[str, tuple[str, str]] | None = None,
    errors: tuple[int, ...] = (),
    **declared: Any,
) -> Callable[[Any], Any]:
    """An ``endpoint`` answering a page: it takes ``limit`` and ``cursor`` and may answer
    422 for them."""
    return endpoint(rule, query={**(query or {}), **PAGING}, errors=(*errors, 422), **declared)


def report_endpoint(rule: str, *, stored: str, **declared: Any) -> Callable[[Any], Any]:
    """An ``endpoint`` taking a provider's report, idempotent by ``external_id``: 201 when
    stored, 200 with the ``stored`` one when sent again, 409 when it conflicts."""
    again = f"The same `external_id` with the same figures: the stored {stored}."
    return endpoint(
        rule, method="POST", status=201, errors=(404, 409), other_statuses={200: again}, **declared
    )


def _page(
    listing: type[M],
    stmt: Any,
    key: Any,
    each: Callable[[Any], BaseModel],
    newest_first: bool = True,
) -> Response:
    """A page of ``stmt`` (by ``key``, after the cursor) as ``listing``: ``each`` row's item."""
    rows, cursor = paginate(stmt, key, newest_first)
    return json_response(listing(items=[each(row) for row in rows], next_cursor=cursor))


def _only(org_id: int | None, detail: str) -> None:
    """Refuse (403) a token whose organisation is not ``org_id``."""
    if org_id != org().id:
        raise ApiError(403, detail)


@contextmanager
def _refusals(*conflicts: type[DomainError]) -> Iterator[None]:
    """A service's ``conflicts`` answered 409, any other refusal 422 on its field (even a
    ``NotFound`` from inside the service: the object in the URL was found)."""
    try:
        yield
    except conflicts as error:
        raise ApiError(409, str(error.message)) from None
    except DomainError as error:
        raise unprocessable(error) from None


# The catalogue (public)


def _package_fields(v: PackageVersion, detail: bool = False) -> dict[str, Any]:
    """A package's fields but its track record (which changes without the catalogue)."""
    p = v.package
    fields: dict[str, Any] = {
        "id": p.id,
        "version": v.number,
        "title": v.title,
        "summary": v.summary,
        "category": s.Category(
            code=v.category.code, name_zh=v.category.name_zh, name_en=v.category.name_en
        ),
        "provider": {
            "id": p.provider.id,
            "name": p.provider.name,
            "type": p.provider.provider_type.value if p.provider.provider_type else "scenario",
        },
        "deployment": v.deployment.value,
        "industries": [i.code for i in v.industries],
        "size_tiers": [t.value for t in v.size_tiers],
        "plans": [
            s.Plan(
                id=plan.id,
                kind=plan.kind.value,
                name=plan.name,
                amount_fen=plan.amount_fen if plan.kind is PlanKind.ONE_TIME else plan.base_fee_fen,
                monthly_fen=plan.monthly_fen,
                term_months=plan.term_months,
                billed_monthly=plan.billed_monthly,
                metric=plan.metric_code,
                target_kind=plan.target_kind.value if plan.target_kind else None,
                target_value=_num(plan.target_value),
                fee_rule=plan.fee_rule.value if plan.fee_rule else None,
                success_fee_fen=plan.success_fee_fen,
                fee_per_unit_fen=plan.fee_per_unit_fen,
                fee_cap_fen=plan.fee_cap_fen,
                window_days=plan.window_days,
                unit=plan.usage_unit.value if plan.usage_unit else None,
                unit_price_fen=plan.unit_price_fen,
                tiers=[
                    s.Tier(from_quantity=t.from_quantity, unit_price_fen=t.unit_price_fen)
                    for t in plan.tiers
                ],
                included_quantity=plan.included_quantity,
                minimum_fen=plan.minimum_fen,
                cap_fen=plan.cap_fen,
            )
            for plan in v.plans
        ],
        "trial": (
            s.Trial(days=v.trial_days, price_fen=v.trial_price_fen, limits=v.trial_limits)
            if v.trial_days is not None
            else None
        ),
        "go_live_days": v.go_live_days,
        "sla_response_hours": v.sla_response_hours,
        "interfaces": [
            s.Interface(flow=i.flow.value, protocol=i.protocol_code, data_object=i.data_object_code)
            for i in v.interfaces
        ],
        "rating": s.Rating(
            average=round(p.rating_sum / p.rating_count, 2) if p.rating_count else None,
            count=p.rating_count,
        ),
        "published_at": v.published_at,
    }
    if detail:
        fields.update(description=v.description, enterprise_provides=v.enterprise_provides)
    return fields


def _track_record(r: track_record.TrackRecord) -> s.TrackRecord:
    return s.TrackRecord(
        contracts_met=r.contracts_met,
        contracts_missed=r.contracts_missed,
        median_improvement_pct=r.improvement_pct.number,
        on_time_delivery_pct=r.on_time.number,
        sla_met_pct=r.sla_met.number,
        cases={
            "contracts": r.contracts.cases,
            "improvement": r.improvement_pct.cases,
            "delivery": r.on_time.cases,
            "sla": r.sla_met.cases,
        },
        metrics=[
            s.MetricImprovement(
                metric=m.metric.code, median_change=float(m.change.value or 0), cases=m.change.cases
            )
            for m in r.metrics
        ],
    )


def _packages(rows: list[dict[str, Any]], detail: bool = False) -> list[Any]:
    """Packages with their track records, computed for the whole page at once."""
    records = track_record.for_packages([f["id"] for f in rows])
    model = s.PackageDetail if detail else s.Package
    out = []
    for f in rows:
        r = records[f["id"]]
        provider = s.PackageProvider(
            **f["provider"], evaluations=s.Evaluations(passed=r.passed, failed=r.failed)
        )
        out.append(model(**{**f, "provider": provider}, track_record=_track_record(r)))
    return out


def _catalogue_query() -> search.Query:
    args = {k: v for k, v in request.args.items() if k in FILTERS}
    days = args.get("max_go_live_days")
    if days is not None and not (days.isascii() and days.isdigit()):
        raise ApiError(
            422,
            "`max_go_live_days` must be a whole number.",
            [FieldError(field="max_go_live_days", message="a whole number")],
        )
    q = search.parse(
        args,
        categories={c.code for c in catalog.categories()},
        industries={i.code for i in accounts.industries()},
        pools=set(),
    )
    if q.notes:
        raise ApiError(
            422,
            "Unknown filter values: " + ", ".join(q.notes) + ".",
            [FieldError(field=n, message="unknown value") for n in q.notes],
        )
    return q


_VERSION_LOAD = (
    selectinload(PackageVersion.plans),
    selectinload(PackageVersion.interfaces),
    selectinload(PackageVersion.industries),
    selectinload(PackageVersion.size_tier_rows),
    selectinload(PackageVersion.package).joinedload(Package.provider),
)


@list_endpoint(
    "/packages",
    path="/packages",
    summary="The published catalogue, with the web catalogue's filters",
    response=s.PackageList,
    query=FILTERS,
)
def packages() -> Any:
    q = _catalogue_query()
    limit = page_limit()
    if q.text:
        return _ranked_packages(q, limit)
    after = decode_cursor(request.args.get("cursor"))

    def page() -> tuple[list[dict[str, Any]], str | None]:
        stmt = search.matching(q)
        if after is not None:
            stmt = stmt.where(Package.id > after)
        rows = list(
            db.session.scalars(stmt.order_by(Package.id).limit(limit + 1).options(*_VERSION_LOAD))
        )
        page, cursor = page_of(rows, limit, lambda v: v.package_id)
        return [_package_fields(v) for v in page], cursor

    # the same for every client until the catalogue changes; the track records are fresh
    key = (tuple(sorted(q.url_args().items())), limit, after)
    items, cursor = freshness.cached("api-packages", key, page, freshness.catalogue_scopes(q.pool))
    return _package_list(items, cursor)


def _package_list(items: list[dict[str, Any]], cursor: str | None) -> Response:
    body = s.PackageList(items=_packages(items), next_cursor=cursor).model_dump_json()
    return Response(body, mimetype="application/json")


def _ranked_packages(q: search.Query, limit: int) -> Response:
    """A search's packages in the web catalogue's relevance order, paged by position."""
    skip = decode_cursor(request.args.get("cursor"), "skip") or 0

    def page() -> tuple[list[dict[str, Any]], str | None]:
        ids = search.page_ids(q, per_page=limit + 1, offset=skip).ids
        found = {
            v.id: v
            for v in db.session.scalars(
                select(PackageVersion).where(PackageVersion.id.in_(ids)).options(*_VERSION_LOAD)
            )
        }
        rows = [found[i] for i in ids if i in found]
        page, cursor = page_of(rows, limit, lambda _v: skip + limit, "skip")
        return [_package_fields(v) for v in page], cursor

    key = (tuple(sorted(q.url_args().items())), limit, skip)
    items, cursor = freshness.cached("api-packages", key, page, freshness.catalogue_scopes(q.pool))
    return _package_list(items, cursor)


@endpoint(
    "/packages/<any_id:package_id>",
    path="/packages/{package_id}",
    summary="One published package",
    response=s.PackageDetail,
    errors=(404,),
)
def package(package_id: int) -> Any:
    version = db.session.scalar(
        catalog.visible_versions().where(Package.id == package_id).options(*_VERSION_LOAD)
    )
    if version is None:
        raise NotFound("no such package")
    return json_response(_packages([_package_fields(version, detail=True)], detail=True)[0])


# Voucher programmes (public): the same figures as /transparency


def _appointed(rows: list[Appointment]) -> list[s.AppointedIntegrator]:
    today = local_today()
    return [
        s.AppointedIntegrator(
            provider=_ref(a.integrator),
            reason=a.reason,
            term_end=a.term_end,
            integration_fee_cap_pct=a.integration_fee_cap_bp / 100,
        )
        for a in rows
        if a.current(today)
    ]


def _programmes(rows: list[VoucherProgramme]) -> list[s.Programme]:
    """The programmes with their money, appointed integrators and admission decisions, each
    read for the whole page at once."""
    ids = [p.id for p in rows]
    money = figures.of_programmes(rows)
    appointed = appointments.of_programmes(ids)
    decided = admission.decision_figures(ids)
    return [
        _from(
            s.Programme,
            money[p.id],
            id=p.id,
            name=p.name,
            agency=_ref(p.agency),
            mode=p.mode,
            status=p.status,
            appointed_integrators=_appointed(appointed[p.id]),
            admissions=_from(s.AdmissionFigures, decided[p.id]),
        )
        for p in rows
    ]


def _public_programmes() -> Any:
    return (
        select(VoucherProgramme)
        .where(VoucherProgramme.status != ProgrammeStatus.DRAFT)
        .options(joinedload(VoucherProgramme.agency))
    )


def _public_programme(programme_id: int) -> VoucherProgramme:
    found = db.session.scalar(_public_programmes().where(VoucherProgramme.id == programme_id))
    if found is None:
        raise NotFound("no such programme")
    return found


@list_endpoint(
    "/programmes",
    path="/programmes",
    summary="Voucher programmes and their money, as on the transparency page",
    response=s.ProgrammeList,
)
def programmes() -> Any:
    rows, cursor = paginate(_public_programmes(), VoucherProgramme.id, newest_first=False)
    return json_response(s.ProgrammeList(items=_programmes(rows), next_cursor=cursor))


@endpoint(
    "/programmes/<any_id:programme_id>",
    path="/programmes/{programme_id}",
    summary="One voucher programme and its money",
    response=s.Programme,
    errors=(404,),
)
def programme(programme_id: int) -> Any:
    return json_response(_programmes([_public_programme(programme_id)])[0])


ADMISSION_STATES = {
    "state": ("string", "pending, admitted or rejected: only the versions in this state."),
}


def _admission_state() -> AdmissionState | None:
    raw = request.args.get("state")
    if raw is None:
        return None
    try:
        return AdmissionState(raw)
    except ValueError:
        raise ApiError(
            422,
            "`state` must be pending, admitted or rejected.",
            [FieldError(field="state", message="pending, admitted or rejected")],
        ) from None


def _admission(v: PackageVersion, standing: admission.Standing) -> s.Admission:
    row = standing.admission
    return s.Admission(
        package_id=v.package_id,
        version=v.number,
        title=v.title,
        provider=_ref(v.package.provider),
        state=standing.state.value,
        decided_at=row.decided_at if row else None,
        inherited=row is not None and row.event is AdmissionEvent.INHERIT,
    )


@list_endpoint(
    "/programmes/<any_id:programme_id>/admissions",
    path="/programmes/{programme_id}/admissions",
    summary="Which published packages the programme's vouchers pay for (package admission)",
    response=s.AdmissionList,
    query=ADMISSION_STATES,
    errors=(404,),
    description=(
        "The catalogue's current versions the programme could pay for (its categories; in"
        " open mode, providers in the agency's pool), by package id, each pending, admitted"
        " or rejected by the agency or the assessor it delegates, as on the package pages."
    ),
)
def admission_list(programme_id: int) -> Any:
    state = _admission_state()
    limit = page_limit()
    after = decode_cursor(request.args.get("cursor")) or 0
    found = _public_programme(programme_id)
    rows = [
        (v, standing)
        for v, standing in admission.programme_standings(found, state)
        if v.package_id > after
    ]
    page, cursor = page_of(rows, limit, lambda row: row[0].package_id)
    return json_response(
        s.AdmissionList(items=[_admission(v, st) for v, st in page], next_cursor=cursor)
    )


# Orders


def _kind() -> str:
    return org().kind.value


def _line(line: OrderLine) -> s.Line:
    # Withdrawing within a cooling-off period is offered on the web's order page only.
    events = [
        e.value for e in LINE_MACHINE.events(line.status, _kind()) if e is not LineEvent.WITHDRAW
    ]
    return _from(s.Line, line, provider=_ref(line.provider), events=events)


def _order(o: Order) -> s.Order:
    me = org()
    lines = [line for line in o.lines if me.kind is OrgKind.ENTERPRISE or line.provider_id == me.id]
    return s.Order(
        number=o.number,
        created_at=o.created_at,
        enterprise=_ref(o.enterprise),
        lines=[_line(line) for line in lines],
    )


def _of_my_side(model: Any, what: str) -> Any:
    """Rows of ``model`` whose enterprise or provider (by its kind) is the token's organisation."""
    me = org()
    if me.kind is OrgKind.ENTERPRISE:
        return select(model).where(model.enterprise_id == me.id)
    if me.kind is OrgKind.PROVIDER:
        return select(model).where(model.provider_id == me.id)
    raise ApiError(403, f"{what} are for their enterprise and provider.")


def _parties_only() -> None:
    if org().kind not in (OrgKind.ENTERPRISE, OrgKind.PROVIDER):
        raise ApiError(403, "Orders are for enterprises and providers.")


@list_endpoint(
    "/orders",
    path="/orders",
    summary="Your orders: an enterprise's own, or those with lines a provider fulfils",
    response=s.OrderList,
    scope=ApiScope.ORDERS_READ,
)
def order_list() -> Any:
    _parties_only()
    me = org()
    stmt = select(Order).options(
        selectinload(Order.lines).joinedload(OrderLine.provider), selectinload(Order.enterprise)
    )
    if me.kind is OrgKind.ENTERPRISE:
        stmt = stmt.where(Order.enterprise_id == me.id)
    else:
        stmt = stmt.where(
            exists().where(OrderLine.order_id == Order.id, OrderLine.provider_id == me.id)
        )
    return _page(s.OrderList, stmt, Order.id, _order)


@endpoint(
    "/orders/<order_number:order_number>",
    path="/orders/{number}",
    summary="One order (a provider sees only its lines)",
    response=s.Order,
    scope=ApiScope.ORDERS_READ,
    errors=(404,),
)
def order(order_number: str) -> Any:
    _parties_only()
    o, _lines = orders.order_for(org(), order_number[:24])
    return json_response(_order(o))


@endpoint(
    "/order-lines/<any_id:line_id>/transitions",
    path="/order-lines/{line_id}/transitions",
    summary="Move an order line: the web's state machine and actor rules",
    response=s.Line,
    scope=ApiScope.ORDERS_WRITE,
    method="POST",
    body=s.TransitionIn,
    errors=(404, 409),
    description="`409` when the event is not possible from the line's status for you.",
)
def transition(line_id: int, body: s.TransitionIn) -> Any:
    _parties_only()
    line = orders.line_for(org(), line_id)
    event = LineEvent(body.event)
    if event not in LINE_MACHINE.events(line.status, _kind()):
        raise ApiError(409, f"`{event.value}` is not possible from `{line.status.value}` for you.")
    orders.transition(line, event, body.note, actor(), _kind())
    return json_response(_line(line))


# Outcome contracts and measurements


def _contract(c: OutcomeContract) -> s.Contract:
    return _from(
        s.Contract,
        c,
        enterprise=_ref(c.enterprise),
        provider=_ref(c.provider),
        metric=c.metric_code,
        unit=c.metric.unit,
        target_value=float(c.target_value),
        baseline_value=_num(c.baseline_value),
        achieved_value=_num(c.achieved_value),
    )


def _measurement(m: Measurement) -> s.Measurement:
    return _from(s.Measurement, m, value=float(m.value))


@list_endpoint(
    "/contracts",
    path="/contracts",
    summary="Your pay-for-results contracts",
    response=s.ContractList,
    scope=ApiScope.CONTRACTS_READ,
)
def contract_list() -> Any:
    return _page(
        s.ContractList, _of_my_side(OutcomeContract, "Contracts"), OutcomeContract.id, _contract
    )


@endpoint(
    "/contracts/<any_id:contract_id>",
    path="/contracts/{contract_id}",
    summary="One contract",
    response=s.Contract,
    scope=ApiScope.CONTRACTS_READ,
    errors=(404,),
)
def contract(contract_id: int) -> Any:
    return json_response(_contract(outcomes.contract_for(org(), contract_id)))


@list_endpoint(
    "/contracts/<any_id:contract_id>/measurements",
    path="/contracts/{contract_id}/measurements",
    summary="A contract's measurements",
    response=s.MeasurementList,
    scope=ApiScope.CONTRACTS_READ,
    errors=(404,),
)
def measurement_list(contract_id: int) -> Any:
    c = outcomes.contract_for(org(), contract_id)
    stmt = select(Measurement).where(Measurement.contract_id == c.id)
    return _page(s.MeasurementList, stmt, Measurement.id, _measurement)


@report_endpoint(
    "/contracts/<any_id:contract_id>/measurements",
    stored="one",
    path="/contracts/{contract_id}/measurements",
    summary="Report a measurement (the contract's provider)",
    response=s.Measurement,
    scope=ApiScope.MEASUREMENTS_WRITE,
    body=s.MeasurementIn,
    description=(
        "Idempotent by `external_id`: the same body again answers 200 with the stored "
        "measurement; the same id with other figures answers 409, and so does another "
        "measurement for a period already measured (one per period)."
    ),
)
def measurement_post(contract_id: int, body: s.MeasurementIn) -> Any:
    c = outcomes.contract_for(org(), contract_id)
    _only(c.provider_id, "Only the contract's provider reports measurements.")
    reading = outcomes.Reading(**{**body.model_dump(), "value": f"{Decimal(repr(body.value)):f}"})
    with _refusals(outcomes.Conflict):
        m, created = outcomes.submit(c, reading, actor(), source="api")
    return json_response(_measurement(m), status=201 if created else 200)


# Usage of usage plans


def _usage(r: UsageRecord) -> s.UsageRecord:
    return _from(
        s.UsageRecord,
        r,
        month=f"{r.month // 100:04d}-{r.month % 100:02d}",
        billed=r.statement_id is not None,
    )


@report_endpoint(
    "/subscriptions/<any_id:line_id>/usage",
    stored="record",
    path="/subscriptions/{line_id}/usage",
    summary="Report usage of a usage plan (the line's provider)",
    response=s.UsageRecord,
    scope=ApiScope.USAGE_WRITE,
    body=s.UsageIn,
    description=(
        "`{line_id}` is the id of the order line bought on a usage plan (the subscription;"
        " `order_line_id` in `/orders`). `metric` must be the unit the plan meters;"
        " `quantity` a whole number ≥ 0; the period lies inside one calendar month, from the"
        " enterprise's acceptance (验收) to today. Idempotent by `external_id`: the same body"
        " again answers 200 with the stored record; the same id with other figures answers"
        " 409. Late records are taken until their month is billed; after that 409. Lines of"
        " other providers (and lines not on a usage plan) answer 404."
    ),
)
def usage_post(line_id: int, body: s.UsageIn) -> Any:
    line = usage.usage_line_for(org(), line_id)
    _only(line.provider_id, "Only the line's provider reports usage.")
    report = usage.Report(**body.model_dump())
    with _refusals(usage.Conflict, usage.MonthBilled):
        record, created = usage.report(line, report, actor(), source="api")
    return json_response(_usage(record), status=201 if created else 200)


# Money


def _invoice(i: Invoice) -> s.Invoice:
    return _from(s.Invoice, i, enterprise=_ref(i.enterprise), provider=_ref(i.provider))


@list_endpoint(
    "/invoices",
    path="/invoices",
    summary="Your invoices (to an enterprise, or from a provider)",
    response=s.InvoiceList,
    scope=ApiScope.INVOICES_READ,
)
def invoice_list() -> Any:
    return _page(s.InvoiceList, _of_my_side(Invoice, "Invoices"), Invoice.id, _invoice)


def _voucher(v: Voucher) -> s.Voucher:
    available = (
        v.face_value_fen
        - v.reserved_fen
        - v.redeemed_fen
        - v.expired_fen
        - v.clawed_back_fen
        - v.revoked_fen
    )
    return _from(
        s.Voucher,
        v,
        programme=_ref(v.programme),
        available_fen=available,
        redeem_by=v.programme.redeem_by,
    )


@list_endpoint(
    "/vouchers",
    path="/vouchers",
    summary="The enterprise's transformation vouchers",
    response=s.VoucherList,
    scope=ApiScope.VOUCHERS_READ,
)
def voucher_list() -> Any:
    me = org()
    if me.kind is not OrgKind.ENTERPRISE:
        raise ApiError(403, "Vouchers are held by enterprises.")
    stmt = select(Voucher).where(Voucher.enterprise_id == me.id)
    return _page(s.VoucherList, stmt, Voucher.id, _voucher)
