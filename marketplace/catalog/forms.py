from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.accounts.forms import MultiCheckboxField
from marketplace.accounts.models import SizeTier
from marketplace.catalog.models import (
    MAX_GO_LIVE_DAYS,
    MAX_TRIAL_DAYS,
    Deployment,
    FeeRule,
    Flow,
    PlanKind,
    TargetKind,
    UsageUnit,
)
from marketplace.forms import Form, YuanField, choices

REQUIRED = _l("This field is required.")


class PackageForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(REQUIRED), Length(max=120)])
    summary = StringField(
        _l("Summary (one line)"), validators=[DataRequired(REQUIRED), Length(max=300)]
    )
    description = TextAreaField(
        _l("Description (plain text; line breaks are kept)"),
        validators=[DataRequired(REQUIRED), Length(max=10_000)],
    )
    category_code = SelectField(_l("Scenario category"), validators=[DataRequired(REQUIRED)])
    industry_codes = MultiCheckboxField(
        _l("Applicable industries"), validators=[DataRequired(_l("Choose at least one industry."))]
    )
    size_tiers = MultiCheckboxField(
        _l("Target size tiers"), validators=[DataRequired(_l("Choose at least one size tier."))]
    )
    deployment = SelectField(_l("Deployment"), validators=[DataRequired(REQUIRED)])
    go_live_days = IntegerField(
        _l("Go-live time (days)"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(
                min=1,
                max=MAX_GO_LIVE_DAYS,
                message=_l("Go-live takes 1 to %(n)d days.", n=MAX_GO_LIVE_DAYS),
            ),
        ],
    )
    sla_response_hours = IntegerField(
        _l("Fault response (SLA, hours)"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=1, max=720, message=_l("Fault response is 1 to 720 hours.")),
        ],
    )
    enterprise_provides = TextAreaField(
        _l("What the enterprise must provide"), validators=[Optional(), Length(max=3000)]
    )
    tags = StringField(_l("Search tags"), validators=[Optional(), Length(max=200)])
    # The trial offer: no days, no trial. The service checks the price against the plans.
    trial_days = IntegerField(
        _l("Trial days"),
        validators=[
            Optional(),
            NumberRange(
                min=1,
                max=MAX_TRIAL_DAYS,
                message=_l("A trial lasts 1 to %(n)d days.", n=MAX_TRIAL_DAYS),
            ),
        ],
    )
    trial_price = YuanField(_l("Trial price (yuan; 0 for a free trial)"))
    trial_limits = TextAreaField(_l("Trial limits"), validators=[Optional(), Length(max=500)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.size_tiers.choices = choices((t.value, t.label) for t in SizeTier)
        self.deployment.choices = choices((d.value, d.label) for d in Deployment)


class PlanForm(Form):
    kind = SelectField(_l("Kind of plan"), validators=[DataRequired(REQUIRED)])
    name = StringField(_l("Plan name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    amount = YuanField(_l("Price (yuan)"))
    monthly = YuanField(_l("Monthly price (yuan)"))
    term_months = IntegerField(_l("Committed term (months)"), validators=[Optional()])
    billed_monthly = BooleanField(
        _l(
            "Bill month by month from the enterprise's acceptance (验收); otherwise the whole"
            " term at once when it accepts"
        )
    )
    metric_code = SelectField(_l("Metric"), validators=[Optional()])
    target_kind = SelectField(_l("Target expressed as"), validators=[Optional()])
    target_value = DecimalField(_l("Target improvement"), places=2, validators=[Optional()])
    fee_rule = SelectField(_l("Fee rule"), validators=[Optional()])
    success_fee = YuanField(_l("Success fee (yuan)"))
    fee_per_unit = YuanField(_l("Fee per unit of improvement (yuan)"))
    fee_cap = YuanField(_l("Fee cap (yuan)"))
    base_fee = YuanField(_l("Base fee, optional (yuan)"))
    window_days = IntegerField(_l("Measurement window (days)"), validators=[Optional()])
    usage_unit = SelectField(_l("Metered unit"), validators=[Optional()])
    unit_price = YuanField(_l("Price per unit (yuan)"))
    included_quantity = IntegerField(_l("Units included each month"), validators=[Optional()])
    minimum = YuanField(_l("Monthly minimum, optional (yuan)"))
    cap = YuanField(_l("Monthly cap, optional (yuan)"))
    tiers = TextAreaField(
        _l("Graduated tiers, optional: one a line, “from quantity = unit price in yuan”"),
        validators=[Optional(), Length(max=1000)],
    )

    def __init__(self, metrics: list[tuple[str, str]], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = choices((k.value, k.label) for k in PlanKind)
        self.metric_code.choices = choices([("", _l("Choose…")), *metrics])
        self.target_kind.choices = choices((t.value, t.label) for t in TargetKind)
        self.fee_rule.choices = choices((f.value, f.label) for f in FeeRule)
        self.usage_unit.choices = choices((u.value, u.label) for u in UsageUnit)


class InterfaceForm(Form):
    flow = SelectField(_l("Direction"), validators=[DataRequired(REQUIRED)])
    protocol_code = SelectField(_l("Protocol"), validators=[DataRequired(REQUIRED)])
    data_object_code = SelectField(_l("Data object"), validators=[DataRequired(REQUIRED)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.flow.choices = choices((f.value, f.label) for f in Flow)


class DelistForm(Form):
    reason = TextAreaField(
        _l("Reason for delisting (the provider sees it)"),
        validators=[DataRequired(REQUIRED), Length(max=2000)],
    )


class BundleForm(Form):
    name = StringField(_l("Bundle name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    summary = TextAreaField(_l("What it is for"), validators=[Optional(), Length(max=2000)])
    industry_code = SelectField(_l("Industry"), validators=[DataRequired(REQUIRED)])
    size_tier = SelectField(_l("Size tier"), validators=[DataRequired(REQUIRED)])
    integration_fee = YuanField(_l("Integration fee (yuan)"), validators=[InputRequired(REQUIRED)])
    package_ids = MultiCheckboxField(_l("Packages in the bundle (at least two)"), coerce=int)
    find = StringField(
        _l("Find packages by name or provider"), validators=[Optional(), Length(max=60)]
    )
    find_category = SelectField(_l("In category"), validators=[Optional()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.size_tier.choices = choices((t.value, t.label) for t in SizeTier)


class CategoryForm(Form):
    code = StringField(
        _l("Code (letters, digits, _)"), validators=[DataRequired(REQUIRED), Length(max=40)]
    )
    name_zh = StringField(
        _l("Name in Chinese"), validators=[DataRequired(REQUIRED), Length(max=60)]
    )
    name_en = StringField(
        _l("Name in English"), validators=[DataRequired(REQUIRED), Length(max=80)]
    )


class SynonymForm(Form):
    term = StringField(
        _l("When a buyer searches for"), validators=[DataRequired(REQUIRED), Length(max=30)]
    )
    means = StringField(
        _l("also find what is found for"), validators=[DataRequired(REQUIRED), Length(max=30)]
    )
