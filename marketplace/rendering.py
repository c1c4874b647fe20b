"""One URL serves a full page or, for an htmx request, one block of the same template."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block

from marketplace.extensions import htmx


def fragment_requested() -> bool:
    """An htmx request for one block of the page. A history restore (Back after hx-push-url)
    needs the whole page, not the fragment."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(template: str, block: str | None = None, status: int = 200, **context: Any) -> Response:
    if block is not None and fragment_requested():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    if block is not None:
        response.vary.add("HX-Request")
    return response


MAX_PAGE = 10_000


def page_number() -> int:
    """The ``page`` query argument, clamped to 1…10,000 (no huge offsets reach the database)."""
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), MAX_PAGE)


def csv_download(text: str, filename: str) -> Response:
    """A CSV file to save; the BOM lets Excel read the Chinese names. Write ``text`` with
    ``csvfile.write``, which keeps a name like ``=HYPERLINK(…)`` from running as a formula."""
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
