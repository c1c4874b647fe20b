"""Forms of the invoice pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

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
