"""The OpenAPI 3.1 document, made from the endpoint declarations and the pydantic schemas, and a
readable reference page rendered from that same document (no scripts, no outside assets)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from flask import Blueprint, Response, json
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import Markup
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from marketplace.accounts.models import API_SCOPE_LABELS, ApiScope
from marketplace.api.core import ENDPOINTS, MAX_BODY, MAX_LIMIT, PROBLEM, TITLES, Endpoint
from marketplace.api.schemas import Problem
from marketplace.rendering import render
from marketplace.security import MAX_ID, public

docs_bp = Blueprint("api_docs", __name__)

REF = "#/components/schemas/{model}"


def N_(text: str) -> str:
    """Marks ``text`` for the catalogue (``pybabel extract -k N_``) without translating it:
    the document keeps it in English, the page translates it when it is shown."""
    return text


INTRO = N_(
    """\
JSON over HTTPS for providers' MES and IoT platforms and enterprises' own systems.

* **Tokens.** An organisation's owner creates them under *My organisation → API tokens*, or an
  operator runs `flask --app app api-token create`. Send `Authorization: Bearer <token>`; a
  token in the URL is refused. Unknown, revoked or expired: 401. Missing scope: 403. Another
  organisation's object: 404.
* **Money** is in fen (1/100 yuan), as integers. Dates are `YYYY-MM-DD`; times are UTC.
* **Lists** are pages: `limit` (1–%(max_limit)d) and the opaque `cursor` from `next_cursor`.
* **Errors** are `application/problem+json` (RFC 9457); 422 lists each field's problem.
  Malformed JSON: 400. Bodies over %(max_kib)d KiB: 413.
* **Rate limits** apply per token (per address without one): 429 with `Retry-After`.
* **Measurements** are idempotent by `external_id`: send again safely after a timeout.
* **Usage** of usage plans is reported per order line, idempotent by `external_id` too.
"""
)
INTRO_VALUES = {"max_limit": MAX_LIMIT, "max_kib": MAX_BODY // 1024}
DESCRIPTION = INTRO % INTRO_VALUES


# Every other text the reference page shows (summaries, descriptions of endpoints, parameters,
# responses, schemas and fields), marked for the catalogue: the page shows each in the reader's
# language (``doc_text``); openapi.json, for machines, stays in English. A text changed in
# ``core``/``schemas`` and not here shows in English, and the test of Chinese pages fails.
SHOWN_TEXTS = (
    N_("The published catalogue, with the web catalogue's filters"),
    N_(
        "Words, as in the web catalogue's search: title, category, summary, description, provider, industries, interfaces and tags, with the search thesaurus (Chinese is matched by character pairs; spaces and punctuation only separate words). With words the list is in the catalogue's relevance order, not by id."
    ),
    N_("A category code, e.g. `predictive_maintenance`."),
    N_("An industry code the package serves."),
    N_("micro, small, medium or large."),
    N_("A plan kind: one_time, subscription, outcome or usage."),
    N_("integrator or scenario."),
    N_("At most this many days to go live."),
    N_("`true` (or `1`): only packages whose provider offers a trial."),
    N_("Items per page, 1–100 (default 20)."),
    N_("The `next_cursor` of the previous page."),
    N_("OK"),
    N_("Bad request"),
    N_("Unprocessable content"),
    N_("Too many requests"),
    N_("One published package"),
    N_("Not found"),
    N_("Voucher programmes and their money, as on the transparency page"),
    N_("One voucher programme and its money"),
    N_("Your orders: an enterprise's own, or those with lines a provider fulfils"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("One order (a provider sees only its lines)"),
    N_("Move an order line: the web's state machine and actor rules"),
    N_("`409` when the event is not possible from the line's status for you."),
    N_("Conflict"),
    N_("Payload too large"),
    N_("Unsupported media type"),
    N_("Your pay-for-results contracts"),
    N_("One contract"),
    N_("A contract's measurements"),
    N_("Report a measurement (the contract's provider)"),
    N_(
        "Idempotent by `external_id`: the same body again answers 200 with the stored measurement; the same id with other figures answers 409, and so does another measurement for a period already measured (one per period)."
    ),
    N_("Created"),
    N_("The same `external_id` with the same figures: the stored one."),
    N_("Your invoices (to an enterprise, or from a provider)"),
    N_("The enterprise's transformation vouchers"),
    N_("Where the problem is, e.g. `period_end` or `body`."),
    N_("Given when the invoice is finalised."),
    N_("Issue date plus the payment terms, in the pilots' local days."),
    N_("The transitions this token's organisation may make now."),
    N_("Your id; repeats are safe."),
    N_("For a provider: only the lines it fulfils."),
    N_("Pass as `cursor` for the next page; null at the end."),
    N_("One-time price, or an outcome plan's base fee."),
    N_("Outcome plans: the metric measured."),
    N_("RFC 9457 problem details."),
    N_("A URI naming the kind of problem."),
    N_("Each field's problem (422 only)."),
    N_(
        "A voucher programme's public figures, the same as on /transparency (sums of the voucher\nledger: issued counts revoked vouchers too, redeemed counts clawed-back redemptions too)."
    ),
    N_("Every voucher issued, at face value."),
    N_("Vouchers taken back unused: back in the budget."),
    N_("Spent at acceptance of delivery (验收)."),
    N_("Paid out to providers."),
    N_("Redemptions found not genuine."),
    N_("What holders may still spend."),
    N_(
        "An integrator the programme appoints now (its term runs and it was not ended), with the\nreason recorded; /transparency shows the call, criteria and applicants' scores too."
    ),
    N_("Why this integrator was appointed."),
    N_("The last day the appointment counts."),
    N_("Cap on its integration fee, in per cent of the bundle (e.g. 8.5)."),
    N_("Integrator mode and hybrid mode: the integrators appointed now."),
    N_("Mean of verified buyers' ratings, 1–5."),
    N_("The provider's verdicts in agencies' closed evaluation rounds."),
    N_("Median of achieved minus baseline, in the metric's units; positive is better."),
    N_(
        "Verified results on this platform (see /track-record/how). A figure is `null` when no case\nstands behind it; `cases` says how many do (fewer than 3: of limited weight)."
    ),
    N_("Median improvement of settled outcome contracts, in per cent of the baseline."),
    N_("Accepted lines delivered within the promised go-live days, in per cent."),
    N_("Support tickets that kept both the response and the resolution clock, in per cent."),
    N_("Cases behind each figure: `contracts`, `improvement`, `delivery`, `sla`."),
    N_("The reason, where one is needed."),
    N_("Report usage of a usage plan (the line's provider)"),
    N_(
        "`{line_id}` is the id of the order line bought on a usage plan (the subscription; `order_line_id` in `/orders`). `metric` must be the unit the plan meters; `quantity` a whole number ≥ 0; the period lies inside one calendar month, from the enterprise's acceptance (验收) to today. Idempotent by `external_id`: the same body again answers 200 with the stored record; the same id with other figures answers 409. Late records are taken until their month is billed; after that 409. Lines of other providers (and lines not on a usage plan) answer 404."
    ),
    N_("The same `external_id` with the same figures: the stored record."),
    N_("From this unit of the month on (counting included units)."),
    N_("Usage plans: what is metered (devices, report_calls, data_points, users)."),
    N_("Usage plans: the price of a unit from the first."),
    N_("Usage plans: graduated tiers, by `from_quantity`."),
    N_("Usage plans: units free each month."),
    N_("Usage plans: the least a month is billed."),
    N_("Usage plans: the most a month is billed."),
    N_("The unit the line's plan meters."),
    N_("Units used in the period (whole, ≥ 0)."),
    N_("In the same calendar month as `period_start`."),
    N_("The month it is billed with, YYYY-MM."),
    N_("A package's trial offer: one trial per enterprise; vouchers never pay for it."),
    N_("How long the trial lasts, 1–90 days."),
    N_("0 for a free trial, else below the entry price."),
    N_("What the trial leaves out, in the provider's words."),
    N_("The trial offer; `null` when there is none."),
    N_("Which published packages the programme's vouchers pay for (package admission)"),
    N_(
        "The catalogue's current versions the programme could pay for (its categories; in open mode, providers in the agency's pool), by package id, each pending, admitted or rejected by the agency or the assessor it delegates, as on the package pages."
    ),
    N_("pending, admitted or rejected: only the versions in this state."),
    N_(
        "Decisions on package admission (准入) in the programme, as on /transparency: versions\nadmitted and not admitted by the agency or its assessor (inherited ones are not counted)."
    ),
    N_("Median days from waiting to decision."),
    N_(
        "A published package version's standing in a programme: its vouchers pay only for\nadmitted versions; one without a decision waits (it can be bought without vouchers)."
    ),
    N_("When the decision was recorded (or kept from the previous version); null while pending."),
    N_("Kept from the previous version, which differs from this one only in texts."),
)

SCOPE_PREFIX = N_("Scope: `%(scope)s`.")
PUBLIC_PREFIX = N_("Public: no token needed.")
SCOPE_TEXT = re.compile(r"^Scope: `([^`]+)`\.(?: (.*))?$", re.S)


def doc_text(text: str | None) -> str:
    """A text of the document in the reader's language (the catalogue holds the texts marked
    above; an operation's description starts with its scope)."""
    if not text:
        return ""
    scoped = SCOPE_TEXT.match(text)
    if scoped:
        scope, rest = scoped.groups()
        return " ".join(filter(None, [_(SCOPE_PREFIX, scope=scope), doc_text(rest)]))
    if text.startswith(PUBLIC_PREFIX):
        rest = text.removeprefix(PUBLIC_PREFIX).strip()
        return " ".join(filter(None, [_(PUBLIC_PREFIX), doc_text(rest)]))
    return _(text)  # the texts are marked with N_ above


def doc_inline(text: str | None) -> Markup:
    """A short text of the document (one line) in the reader's language, as HTML."""
    return Markup(_inline(doc_text(text)))


def _path_parameters(path: str) -> list[dict[str, Any]]:
    found = []
    for name in re.findall(r"{(\w+)}", path):
        schema: dict[str, Any] = (
            {"type": "string", "pattern": "^ZX[0-9]{8}-[0-9]{6,9}$"}
            if name == "number"
            else {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        )
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    return found


def _operation(ep: Endpoint) -> dict[str, Any]:
    params = _path_parameters(ep.path) + [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": kind},
        }
        for name, (kind, text) in ep.query.items()
    ]
    ok = {
        "description": "OK" if ep.status == 200 else "Created",
        "content": {
            "application/json": {"schema": {"$ref": REF.format(model=ep.response.__name__)}}
        },
    }
    responses: dict[str, Any] = {str(ep.status): ok}
    for code, text in ep.other_statuses.items():
        responses[str(code)] = {**ok, "description": text}
    for code in ep.errors:
        answer: dict[str, Any] = {
            "description": TITLES.get(code, "Error"),
            "content": {PROBLEM: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
        if code == 429:
            answer["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
        responses[str(code)] = answer
    operation: dict[str, Any] = {
        "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', ep.path.lower()).strip('_')}",
        "summary": ep.summary,
        "tags": [ep.path.strip("/").split("/")[0]],
        "parameters": params,
        "responses": responses,
    }
    text = ep.description
    if ep.scope is not None:
        operation["security"] = [{"bearer": [ep.scope.value]}]
        text = f"{SCOPE_PREFIX % {'scope': ep.scope.value}} {text}".strip()
    else:
        operation["security"] = [{}]
        text = f"{PUBLIC_PREFIX} {text}".strip()
    operation["description"] = text
    if ep.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=ep.body.__name__)}}
            },
        }
    return operation


def document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for ep in ENDPOINTS:
        models.append((ep.response, "serialization"))
        if ep.body is not None:
            models.append((ep.body, "validation"))
    unique = list(dict.fromkeys(models))
    _keys, schema = models_json_schema(unique, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "转型包服务市场 Open API",
            "version": "1.0.0",
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Scopes: "
                    + ", ".join(f"`{s.value}` ({API_SCOPE_LABELS[s]})" for s in ApiScope),
                }
            },
        },
    }


def _inline(text: str) -> str:
    text = escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def as_html(text: str) -> Markup:
    """The little Markdown the document's texts use: paragraphs, bullets, code, emphasis."""
    blocks: list[str] = []
    items: list[str] = []
    for line in text.splitlines():
        if line.startswith("* "):
            items.append(line[2:])
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
        elif line.strip():
            blocks.append(f"<p>{_inline(line)}</p>")
    if items:
        blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
    return Markup("".join(blocks))


_CACHE: dict[str, str] = {}


@docs_bp.get("/api/v1/openapi.json")
@public
def openapi_json() -> ResponseReturnValue:
    if "doc" not in _CACHE:
        _CACHE["doc"] = json.dumps(document(), ensure_ascii=False, indent=1)
    return Response(_CACHE["doc"], mimetype="application/json")


@docs_bp.get("/api/docs")
@public
def reference() -> ResponseReturnValue:
    doc = document()
    return render(
        "api/docs.html",
        doc=doc,
        intro=as_html(_(INTRO, **INTRO_VALUES)),
        as_html=as_html,
        doc_text=doc_text,
        doc_inline=doc_inline,
        operations=[
            (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
        ],
        schemas=doc["components"]["schemas"],
        scopes=list(ApiScope),
    )
