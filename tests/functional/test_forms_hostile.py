"""Fields that take text get text: a file part (multipart) or a JSON value that is not a
string, sent where a form expects text, is refused with a message (422), never a 500. One
guard in the base form (marketplace/forms.py) covers every form; file fields keep their files.

Three layers: every form class of the app, checked directly; every POST route of the app,
walked as a user of the role it requires in the demo world, with every text field name of
every form sent as a file part and as JSON data; and the pages users meet first (login,
bundles), through the web, in both languages.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from itertools import product

import pytest
from flask import Flask, url_for
from sqlalchemy import Connection, Engine, Table, select
from werkzeug.datastructures import FileStorage
from werkzeug.routing import AnyConverter, Rule
from wtforms import FileField, SelectFieldBase
from wtforms.fields.core import Field

from marketplace import create_app, migrate
from marketplace.accounts.models import (
    ApiToken,
    DataGrant,
    Invitation,
    MemberRole,
    Organisation,
    OrgKind,
    ProfileChange,
    User,
)
from marketplace.catalog.models import (
    CuratedBundle,
    Package,
    PackageVersion,
    PricePlan,
    SearchSynonym,
    VersionInterface,
)
from marketplace.config import TestConfig
from marketplace.db import db, make_engine, writing
from marketplace.demo import seed
from marketplace.diagnosis.models import AdvisorVisit, Diagnosis, ReportShare
from marketplace.forms import TEXT_ONLY, Form
from marketplace.jobs.models import JobRecord
from marketplace.mail import OutgoingMail
from marketplace.orders.models import (
    Bundle,
    BundleItem,
    Dispute,
    LineEvent,
    Milestone,
    Need,
    OrderLine,
    Quote,
    Ticket,
    Trial,
)
from marketplace.outcomes.models import Case, Measurement, OutcomeContract
from marketplace.oversight.models import EvaluationEntry, EvaluationRound, KpiReport
from marketplace.payments.models import Invoice, Payout, Refund
from marketplace.pool.models import AdvisorMembership, PoolDocument, PoolMembership
from marketplace.security import access_of
from marketplace.vouchers.models import (
    Appointment,
    CapHold,
    ClawBack,
    IssueRun,
    RecoveryClaim,
    RiskFlag,
    Settlement,
    StagedImport,
    Voucher,
    VoucherApplication,
    VoucherProgramme,
)
from tests.conftest import Client, scratch_database_url
from tests.factories import UserFactory

TEXT_ONLY_ZH = "此项只能填写文字。"
TEXT_ONLY_EN = "This field takes text only."


# Every form class


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def app_forms(app: Flask) -> list[type[Form]]:
    """Every form class of the app (the blueprints import them all)."""
    assert app  # the app imports every module
    return sorted(
        (f for f in _subclasses(Form) if f.__module__.startswith("marketplace.")),
        key=lambda f: f"{f.__module__}.{f.__qualname__}",
    )


def _build(form_class: type[Form]) -> Form:
    try:
        form = form_class(meta={"csrf": False})
    except TypeError:  # forms whose view hands them their choices
        form = form_class([], meta={"csrf": False})
    for field in form:
        if isinstance(field, SelectFieldBase) and getattr(field, "choices", []) is None:
            field.choices = []
    return form


def _text_fields(form: Form) -> list[Field]:
    return [f for f in form if not isinstance(f, FileField)]


def test_every_form_derives_from_the_guarded_base(app):
    from flask_wtf import FlaskForm

    strays = [
        f"{f.__module__}.{f.__qualname__}"
        for f in _subclasses(FlaskForm)
        if f.__module__.startswith("marketplace.") and not issubclass(f, Form)
    ]
    assert not strays
    assert len(app_forms(app)) >= 40


def test_every_form_refuses_a_file_where_it_expects_text(app):
    for form_class in app_forms(app):
        with app.test_request_context():
            names = [f.name for f in _build(form_class)]
        if not names:
            continue  # a confirmation: only its CSRF token (checked before the form)
        data = {name: (io.BytesIO(b"=1+1"), "x.txt") for name in names}
        with app.test_request_context(method="POST", data=data):
            form = _build(form_class)
            # only a form of nothing but files (an upload) takes the files it is given
            only_files = all(isinstance(field, FileField) for field in form)
            assert form.validate() is only_files, form_class
            for field in form:
                if isinstance(field, FileField):
                    assert isinstance(field.data, FileStorage), (form_class, field.name)
                    assert str(TEXT_ONLY) not in field.errors
                else:
                    assert str(TEXT_ONLY) in field.errors, (form_class, field.name)


def test_every_form_refuses_json_values_that_are_not_text(app):
    for form_class in app_forms(app):
        with app.test_request_context():
            names = [f.name for f in _text_fields(_build(form_class))]
        if not names:
            continue
        body = {name: {"x": 1} for name in names}
        with app.test_request_context(method="POST", json=body):
            form = _build(form_class)
            assert not form.validate(), form_class
            for field in _text_fields(form):
                assert str(TEXT_ONLY) in field.errors, (form_class, field.name)


# Every POST route, in the demo world


DEMO_USERS = {
    OrgKind.PLATFORM.value: "admin@platform.demo",
    OrgKind.AGENCY.value: "official@sjz.demo",
    OrgKind.ASSESSOR.value: "assessor@assess.demo",
    OrgKind.PROVIDER.value: "i01@provider.demo",
    OrgKind.ENTERPRISE.value: "e001@enterprise.demo",
    OrgKind.ADVISOR.value: "adv01@advisor.demo",
}

# The objects a URL's ids name.
ID_MODELS: dict[str, tuple[type, ...]] = {
    "agency_id": (Organisation,),
    "application_id": (VoucherApplication,),
    "appointment_id": (Appointment,),
    "bundle_id": (Bundle, CuratedBundle),
    "case_id": (Case,),
    "claim_id": (RecoveryClaim,),
    "clawback_id": (ClawBack,),
    "change_id": (ProfileChange,),
    "contract_id": (OutcomeContract,),
    "curated_id": (CuratedBundle,),
    "diagnosis_id": (Diagnosis,),
    "entry_id": (EvaluationEntry, SearchSynonym),
    "flag_id": (RiskFlag,),
    "grant_id": (DataGrant,),
    "interface_id": (VersionInterface,),
    "invitation_id": (Invitation,),
    "dispute_id": (Dispute,),
    "document_id": (PoolDocument,),
    "invoice_id": (Invoice,),
    "item_id": (BundleItem,),
    "line_id": (OrderLine,),
    "mail_id": (OutgoingMail,),
    "measurement_id": (Measurement,),
    "membership_id": (PoolMembership, AdvisorMembership),
    "milestone_id": (Milestone,),
    "need_id": (Need,),
    "package_id": (Package,),
    "payout_id": (Payout,),
    "plan_id": (PricePlan,),
    "programme_id": (VoucherProgramme,),
    "quote_id": (Quote,),
    "record_id": (JobRecord,),
    "refund_id": (Refund,),
    "report_id": (KpiReport,),
    "round_id": (EvaluationRound,),
    "hold_id": (CapHold,),
    "run_id": (IssueRun,),
    "settlement_id": (Settlement,),
    "share_id": (ReportShare,),
    "staged_id": (StagedImport,),
    "ticket_id": (Ticket,),
    "token_id": (ApiToken,),
    "trial_id": (Trial,),
    "user_id": (User,),
    "version_id": (PackageVersion,),
    "visit_id": (AdvisorVisit,),
    "voucher_id": (Voucher,),
}
ATTEMPTS = 3  # objects tried for a URL before taking its 404 as the answer


def _owners(table: Table, row_id: int, depth: int = 2) -> set[int]:
    """The organisations a row belongs to: the organisations it names, and those of the rows
    it names, two steps deep (a measurement's contract's enterprise and provider)."""
    row = db.session.execute(select(table).where(table.c.id == row_id)).mappings().first()
    if row is None:
        return set()
    found = {row_id} if table.name == "organisations" else set()
    for key in table.foreign_keys:
        value, target = row[key.parent.name], key.column.table
        if value is None or not isinstance(target, Table) or target.name == "users":
            continue  # who did it (created_by_id, …) is not whose it is
        if target.name == "organisations":
            if key.column.name == "id":  # not a kind a composite key checks (a package's)
                found.add(value)
        elif depth and "id" in target.c:
            found |= _owners(target, value, depth - 1)
    if table.name == "users":
        found.add(row["org_id"])
    return found


def _owner_email(org_id: int, kind: str) -> str | None:
    return db.session.scalar(
        select(User.email)
        .join(Organisation, Organisation.id == User.org_id)
        .where(
            User.org_id == org_id,
            User.role == MemberRole.OWNER,
            User.active.is_(True),
            Organisation.kind == kind,
        )
        .order_by(User.id)
    )


def _children(arg: str, chosen: dict[str, int]) -> int:
    """The first ``arg`` within the objects already chosen (an item of that bundle)."""
    for model in ID_MODELS[arg]:
        columns = model.__table__.c
        stmt = select(columns.id).order_by(columns.id)
        for parent, value in chosen.items():
            if parent in columns:
                stmt = stmt.where(columns[parent] == value)
        found = db.session.scalar(stmt)
        if found is not None:
            return int(found)
    return 1


def _plans(rule: Rule, kind: str | None) -> list[tuple[str | None, dict[str, int]]]:
    """Who posts (an owner of an organisation of ``kind``) and the ids in the URL: objects
    that organisation owns where the demo world has them, else the demo user of that kind."""
    id_args = [a for a in re.findall(r"<(?:[^:>]+:)?([a-z_]+)>", rule.rule) if a in ID_MODELS]
    default = DEMO_USERS.get(kind or "")
    if not id_args:
        return [(default, {})]
    first, plans = id_args[0], []
    fallback: list[tuple[str | None, dict[str, int]]] = []
    for model in ID_MODELS[first]:
        table = model.__table__
        for row_id in db.session.scalars(select(table.c.id).order_by(table.c.id).limit(60)):
            if len(fallback) < ATTEMPTS:
                fallback.append((default, {first: row_id}))
            if kind in (None, OrgKind.PLATFORM.value):
                continue
            email = next(
                (e for o in sorted(_owners(table, row_id)) if (e := _owner_email(o, kind))),
                None,
            )
            if email is not None:
                plans.append((email, {first: row_id}))
            if len(plans) == ATTEMPTS:
                break
    found = plans or fallback or [(default, {first: 1})]
    for _email, ids in found:
        for arg in id_args[1:]:
            ids[arg] = _children(arg, ids)
    return found


def _variants(rule: Rule) -> list[dict[str, str]]:
    """Values for the URL's words: every option of ``any(…)``; every line event."""
    options: dict[str, list[str]] = {}
    for arg in sorted(rule.arguments):
        converter = rule._converters[arg]  # type: ignore[attr-defined]
        if isinstance(converter, AnyConverter):
            options[arg] = sorted(converter.items)
        elif arg == "event":
            options[arg] = [e.value for e in LineEvent]
        elif arg == "token":
            options[arg] = ["x" * 43]
    names = list(options)
    return [dict(zip(names, values, strict=True)) for values in product(*options.values())]


def _post_routes(app: Flask) -> list[tuple[str, str, str | None]]:
    """(endpoint, words, user kind) for every POST route and each kind that may use it."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "POST" not in (rule.methods or ()):
            continue
        access = access_of(rule.endpoint, app)
        assert access is not None, rule.endpoint
        if access.public or access.api_scope:
            kinds: list[str | None] = [None]
        else:
            kinds = sorted(access.kinds) or [OrgKind.ENTERPRISE.value]
        for words in _variants(rule):
            for kind in kinds:
                found.append((rule.endpoint, json.dumps(words), kind))
    return found


@pytest.fixture(scope="module")
def world(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Engine]]:
    """The demo dataset in a database of its own (``app``: the translations are compiled)."""
    url = scratch_database_url(tmp_path_factory, "hostile")
    engine = make_engine(url)
    migrate.upgrade(engine)
    config = TestConfig(url)
    config.RATELIMIT_ENABLED = False  # hundreds of sign-ins from one address
    world_app = create_app(config)
    world_app.test_client_class = Client
    with world_app.app_context(), writing():
        seed.load()
        db.session.commit()
    yield world_app, engine
    world_app.extensions["db"].engine.dispose()  # its connections, before the GC finds them
    engine.dispose()


@pytest.fixture
def world_client(world: tuple[Flask, Engine]) -> Iterator[Client]:
    """A client of the demo world whose requests are rolled back at the test's end."""
    world_app, engine = world
    conn: Connection = engine.connect()
    outer = conn.begin()
    state = world_app.extensions["db"]
    state.bind, state.join_transaction_mode = conn, "create_savepoint"
    try:
        yield world_app.test_client()  # type: ignore[misc]
    finally:
        outer.rollback()
        conn.close()
        state.bind, state.join_transaction_mode = state.engine, "conditional_savepoint"


def _all_text_field_names(app: Flask) -> list[str]:
    names: set[str] = set()
    for form_class in app_forms(app):
        with app.test_request_context():
            names |= {f.name for f in _text_fields(_build(form_class))}
    return sorted(names - {"csrf_token"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "post_route" in metafunc.fixturenames:
        routes = _post_routes(create_app(TestConfig("sqlite://")))
        metafunc.parametrize("post_route", routes, ids=[f"{e}{w}-{k}" for e, w, k in routes])


def test_every_post_route_answers_hostile_fields_without_a_500(world, world_client, post_route):
    world_app, _engine = world
    endpoint, words, kind = post_route
    rule = next(r for r in world_app.url_map.iter_rules() if r.endpoint == endpoint)
    names = _all_text_field_names(world_app)
    with world_app.app_context():
        plans = _plans(rule, kind)
    client, signed_in = world_client, None
    for email, ids in plans:
        if email != signed_in:
            client.post("/logout", data={"csrf_token": client.csrf_token()})
            if email is not None:
                client.login(email, seed.DEMO_PASSWORD)
            signed_in = email
        token = client.csrf_token()
        with world_app.test_request_context():
            url = url_for(endpoint, **json.loads(words), **ids)
        files = {name: (io.BytesIO(b"=HYPERLINK(1)"), "x.txt") for name in names}
        multipart = client.post(url, data={"csrf_token": token, **files})
        as_json = client.post(
            url,
            data=json.dumps({"csrf_token": token, **{n: {"x": [1]} for n in names}}),
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )
        answers = [multipart.status_code, as_json.status_code]
        assert all(code < 500 for code in answers), (url, email, answers)
        if 404 not in answers:
            break


# Through the web, where users meet it first


def test_login_refuses_a_file_for_the_e_mail(client, dbs):
    UserFactory(email="f@hostile.cn")
    token = client.csrf_token()
    for name in ("email", "password", "next"):
        data = {"csrf_token": token, "email": "f@hostile.cn", "password": "x" * 12}
        response = client.post("/login", data={**data, name: (io.BytesIO(b"f@hostile.cn"), "a")})
        assert response.status_code == 422, name
        assert TEXT_ONLY_ZH in response.get_data(as_text=True), name


def test_login_refuses_json_values_that_are_not_text(english, dbs):
    token = english.csrf_token()
    for body in ({"email": {"a": 1}, "password": "x"}, ["x"], "x", {"email": 5}):
        response = english.post("/login", json=body, headers={"X-CSRFToken": token} if body else {})
        assert response.status_code == 422, body
    response = english.post(
        "/login", json={"email": ["a@b.cn", {"x": 1}]}, headers={"X-CSRFToken": token}
    )
    assert TEXT_ONLY_EN in response.get_data(as_text=True)


def test_bundles_refuse_a_file_for_a_name_or_a_package(client, dbs):
    from tests.factories import OrganisationFactory

    org = OrganisationFactory()
    UserFactory(org=org, email="b@hostile.cn")
    client.login("b@hostile.cn")
    token = client.csrf_token()
    named = client.post(
        "/my-bundles", data={"csrf_token": token, "name": (io.BytesIO(b"=1+1"), "n.txt")}
    )
    assert named.status_code == 422
    assert TEXT_ONLY_ZH in named.get_data(as_text=True)
    added = client.post(
        "/my-bundles/add",
        data={"csrf_token": token, "bundle_id": "new", "package_id": (io.BytesIO(b"1"), "p")},
        follow_redirects=True,
    )
    assert "请选择要加入的转型包" in added.get_data(as_text=True)
    assert dbs.scalar(select(Bundle.id).where(Bundle.enterprise_id == org.id)) is None
