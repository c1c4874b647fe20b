"""Domain errors carry a message in the user's language and, when it is about one form
field, that field's name so the view can show it next to the field."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The object does not exist or belongs to another organisation (answered as 404)."""
