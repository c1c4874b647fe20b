"""Domain errors carry a message in the user's language and, when it is about one form
field, that field's name so the view can show it next to the field."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class DomainError(Exception):
    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class TryAgainLater(Exception):
    """The work cannot be done safely now, but can be later: the request answers 503 and
    rolls back, so the caller (Stripe's webhook, a job's retry) sends it again."""


class NotFound(DomainError):
    """The object does not exist or belongs to another organisation (answered as 404)."""


def get_owned(model: type[T], ident: int, **owner: object) -> T:
    """The object with this id whose owner columns match, e.g. ``org_id=org.id``.

    Another organisation's object is indistinguishable from a missing one: both are 404."""
    from flask_babel import lazy_gettext as _l

    from marketplace.db import db

    obj = db.session.get(model, ident)
    if obj is None or any(getattr(obj, column) != value for column, value in owner.items()):
        raise NotFound(_l("Not found."))
    return obj
