"""The machinery of Open API v1: one decorator declares an endpoint (path, scope, what it takes
and answers), checks the bearer token and its scope, limits the rate, reads and checks the JSON
body, and records everything the OpenAPI document says about it. Errors are problem details
(RFC 9457) in English, the language of integrations.

The web session plays no part: a signed-in browser gets nothing from the API without a token,
so there is no CSRF to guard against here.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, request
from flask_limiter import RateLimitExceeded
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute
from werkzeug.exceptions import HTTPException

from marketplace.accounts import api_tokens
from marketplace.accounts.models import ApiScope, ApiToken, Organisation
from marketplace.api.schemas import FieldError, Problem
from marketplace.db import db
from marketplace.errors import DomainError, NotFound
from marketplace.extensions import csrf, limiter
from marketplace.security import MAX_ID, Access, Actor

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_BODY = 64 * 1024  # bytes of JSON a request may carry
MAX_LIMIT = 100
QUERY_TOKEN_NAMES = ("access_token", "token", "api_key", "apikey", "key")
PROBLEM = "application/problem+json"

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors
        self.headers = headers or {}


TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
}


def problem(
    status: int, detail: str, errors: list[FieldError] | None = None, **headers: str
) -> Response:
    body = Problem(
        type=f"https://zhuanxingbao.cn/problems/{status}",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=errors,
    )
    response = Response(body.model_dump_json(exclude_none=True), status=status, mimetype=PROBLEM)
    response.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


# The registry the OpenAPI document is made from


@dataclass
class Endpoint:
    method: str
    path: str  # OpenAPI style: /orders/{number}
    summary: str
    scope: ApiScope | None  # None: public
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    query: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (type, text)
    errors: tuple[int, ...] = ()
    description: str = ""
    other_statuses: dict[int, str] = field(default_factory=dict)  # e.g. 200 for a repeat


ENDPOINTS: list[Endpoint] = []


def endpoint(
    rule: str,
    *,
    path: str,
    summary: str,
    response: type[BaseModel],
    scope: ApiScope | None = None,
    method: str = "GET",
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: dict[str, tuple[str, str]] | None = None,
    errors: tuple[int, ...] = (),
    description: str = "",
    other_statuses: dict[int, str] | None = None,
) -> Callable[[F], F]:
    """Declare an endpoint: the view receives the checked body (when there is one) as
    ``body=`` and finds the token's organisation in ``g.api_org``."""
    standard = {400, 429} | ({401, 403} if scope else set()) | ({413, 415, 422} if body else set())
    spec = Endpoint(
        method=method,
        path=path,
        summary=summary,
        scope=scope,
        response=response,
        status=status,
        body=body,
        query=query or {},
        errors=tuple(sorted(standard | set(errors))),
        description=description,
        other_statuses=other_statuses or {},
    )
    ENDPOINTS.append(spec)

    def wrap(view: F) -> F:
        limited = limiter.limit(_rate, key_func=_rate_key, scope=_rate_scope)(view)

        # Not functools.wraps: Flask-Limiter would then find the view's limits by its name
        # and check them before the token is known (keyed by address, not by token).
        def handler(**kwargs: Any) -> Response:
            try:
                _refuse_query_tokens()
                g.api_token = _authenticate(scope) if scope else _optional_token()
                g.api_org = g.api_token.org if g.api_token else None
                if body is not None:
                    kwargs["body"] = _read_body(body)
                return limited(**kwargs)
            except ApiError as error:
                return problem(error.status, error.detail, error.errors, **error.headers)
            except NotFound:
                return problem(404, "There is no such object, or it is not yours to see.")
            except DomainError as error:
                refused = unprocessable(error)
                return problem(refused.status, refused.detail, refused.errors)

        handler.__name__ = f"api_{view.__name__}"
        handler.access = (  # type: ignore[attr-defined]
            Access(api_scope=scope.value) if scope else Access(public=True)
        )
        bp.add_url_rule(rule, view.__name__, handler, methods=[method])
        return view

    return wrap


def unprocessable(error: DomainError) -> ApiError:
    """A service's refusal as a 422 problem on the field it names (else on the body)."""
    message = str(error.message)
    return ApiError(422, message, [FieldError(field=error.field or "body", message=message)])


def _refuse_query_tokens() -> None:
    if any(name in request.args for name in QUERY_TOKEN_NAMES):
        raise ApiError(
            400, "Send the token in the Authorization header (Bearer), never in the URL."
        )


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _sep, value = header.partition(" ")
    if not header:
        return None
    if kind.lower() != "bearer" or not value.strip():
        raise ApiError(401, "Use `Authorization: Bearer <token>`.")
    return value.strip()


def _authenticate(scope: ApiScope) -> ApiToken:
    plain = _bearer()
    if plain is None:
        raise ApiError(401, "This endpoint needs a token: `Authorization: Bearer <token>`.")
    token = api_tokens.authenticate(plain)
    if token is None:
        raise ApiError(401, "The token is unknown, revoked or expired.")
    if scope.value not in token.scopes:
        raise ApiError(403, f"The token lacks the scope `{scope.value}`.")
    return token


def _optional_token() -> ApiToken | None:
    """Public endpoints take no token, but a bad one is still an error, not ignored."""
    plain = _bearer()
    if plain is None:
        return None
    token = api_tokens.authenticate(plain)
    if token is None:
        raise ApiError(401, "The token is unknown, revoked or expired.")
    return token


def _read_body(model: type[BaseModel]) -> BaseModel:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise ApiError(413, f"The body may be at most {MAX_BODY} bytes.")
    raw = request.stream.read(MAX_BODY + 1) if length is None else request.get_data()
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"The body may be at most {MAX_BODY} bytes.")
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "Send the body as `application/json`.")
    try:
        json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "The body is not valid JSON.") from None
    if b"\\u0000" in raw or b"\x00" in raw:
        raise ApiError(400, "Text may not contain NUL characters.")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise ApiError(422, "Some fields are missing or wrong.", field_errors(error)) from None


def field_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(field=".".join(str(p) for p in e["loc"]) or "body", message=e["msg"])
        for e in error.errors(include_url=False)
    ]


# Rate limits: per token, and per address for calls without one


def _rate() -> str:
    if g.get("api_token") is not None:
        return str(current_app.config["API_RATE_LIMIT"])
    return str(current_app.config["API_PUBLIC_RATE_LIMIT"])


def _rate_key() -> str:
    token = g.get("api_token")
    return f"token:{token.id}" if token is not None else f"ip:{request.remote_addr}"


def _rate_scope(_endpoint: str) -> str:
    return "api"


def rate_limited(error: RateLimitExceeded) -> Response:
    retry = 60
    current = limiter.current_limit
    if current is not None:
        retry = max(1, int(current.reset_at - time.time()))
    return problem(
        429, f"Rate limit exceeded ({error.description}). Try again later.", Retry_After=str(retry)
    )


# Paging: an opaque cursor over ids


def decode_cursor(value: str | None, key: str = "after") -> int | None:
    """The id after which a page starts (``after``), or for a list in relevance order how
    many of it come before the page (``skip``)."""
    if not value:
        return None
    invalid = ApiError(
        422, "The cursor is not one this API gave.", [FieldError(field="cursor", message="invalid")]
    )
    try:
        data = json.loads(base64.urlsafe_b64decode(value.encode() + b"==="))
        last = data[key]
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise invalid from None
    if type(last) is not int or not 1 <= last <= MAX_ID:
        raise invalid
    return last


def encode_cursor(last: int, key: str = "after") -> str:
    return base64.urlsafe_b64encode(json.dumps({key: last}).encode()).decode().rstrip("=")


def page_limit() -> int:
    raw = request.args.get("limit", "20")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(
            422,
            f"`limit` must be a whole number from 1 to {MAX_LIMIT}.",
            [FieldError(field="limit", message=f"from 1 to {MAX_LIMIT}")],
        )
    return int(raw)


def paginate(
    stmt: Select[Any], key: InstrumentedAttribute[int], newest_first: bool = True
) -> tuple[list[Any], str | None]:
    """A page of ``stmt`` ordered by ``key``, after the cursor; and the next cursor."""
    limit = page_limit()
    after = decode_cursor(request.args.get("cursor"))
    if after is not None:
        stmt = stmt.where(key < after if newest_first else key > after)
    stmt = stmt.order_by(key.desc() if newest_first else key).limit(limit + 1)
    rows = list(db.session.scalars(stmt).unique())
    return page_of(rows, limit, lambda row: int(getattr(row, str(key.key))))


def page_of(
    rows: Sequence[T], limit: int, key: Callable[[T], int], cursor_key: str = "after"
) -> tuple[list[T], str | None]:
    """The first ``limit`` of ``rows`` (fetched one more than a page) and the cursor to the
    next page: ``key`` of the page's last row, or None when nothing follows."""
    page = list(rows[:limit])
    more = len(rows) > limit
    return page, encode_cursor(key(page[-1]), cursor_key) if more and page else None


def actor() -> Actor:
    token: ApiToken = g.api_token
    return Actor(token.created_by_id, token.org_id, request.remote_addr)


def org() -> Organisation:
    found: Organisation = g.api_org
    return found


@bp.errorhandler(RateLimitExceeded)
def _limited(error: RateLimitExceeded) -> Response:
    return rate_limited(error)


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    return problem(error.status, error.detail, error.errors, **error.headers)


def register(app: Any) -> None:
    """The API's settings (rates per minute, per token and per address)."""
    app.config.setdefault("API_RATE_LIMIT", "120 per minute")
    app.config.setdefault("API_PUBLIC_RATE_LIMIT", "60 per minute")


def http_problem(error: HTTPException) -> Response:
    code = error.code or 500
    detail = {
        404: "There is no such endpoint or object.",
        405: "This endpoint does not take that method.",
        413: f"The body may be at most {MAX_BODY} bytes.",
    }.get(code, error.description or TITLES.get(code, "Error"))
    response = problem(code, detail)
    for header in ("Allow", "Retry-After"):
        value = error.get_headers() and dict(error.get_headers()).get(header)
        if value:
            response.headers[header] = value
    return response
