"""Form helpers shared by every domain."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from marketplace.errors import DomainError
from marketplace.money import MoneyError, parse_yuan


class _AppTranslations:
    """WTForms' built-in messages through the app's catalogue (see wtforms_messages.py)."""

    def gettext(self, string: str) -> str:
        return str(get_translations().gettext(string))  # WTForms fills in the values

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(get_translations().ngettext(singular, plural, n))


class Form(FlaskForm):
    """The base of every form: CSRF from Flask-WTF, messages in the user's language."""

    class Meta:
        def get_translations(self, form: Any) -> _AppTranslations:
            return _AppTranslations()


class YuanField(StringField):
    """An amount typed in yuan (``1,234.56``), held as integer fen in ``data``."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        self.raw = str(valuelist[0])
        try:
            self.data = parse_yuan(self.raw)
        except MoneyError as exc:
            raise ValueError(_l("Enter an amount in yuan with at most two decimals.")) from exc

    def _value(self) -> str:
        if getattr(self, "raw", None) is not None:
            return str(self.raw)
        if self.data is None:
            return ""
        yuan, fen = divmod(int(self.data), 100)
        return f"{yuan}.{fen:02d}" if fen else str(yuan)


def not_negative(_form: Form, field: Field) -> None:
    if field.data is not None and field.data < 0:
        raise ValidationError(_l("The amount cannot be negative."))


def attach_error(form: Form, error: DomainError) -> None:
    """Show a service's error next to its field, or above the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is None and error.field == "annual_revenue":
        field = getattr(form, "annual_revenue", None)
    if isinstance(field, Field):
        field.errors = [*list(field.errors), str(error.message)]
    else:
        form.form_errors.append(str(error.message))


def choices(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """Select options from ``(value, label)`` pairs."""
    return [SelectChoice(value, str(label)) for value, label in pairs]
