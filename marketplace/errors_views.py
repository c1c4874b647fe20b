"""Error pages in the user's language; never a traceback."""

from __future__ import annotations

from flask import Flask, Response, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.exceptions import NotFound as NotFoundHTTP

from marketplace.api.core import http_problem
from marketplace.errors import NotFound
from marketplace.observability import current_request_id

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
    403: (_l("Not allowed"), _l("Your account is not allowed to open this page.")),
    404: (
        _l("Page not found"),
        _l("There is nothing here, or it is not visible to your organisation."),
    ),
    405: (_l("Not allowed"), _l("This address does not accept that kind of request.")),
    413: (_l("Too large"), _l("What you sent is larger than this site accepts.")),
    422: (_l("Cannot process"), _l("Some of what you sent is not valid.")),
    429: (
        _l("Too many attempts"),
        _l("Too many attempts in a short time. Wait a few minutes and try again."),
    ),
    500: (
        _l("Something went wrong"),
        _l("An error occurred on our side. It has been logged; please try again later."),
    ),
}


GENERIC = (
    _l("Something is not right"),
    _l("This request cannot be answered. Go back and try again."),
)


def render_error(
    code: int, message: object = None, reference: str | None = None
) -> tuple[str, int]:
    title, default = MESSAGES.get(code, MESSAGES[500] if code >= 500 else GENERIC)
    if code == 413:
        limit_mb = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
        default = _l(
            "What you sent is larger than this site accepts (%(mb)s MB).", mb=f"{limit_mb:g}"
        )
    return (
        render_template(
            "errors/error.html",
            code=code,
            title=title,
            message=message or default,
            reference=reference,
        ),
        code,
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> tuple[str, int]:
        return render_error(
            400,
            _l("The form expired or did not come from this site. Reload the page and try again."),
        )

    @app.errorhandler(NotFound)
    def _not_found(error: NotFound) -> tuple[str, int] | Response:
        if request.path.startswith("/api/"):
            return http_problem(NotFoundHTTP())
        return render_error(404, error.message)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[str, int] | HTTPException | Response:
        if error.code is None or error.code < 400:
            return error
        if request.path.startswith("/api/"):
            return http_problem(error)
        page, code = render_error(error.code)
        response = Response(page, code, mimetype="text/html")
        headers = dict(error.get_headers())
        for header in ("Allow", "Retry-After", "Content-Range"):
            if header in headers:
                response.headers[header] = headers[header]
        return response

    @app.errorhandler(InternalServerError)
    def _server_error(error: InternalServerError) -> tuple[str, int] | Response:
        app.logger.error(
            "500 on %s %s", request.method, request.path, exc_info=error.original_exception
        )
        if request.path.startswith("/api/"):
            return http_problem(error)
        return render_error(500, reference=current_request_id())
