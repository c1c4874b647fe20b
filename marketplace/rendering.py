"""One URL serves a full page or, for an htmx request, one block of the same template."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

from flask import Response, g, has_request_context, make_response, render_template, request
from jinja2_fragments.flask import render_block
from markupsafe import Markup, escape

from marketplace.extensions import htmx

# A form with errors is answered 422 (Unprocessable Content): the page shows the errors, and
# the response's status rolls the request's transaction back.
INVALID = 422


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


T = TypeVar("T")
_PER_REQUEST = "per_request_cache"


def per_request(helper: Callable[[], T]) -> Callable[[], T]:
    """Run a template helper once per request: ``base.html`` and a page may call it in
    several places, and its query runs the first time only. Outside a request it just runs."""
    key = f"{helper.__module__}.{helper.__qualname__}"

    @wraps(helper)
    def cached() -> T:
        if not has_request_context():
            return helper()
        cache: dict[str, Any] = g.setdefault(_PER_REQUEST, {})
        if key not in cache:
            cache[key] = helper()
        return cache[key]

    return cached


def forget_per_request(_error: BaseException | None = None) -> None:
    """At the end of each request (a test may run several in one app context, sharing ``g``)."""
    g.pop(_PER_REQUEST, None)


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


def highlight(value: str, words: Sequence[str]) -> Markup:
    """``value`` escaped, with each of ``words`` marked (``<mark>``) wherever it stands,
    ignoring case and full-width forms (a search's matched words in a result's title)."""
    return highlighter(words)(value)


def highlighter(words: Sequence[str]) -> Callable[[str], Markup]:
    """``highlight`` for many values and the same words: the words' pattern is made once (a
    page of search results marks 60 titles and summaries)."""
    if not words:
        return escape
    longest_first = sorted(words, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(w) for w in longest_first))

    def marked(value: str) -> Markup:
        if not value:
            return escape(value)
        folded = unicodedata.normalize("NFKC", value).lower()
        found = pattern
        if len(folded) != len(value):  # a ligature or the like: positions would not line up
            folded = value.lower()
            found = re.compile("|".join(re.escape(w.lower()) for w in longest_first))
        parts: list[str] = []
        end = 0
        for match in found.finditer(folded):
            parts += [str(escape(value[end : match.start()])), "<mark>"]
            parts += [str(escape(value[match.start() : match.end()])), "</mark>"]
            end = match.end()
        parts.append(str(escape(value[end:])))
        return Markup("".join(parts))

    return marked
