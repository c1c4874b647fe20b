"""The OpenAPI 3.1 document, made from the endpoint declarations and the pydantic schemas, and a
readable reference page rendered from that same document (no scripts, no outside assets)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from flask import Blueprint, Response, json
from flask.typing import ResponseReturnValue
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
DESCRIPTION = f"""\
JSON over HTTPS for providers' MES and IoT platforms and enterprises' own systems.

* **Tokens.** An organisation's owner creates them under *My organisation → API tokens*, or an
  operator runs `flask --app app api-token create`. Send `Authorization: Bearer <token>`; a
  token in the URL is refused. Unknown, revoked or expired: 401. Missing scope: 403. Another
  organisation's object: 404.
* **Money** is in fen (1/100 yuan), as integers. Dates are `YYYY-MM-DD`; times are UTC.
* **Lists** are pages: `limit` (1–{MAX_LIMIT}) and the opaque `cursor` from `next_cursor`.
* **Errors** are `application/problem+json` (RFC 9457); 422 lists each field's problem.
  Malformed JSON: 400. Bodies over {MAX_BODY // 1024} KiB: 413.
* **Rate limits** apply per token (per address without one): 429 with `Retry-After`.
* **Measurements** are idempotent by `external_id`: send again safely after a timeout.
"""


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
        text = f"Scope: `{ep.scope.value}`. {text}".strip()
    else:
        operation["security"] = [{}]
        text = f"Public: no token needed. {text}".strip()
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
        intro=as_html(doc["info"]["description"]),
        as_html=as_html,
        operations=[
            (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
        ],
        schemas=doc["components"]["schemas"],
        scopes=list(ApiScope),
    )
