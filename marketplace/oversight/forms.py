"""Forms of evaluation rounds, assessor scores, KPI reports and data grants."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.accounts.forms import MultiCheckboxField
from marketplace.forms import Form, YuanField, not_negative
from marketplace.oversight.evaluation import (
    DEFAULT_PASS_MARK,
    DEFAULT_SAVINGS_TARGET_FEN,
    DEFAULT_WAITING_DAYS,
    DEFAULT_WEIGHTS,
)
from marketplace.oversight.models import COMPONENT_LABELS, COMPONENTS


def _weight(component: str) -> IntegerField:
    return IntegerField(
        COMPONENT_LABELS[component],
        default=DEFAULT_WEIGHTS[component],
        validators=[InputRequired()],
    )


class RoundForm(Form):
    name = StringField(_l("Round name"), validators=[DataRequired(), Length(max=80)])
    period_start = DateField(_l("Period from"), validators=[DataRequired()])
    period_end = DateField(_l("Period until"), validators=[DataRequired()])
    pass_mark = IntegerField(
        _l("Pass mark (0–100)"), default=DEFAULT_PASS_MARK, validators=[InputRequired()]
    )
    w_rating = _weight("rating")
    w_outcomes = _weight("outcomes")
    w_sla = _weight("sla")
    w_coverage = _weight("coverage")
    w_digital = _weight("digital")
    w_savings = _weight("savings")
    w_assessor = _weight("assessor")
    savings_target = YuanField(
        _l("Monthly savings that earn full marks (yuan)"),
        default=DEFAULT_SAVINGS_TARGET_FEN,
        validators=[DataRequired(), not_negative],
    )
    waiting_days = IntegerField(
        _l("Waiting period before a suspended provider may apply again (days)"),
        default=DEFAULT_WAITING_DAYS,
        validators=[InputRequired(), NumberRange(min=0, max=730)],
    )
    assessor = SelectField(_l("Assessor for every provider"), coerce=int, validators=[Optional()])

    def weights(self) -> dict[str, int]:
        return {c: int(getattr(self, f"w_{c}").data) for c in COMPONENTS}


class AssignForm(Form):
    assessor = SelectField(_l("Assessor"), coerce=int)


class ScoreForm(Form):
    score = IntegerField(_l("Score (0–100)"), validators=[InputRequired()])
    comment = TextAreaField(_l("Comment for the provider"), validators=[Length(max=2000)])


class CloseForm(Form):
    despite_missing = BooleanField(_l("Close anyway, recording the missing scores"))


class KpiForm(Form):
    month = StringField(_l("Month (YYYY-MM)"), validators=[DataRequired(), Length(min=7, max=7)])
    data_coverage_pct = IntegerField(
        _l("Key process data coverage (%)"), validators=[InputRequired()]
    )
    digital_rate_pct = IntegerField(_l("Digitalisation rate (%)"), validators=[InputRequired()])
    monthly_savings = YuanField(
        _l("Savings this month (yuan)"), validators=[InputRequired(), not_negative]
    )
    note = TextAreaField(_l("How it was measured"), validators=[Length(max=1000)])


class KpiDecisionForm(Form):
    note = StringField(_l("Reason (when not confirming)"), validators=[Length(max=500)])


class GrantForm(Form):
    # Only organisations with a reason to see the data are offered; the service refuses any
    # other (the same message for a forged choice as for a script).
    grantee = SelectField(_l("Grant access to"), coerce=int, validate_choice=False)
    scopes = MultiCheckboxField(_l("Data to share"))
    starts_on = DateField(_l("Valid from"), validators=[DataRequired()])
    ends_on = DateField(_l("Valid until"), validators=[DataRequired()])
    purpose = StringField(_l("Purpose"), validators=[Length(max=200)])
