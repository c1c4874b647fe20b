"""The diagnosis questionnaire as a form: one radio group per question."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.accounts.forms import ContactFields, MultiCheckboxField
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis.models import Priority
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


# Advisors and on-site diagnoses (顾问上门诊断)

REQUIRED = _l("This field is required.")


class AdvisorApplicationForm(ContactFields):
    """An advisor's application to an agency's resource pool."""

    years_of_experience = IntegerField(
        _l("Years of experience as an advisor"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=0, max=80, message=_l("Enter a number from 0 to 80.")),
        ],
    )
    expertise = TextAreaField(
        _l("Expertise (industries, maturity areas, standards)"),
        validators=[DataRequired(REQUIRED), Length(max=3000)],
    )
    certifications = TextAreaField(
        _l("Certifications (e.g. 两化融合评估师, 智能制造能力成熟度评估师)"),
        validators=[Optional(), Length(max=2000)],
    )


class VisitRequestForm(Form):
    """An enterprise asks an advisor for an on-site diagnosis (its choices set per request)."""

    membership_id = RadioField(
        _l("Advisor"), coerce=_agency_id, validate_choice=False, validators=[Optional()]
    )
    preferred_date = DateField(
        _l("Preferred day of the visit"), validators=[InputRequired(REQUIRED)]
    )
    note = TextAreaField(
        _l("Note for the advisor (what to look at, who to meet)"),
        validators=[Optional(), Length(max=2000)],
    )


class VisitDecisionForm(Form):
    decision = SelectField(_l("Decision"), choices=[], validators=[DataRequired(REQUIRED)])
    reason = TextAreaField(
        _l("Reason (required to decline; the enterprise sees it)"),
        validators=[Optional(), Length(max=2000)],
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.decision.choices = choices([("accept", _l("Accept")), ("decline", _l("Decline"))])


ADJUSTMENT = _l("Enter a whole number from -50 to 50.")


def findings_form() -> Form:
    """One finding per maturity dimension: a text, a suggested score adjustment and a
    priority, all optional; then the recommendations (built per request)."""
    fields: dict[str, object] = {}
    priorities = [("", _l("No priority"))] + [(p.value, p.label) for p in Priority]
    for code, label in qn.DIMENSIONS.items():
        fields[f"finding_{code}"] = TextAreaField(label, validators=[Optional(), Length(max=2000)])
        fields[f"adjust_{code}"] = IntegerField(
            _l("Suggested score adjustment (points)"),
            validators=[Optional(), NumberRange(min=-50, max=50, message=ADJUSTMENT)],
        )
        fields[f"priority_{code}"] = SelectField(
            _l("Priority"), choices=choices(priorities), validators=[Optional()]
        )
    fields["recommendations"] = TextAreaField(
        _l("Recommendations"), validators=[Optional(), Length(max=5000)]
    )
    return type("FindingsForm", (Form,), fields)()


class RatingForm(Form):
    rating = RadioField(
        _l("Rating"),
        choices=choices((n, str(n)) for n in range(5, 0, -1)),
        coerce=int,
        validators=[InputRequired(_l("Rate from 1 to 5 stars."))],
    )
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=1000)])
