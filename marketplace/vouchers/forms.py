"""Forms of the voucher pages. Amounts are typed in yuan, the rate in per cent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from marketplace.accounts.forms import MultiCheckboxField
from marketplace.forms import Form, YuanField, choices, not_negative
from marketplace.vouchers.models import (
    DEFAULT_BATCH_APPROVAL_THRESHOLD_FEN,
    MAX_COOLING_OFF_DAYS,
)

REQUIRED = _l("This field is required.")
DATE = _l("Enter a date as YYYY-MM-DD.")


class ProgrammeForm(Form):
    name = StringField(_l("Programme name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    mode = SelectField(_l("Mode"), validators=[DataRequired(REQUIRED)])
    budget = YuanField(
        _l("Total budget (yuan)"), validators=[InputRequired(REQUIRED), not_negative]
    )
    face_value = YuanField(
        _l("Face value of one voucher (yuan)"), validators=[InputRequired(REQUIRED), not_negative]
    )
    rate = DecimalField(
        _l("Subsidy rate (per cent of an eligible line)"),
        places=2,
        validators=[
            InputRequired(REQUIRED),
            NumberRange(
                min=Decimal("0.01"), max=Decimal(100), message=_l("Enter a rate from 0.01 to 100.")
            ),
        ],
    )
    cap = YuanField(
        _l("Cap per enterprise (yuan)"), validators=[InputRequired(REQUIRED), not_negative]
    )
    batch_approval_threshold = YuanField(
        _l("Batches above this total need a second official's approval (yuan)"),
        validators=[InputRequired(REQUIRED), not_negative],
        default=DEFAULT_BATCH_APPROVAL_THRESHOLD_FEN,
    )
    issue_from = DateField(_l("Issue from"), validators=[InputRequired(DATE)])
    redeem_by = DateField(_l("Redeem by"), validators=[InputRequired(DATE)])
    industry_codes = MultiCheckboxField(_l("Industries (none ticked: all)"))
    size_tiers = MultiCheckboxField(_l("Size tiers (none ticked: all)"))
    region_codes = MultiCheckboxField(_l("Regions (none ticked: all)"))
    min_revenue = YuanField(
        _l("Lowest annual revenue (yuan)"), validators=[Optional(), not_negative]
    )
    max_revenue = YuanField(
        _l("Highest annual revenue (yuan)"), validators=[Optional(), not_negative]
    )
    diagnosis_required = BooleanField(_l("Only enterprises that completed a diagnosis"))
    category_codes = MultiCheckboxField(_l("Categories vouchers pay for (none ticked: all)"))
    plan_kinds = MultiCheckboxField(_l("Price plans vouchers pay for (none ticked: all)"))
    covers_success_fees = BooleanField(_l("Vouchers may pay outcome success fees"))
    hybrid_fee_floor = DecimalField(
        _l("Hybrid mode: least share of the integration fee kept (per cent)"),
        places=2,
        default=Decimal(50),
        validators=[
            Optional(),  # not given (a script, an older form): the default 50 %
            NumberRange(min=0, max=100, message=_l("Enter a percentage from 0 to 100.")),
        ],
    )
    cooling_off_days = IntegerField(
        _l("Cooling-off period after delivery starts (days)"),
        default=0,
        validators=[
            Optional(),  # not given (a script, an older form): no cooling-off
            NumberRange(
                min=0,
                max=MAX_COOLING_OFF_DAYS,
                message=_l("Enter whole days from 0 to %(n)d.", n=MAX_COOLING_OFF_DAYS),
            ),
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # an unticked group posts nothing; that means "all", not "missing"
        for name in (
            "industry_codes",
            "size_tiers",
            "region_codes",
            "category_codes",
            "plan_kinds",
        ):
            getattr(self, name).validators = [Optional()]


class AppointmentForm(Form):
    """An integrator's appointment and how it was chosen; the applicants' scores are posted as
    ``score-<provider id>`` fields, one for each provider of the pool (blank: did not apply)."""

    integrator_id = SelectField(_l("Integrator appointed"), coerce=int)
    call_reference = StringField(_l("Call reference"), validators=[Optional(), Length(max=60)])
    call_title = StringField(_l("Call title"), validators=[Optional(), Length(max=200)])
    criteria = TextAreaField(_l("Selection criteria"), validators=[Optional(), Length(max=4000)])
    reason = TextAreaField(_l("Reason for the appointment"), validators=[Length(max=4000)])
    term_start = DateField(_l("Term starts"), validators=[Optional()])
    term_end = DateField(_l("Term ends"), validators=[Optional()])
    integration_fee_cap = DecimalField(
        _l("Cap on the integration fee (per cent of the bundle)"),
        places=2,
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=0, max=100, message=_l("Enter a percentage from 0 to 100.")),
        ],
    )


class EndAppointmentForm(Form):
    end_reason = StringField(_l("Reason for ending it"), validators=[Length(max=2000)])


class KeyForm(Form):
    """A confirmation carrying a one-time key: a repeated submission is answered once."""

    key = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{16,64}$")])


CONFIRM = _l("Tick the box to confirm the amount.")
AMOUNT = r"^[0-9]{1,15}$"


class AmountConfirmation(Form):
    """An action that moves money (issue, approve, pay): the official ticks a box stating
    the amount, and the amount the page showed comes back (the service compares it)."""

    confirmed = BooleanField(validators=[DataRequired(CONFIRM)])
    total_fen = HiddenField(validators=[DataRequired(), Regexp(AMOUNT)])


class BatchForm(KeyForm, AmountConfirmation):
    """Issuing a batch; above the programme's threshold it is proposed, with this note."""

    note = TextAreaField(
        _l("Note for the approving official"), validators=[Optional(), Length(max=1000)]
    )


class IssueOneForm(KeyForm, AmountConfirmation):
    credit_code = StringField(
        _l("Unified social credit code"),
        validators=[
            DataRequired(REQUIRED),
            Length(min=18, max=18, message=_l("The code has 18 characters.")),
        ],
    )


class ImportForm(Form):
    """The upload of a dry run: nothing is issued from it."""

    file = FileField(
        _l("CSV file (columns: credit_code, name; UTF-8 or GBK)"),
        validators=[FileRequired(_l("Choose a file."))],
    )


class ConfirmImportForm(KeyForm, AmountConfirmation):
    """Issuing the rows of a dry run: the stored file's digest and the count shown."""

    digest = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{64}$")])
    count = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,6}$")])
    note = TextAreaField(
        _l("Note for the approving official"), validators=[Optional(), Length(max=1000)]
    )


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=1000)])


class DecisionForm(ReasonForm):
    """Approving issues a voucher: the box stating its amount must be ticked (rejecting
    needs a reason instead)."""

    decision = SelectField(choices=choices([("approve", "approve"), ("reject", "reject")]))
    confirmed = BooleanField()
    total_fen = HiddenField(validators=[Optional(), Regexp(AMOUNT)])


class ValidityForm(Form):
    redeem_by = DateField(_l("New redeem-by date"), validators=[InputRequired(DATE)])


class BudgetForm(Form):
    budget = YuanField(_l("New total budget (yuan)"), validators=[InputRequired(REQUIRED)])


class ApplyForm(Form):
    note = TextAreaField(
        _l("What will you use the voucher for?"), validators=[Optional(), Length(max=1000)]
    )


class ProviderForm(Form):
    provider_id = HiddenField(validators=[DataRequired()])


class PaidForm(Form):
    reference = StringField(
        _l("Bank transfer reference"), validators=[DataRequired(REQUIRED), Length(max=60)]
    )


class SettlementPaidForm(PaidForm, AmountConfirmation):
    """Recording a settlement's transfer: the reference and the confirmed total paid."""


class ApprovalForm(AmountConfirmation):
    """The second official's approval of a settlement or a proposed voucher batch: a note,
    the ticked confirmation and the total their page showed (the service refuses if the
    total is another)."""

    note = TextAreaField(_l("Approval note"), validators=[Optional(), Length(max=1000)])


class ClawBackApprovalForm(Form):
    """The second official's approval of a claw-back: a note, and the amount their page
    showed (the service refuses if the claw-back's amount is another)."""

    note = TextAreaField(_l("Approval note"), validators=[Optional(), Length(max=1000)])
    amount_fen = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,15}$")])


CAP = _l("Enter a share from 0.01 to 100, or leave it empty for no cap.")


class CapsForm(Form):
    """A programme's caps (issue 22), in per cent; empty is no cap."""

    provider_cap = DecimalField(
        _l("Largest share of the voucher money one provider may hold (per cent)"),
        places=2,
        validators=[
            Optional(),
            NumberRange(min=Decimal("0.01"), max=Decimal(100), message=CAP),
        ],
    )
    integration_fee_cap = DecimalField(
        _l("Largest share of a curated bundle its integration fee may be (per cent)"),
        places=2,
        validators=[
            Optional(),
            NumberRange(min=Decimal("0.01"), max=Decimal(100), message=CAP),
        ],
    )
    cap_policy = SelectField(_l("An order above the provider cap"))
    cap_from = YuanField(
        _l("Apply the provider cap once this much voucher money is in use (yuan)"),
        validators=[Optional(), not_negative],
    )


class HoldDecisionForm(Form):
    reason = TextAreaField(
        _l("Reason (the enterprise reads it)"),
        validators=[DataRequired(REQUIRED), Length(max=1000)],
    )


class AdmissionDecisionForm(Form):
    """Admitting a package version to a programme, or not: always with a reason, which the
    provider sees (the service refuses a blank one)."""

    decision = SelectField(choices=choices([("admit", "admit"), ("reject", "reject")]))
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])


class AdmissionRulesForm(Form):
    """The programme's published admission criteria and the assessor it delegates to."""

    criteria = TextAreaField(
        _l("Admission criteria (published)"),
        validators=[Optional(), Length(max=4000)],
    )
    assessor_id = SelectField(_l("Delegate decisions to an assessor"), coerce=str)
