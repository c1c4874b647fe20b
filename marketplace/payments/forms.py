"""Forms of the invoice pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from marketplace.forms import Form, YuanField

REQUIRED = _l("This field is required.")


class TransferForm(Form):
    amount = YuanField(_l("Amount received (yuan)"), validators=[InputRequired(REQUIRED)])
    reference = StringField(
        _l("Bank transfer reference"), validators=[DataRequired(REQUIRED), Length(max=100)]
    )
    received_on = DateField(
        _l("Received on"), validators=[InputRequired(_l("Enter a date as YYYY-MM-DD."))]
    )


class VoidForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=1000)])


class ProposalForm(Form):
    """A platform administrator's proposal to pay a provider (four eyes: another approves)."""

    provider_id = StringField(validators=[DataRequired(REQUIRED), Regexp(r"^[0-9]{1,10}$")])
    amount = YuanField(_l("Amount to pay out (yuan)"), validators=[InputRequired(REQUIRED)])
    note = TextAreaField(_l("Proposal note"), validators=[Optional(), Length(max=1000)])


class PayoutApprovalForm(Form):
    """The second administrator's approval: a note, and the amount their page showed (the
    service refuses if the payout's amount is another)."""

    note = TextAreaField(_l("Approval note"), validators=[Optional(), Length(max=1000)])
    amount_fen = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,15}$")])


class PayoutPaidForm(Form):
    reference = StringField(_l("Bank transfer reference"), validators=[Optional(), Length(max=100)])


class PayoutCancelForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=1000)])


class ReissueForm(Form):
    amount = YuanField(
        _l("Corrected amount before vouchers (yuan)"), validators=[InputRequired(REQUIRED)]
    )
