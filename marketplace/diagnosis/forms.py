"""The diagnosis questionnaire as a form: one radio group per question."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField
from wtforms.validators import InputRequired

from marketplace.accounts.forms import MultiCheckboxField
from marketplace.diagnosis import questionnaire as qn
from marketplace.forms import Form, choices

ANSWER = _l("Choose one answer.")


def diagnosis_form() -> Form:
    """A form with one radio group per question (built per request, in the user's language)."""
    fields: dict[str, object] = {
        q.code: RadioField(
            q.text,
            choices=choices(zip(qn.SCALE_OPTIONS, q.options, strict=True)),
            coerce=int,
            validators=[InputRequired(ANSWER)],
        )
        for q in qn.QUESTIONS
    }
    fields["pain_points"] = MultiCheckboxField(
        _l("Your biggest pain points (up to three)"),
        choices=choices((code, label) for code, (label, _c) in qn.PAIN_POINTS.items()),
    )
    fields["budget"] = RadioField(
        _l("What you can spend on digital transformation this year"),
        choices=choices((code, label) for code, (label, _b) in qn.BUDGETS.items()),
        validators=[InputRequired(ANSWER)],
    )
    form_class = type("DiagnosisForm", (Form,), fields)
    return form_class()


def _agency_id(value: object) -> int | None:
    """An agency's id, or None for anything else (the service says what to choose)."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


class ShareForm(Form):
    """Share a diagnosis report with an agency (its choices set per request)."""

    agency_id = SelectField(_l("Agency"), coerce=_agency_id, validate_choice=False)
