"""Forms of the invoice pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, StringField, TextAreaField
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


class PayoutForm(Form):
    provider_id = StringField(validators=[DataRequired(REQUIRED), Regexp(r"^[0-9]{1,10}$")])
    amount = YuanField(_l("Amount paid out (yuan)"), validators=[InputRequired(REQUIRED)])
    reference = StringField(
        _l("Bank transfer reference"), validators=[DataRequired(REQUIRED), Length(max=100)]
    )


class ReissueForm(Form):
    amount = YuanField(
        _l("Corrected amount before vouchers (yuan)"), validators=[InputRequired(REQUIRED)]
    )
