"""Form helpers shared by every domain."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from flask import flash, request
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto  # FlaskForm's default formdata: read the request
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import DateTimeField, Field, FileField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from marketplace.errors import DomainError, NotFound
from marketplace.money import MoneyError, parse_yuan


class _AppTranslations:
    """WTForms' built-in messages through the app's catalogue (see wtforms_messages.py)."""

    def gettext(self, string: str) -> str:
        return str(get_translations().gettext(string))  # WTForms fills in the values

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(get_translations().ngettext(singular, plural, n))


FIRST_YEAR, LAST_YEAR = 2000, 2100
TEXT_ONLY = _l("This field takes text only.")


def within_years(_form: Any, field: Field) -> None:
    """Dates the app can reckon with: at the calendar's ends a day more, or a time zone,
    overflows. No date of the pilots (periods, deadlines, filters) is outside these years."""
    if isinstance(field.data, date) and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(_l("Choose a date from 2000 to 2100."))


def _is_text(value: object) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


class Form(FlaskForm):
    """The base of every form: CSRF from Flask-WTF, messages in the user's language, dates
    within the years above, and fields that take text only take text: a file part sent for
    one (multipart), or a JSON value that is not a string, is refused with a message instead
    of reaching the field (where ``len()`` or ``.strip()`` would fail)."""

    _not_text: Sequence[str] = ()  # names of the fields sent something else than text

    class Meta(FlaskForm.Meta):
        def get_translations(self, form: Any) -> _AppTranslations:
            return _AppTranslations()

        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            fields = {field.name: field for field in form}
            if formdata is _Auto and form.is_submitted() and _json_body():
                body = request.get_json(silent=True)
                body = body if isinstance(body, dict) else {}
                form._not_text = sorted(
                    k for k, v in body.items() if k in fields and not _is_text(v)
                )
                return MultiDict({k: v for k, v in body.items() if _is_text(v)})
            data = super().wrap_formdata(form, formdata)
            if not isinstance(data, CombinedMultiDict):
                return data  # no file parts (Flask-WTF combines them only when there are)
            files = list(request.files.items(multi=True))
            form._not_text = sorted(
                {n for n, _f in files if n in fields and not isinstance(fields[n], FileField)}
            )
            wanted = MultiDict([(n, f) for n, f in files if isinstance(fields.get(n), FileField)])
            return CombinedMultiDict([wanted, request.form])

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        extra = {name: list(chain) for name, chain in (extra_validators or {}).items()}
        for name, field in self._fields.items():
            if isinstance(field, DateTimeField):  # DateField, MonthField, …
                extra.setdefault(name, []).append(within_years)
        valid = super().validate(extra_validators=extra)
        for field in self:
            if field.name in self._not_text:
                field.errors = [*field.errors, str(TEXT_ONLY)]
                if getattr(field.widget, "input_type", "") == "hidden":  # shown above the form
                    self.form_errors.append(str(TEXT_ONLY))
                valid = False
        return valid


def _json_body() -> bool:
    """A JSON body where Flask-WTF would read the form's fields from it (no form data)."""
    return request.is_json and not request.form and not request.files


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


# Mainland China: a mobile number (11 digits, 13x to 19x), or a landline with its area code
# (3 or 4 digits from 0: 010, 0311), 7 or 8 digits and an optional extension (分机).
PHONE_PATTERN = re.compile(
    r"1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(?:(?:-|转|ext\.?)[0-9]{1,6})?", re.ASCII
)
PHONE_MESSAGE = _l(
    "Enter a mobile number (11 digits, e.g. 13912345678) or a landline with its area code"
    " (e.g. 0311-85551234, an extension after a dash)."
)


def normalise_phone(value: str) -> str | None:
    """A phone number as the app keeps it (no spaces; a +86 before a mobile dropped), or None
    when it is not one. Services check with it too, so a script is refused like a form."""
    text = "".join(value.split())
    if re.fullmatch(r"(?:\+86|0086)-?1[0-9]{10}", text):
        text = text[-11:]
    return text if PHONE_PATTERN.fullmatch(text) else None


def phone_number(_form: Any, field: Field) -> None:
    """The one validator of every phone field (an empty field is left to ``Optional`` or
    ``DataRequired``); the field's data becomes the number as kept."""
    if not field.data or not str(field.data).strip():
        return
    phone = normalise_phone(str(field.data))
    if phone is None:
        raise ValidationError(PHONE_MESSAGE)
    field.data = phone


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


def first_error(form: FlaskForm) -> str:
    """A form of a small action (approve, cancel, pay) that failed: what its first visible
    field said (a note too long), or, for a missing or forged hidden field or token, that
    the action is not possible."""
    for field in form:
        if field.errors and field.type != "HiddenField" and field.name != "csrf_token":
            return str(field.errors[0])
    return str(_l("This action is not possible in the current state."))


def checked(form: FlaskForm, message: Any = None) -> None:
    """Refuse a small action's form that does not validate: with ``message``, else with what
    its first visible field said (``first_error``)."""
    if not form.validate_on_submit():
        raise DomainError(message or first_error(form))


@contextmanager
def flashed(done: Any = None) -> Iterator[None]:
    """A small action's outcome as a flash message: a domain error raised in the block (a
    service's refusal, or a form ``checked`` there), else ``done`` when given. ``NotFound``
    (another organisation's object) is not a refusal: it goes on to be answered 404."""
    try:
        yield
    except NotFound:
        raise
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        if done is not None:
            flash(done, "success")
