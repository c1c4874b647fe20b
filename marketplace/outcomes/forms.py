"""Forms of the outcome-contract pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import DateField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from marketplace.forms import Form

REQUIRED = _l("This field is required.")
DATE = _l("Enter a date as YYYY-MM-DD.")


class BaselineForm(Form):
    value = StringField(_l("Baseline value"), validators=[DataRequired(REQUIRED), Length(max=30)])
    period_start = DateField(_l("Measured from"), validators=[InputRequired(DATE)])
    period_end = DateField(_l("Measured until"), validators=[InputRequired(DATE)])
    evidence = TextAreaField(
        _l("Evidence: how and from which records it was measured"),
        validators=[DataRequired(REQUIRED), Length(max=4000)],
    )
    evidence_file = FileField(
        _l("Evidence file (optional: PDF, PNG, JPG, XLSX or CSV, at most 1 MB)"),
        validators=[Optional()],
    )


class MeasurementForm(Form):
    external_id = StringField(
        _l("Your reference for this value"), validators=[DataRequired(REQUIRED), Length(max=100)]
    )
    period_start = DateField(_l("Period from"), validators=[InputRequired(DATE)])
    period_end = DateField(_l("Period until"), validators=[InputRequired(DATE)])
    value = StringField(_l("Value"), validators=[DataRequired(REQUIRED), Length(max=30)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])


class ConsentForm(Form):
    """The enterprise's answer: may the met contract appear as an anonymised case?"""

    consent = RadioField(
        _l("May this result appear as an anonymised case?"),
        choices=[
            SelectChoice("yes", _l("Yes, publish it anonymised")),
            SelectChoice("no", _l("No")),
        ],
        validators=[InputRequired(_l("Choose yes or no."))],
        validate_choice=True,
    )


class BenchmarkForm(Form):
    reason = TextAreaField(
        _l("Why is this case a benchmark (标杆)?"),
        validators=[DataRequired(REQUIRED), Length(max=500)],
    )


class ResolveForm(Form):
    decision = RadioField(
        _l("Your decision"),
        choices=[
            SelectChoice("accept", _l("Accept the dispute: the record is removed and not billed")),
            SelectChoice("reject", _l("Reject the dispute: the record is billed with its month")),
        ],
        validators=[InputRequired(REQUIRED)],
    )
    note = TextAreaField(
        _l("Reason (required to reject; the enterprise sees it)"),
        validators=[Optional(), Length(max=2000)],
    )
