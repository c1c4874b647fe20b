"""Who may open which route, the security headers, and the actor behind a change.

Every view is classified with ``@public`` or ``@requires(...)``. One ``before_request`` hook
enforces the classification, so a route nobody classified is refused (and a test walks
``app.url_map`` to catch it before it ships).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import BaseConverter, IntegerConverter, Map

F = TypeVar("F", bound=Callable[..., Any])

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@dataclass(frozen=True)
class Access:
    """``public`` routes are open to all; otherwise a signed-in user of one of ``kinds``
    (any kind when empty), and an owner of the organisation when ``owner``; with
    ``confirmed`` the user's e-mail address must be confirmed (placing an order, applying for
    a voucher)."""

    public: bool = False
    kinds: frozenset[str] = field(default_factory=frozenset)
    owner: bool = False
    confirmed: bool = False
    # Open API routes: the session plays no part; the API checks the bearer token's scope.
    api_scope: str | None = None

    def allows(self, user: Any) -> bool:
        if self.public or self.api_scope is not None:
            return True
        if not user.is_authenticated:
            return False
        if self.kinds and user.org_kind not in self.kinds:
            return False
        return not (self.owner and not user.is_owner)


def public(view: F) -> F:
    view.access = Access(public=True)  # type: ignore[attr-defined]
    return view


def requires(*kinds: str, owner: bool = False, confirmed: bool = False) -> Callable[[F], F]:
    """Signed-in users of the given organisation kinds (any kind when none are named)."""

    def mark(view: F) -> F:
        view.access = Access(  # type: ignore[attr-defined]
            kinds=frozenset(str(k) for k in kinds), owner=owner, confirmed=confirmed
        )
        return view

    return mark


def access_of(endpoint: str, app: Flask | None = None) -> Access | None:
    app = app or current_app
    view = app.view_functions.get(endpoint)
    return getattr(view, "access", None)


UNCLASSIFIED_ALLOWED = frozenset({"static"})


def enforce_access() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in UNCLASSIFIED_ALLOWED:
        return None
    access = access_of(endpoint)
    if access is None:
        current_app.logger.error("route %s is not classified; refusing it", endpoint)
        abort(403)
    if access.allows(current_user):
        if access.confirmed and current_user.email_confirmed_at is None:
            flash(
                _(
                    "Confirm your e-mail address first: open the link we sent you, or send it"
                    " again from the notice above."
                ),
                "error",
            )
            dashboard = url_for("home.dashboard")
            if request.headers.get("HX-Request") == "true":
                return Response(status=204, headers={"HX-Redirect": dashboard})
            return redirect(dashboard)
        return None
    if not current_user.is_authenticated:
        target = request.full_path if request.method == "GET" else None
        login = url_for("accounts.login", next=target.rstrip("?") if target else None)
        if request.headers.get("HX-Request") == "true":
            # htmx would swap the login page into a fragment; send the whole window there.
            return Response(status=204, headers={"HX-Redirect": login})
        return redirect(login)
    abort(403)


def refuse_nul_bytes() -> None:
    """No text anywhere contains NUL; PostgreSQL cannot store it, so refuse it up front (400)."""
    if "\x00" in request.path:
        abort(400)
    for values in (request.args, request.form):
        for _key, value in values.items(multi=True):
            if "\x00" in value:
                abort(400)


def is_safe_next(target: str | None) -> bool:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash trick."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def set_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if current_user and current_user.is_authenticated:
        headers.setdefault("Cache-Control", "no-store")
    return response


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; views build it, services record it in the audit trail."""

    user_id: int | None
    org_id: int | None
    ip: str | None

    @classmethod
    def anonymous(cls, ip: str | None = None) -> Actor:
        return cls(user_id=None, org_id=None, ip=ip)


def current_actor() -> Actor:
    ip = request.remote_addr
    if current_user and current_user.is_authenticated:
        return Actor(user_id=current_user.id, org_id=current_user.org_id, ip=ip)
    return Actor.anonymous(ip)


def kinds(*values: Iterable[str]) -> frozenset[str]:
    return frozenset(str(v) for group in values for v in group)


MAX_ID = 2**31 - 1


class OrderNumberConverter(BaseConverter):
    """``<order_number:…>``: ZX, eight digits, a dash, six or more digits."""

    regex = r"ZX[0-9]{8}-[0-9]{6,9}"


class AnyIdConverter(BaseConverter):
    """``<any_id:…>``: any run of digits; one outside 1…2³¹−1 becomes 0, which no row has, so
    the view answers 404 whatever the method (a converter that refuses the match would make
    Werkzeug answer 405 for a POST next to a GET rule)."""

    regex = r"[0-9]{1,40}"

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if 1 <= number <= MAX_ID else 0

    def to_url(self, value: object) -> str:
        return str(value)


class IdConverter(IntegerConverter):
    """``<id:…>``: a positive 32-bit id; anything else is simply not found (404)."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)
