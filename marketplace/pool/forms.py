from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.accounts.forms import ContactFields
from marketplace.forms import Form, choices
from marketplace.pool.models import DocumentKind, PoolEvent

REQUIRED = _l("This field is required.")


class ApplicationForm(ContactFields):
    years_in_business = IntegerField(
        _l("Years in business"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=0, max=200, message=_l("Enter a number from 0 to 200.")),
        ],
    )
    reference_customer_count = IntegerField(
        _l("Reference customers (count)"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=0, max=100_000, message=_l("Enter a number from 0 to 100,000.")),
        ],
    )
    reference_customers = TextAreaField(
        _l("Reference customers (names, one per line)"), validators=[Optional(), Length(max=2000)]
    )
    certifications = TextAreaField(
        _l("Certifications (e.g. ISO 9001, 两化融合管理体系, 等保三级)"),
        validators=[Optional(), Length(max=2000)],
    )
    capability_statement = TextAreaField(
        _l("Capability statement"), validators=[DataRequired(REQUIRED), Length(max=3000)]
    )


class DecisionForm(Form):
    event = SelectField(_l("Decision"), choices=[], validators=[DataRequired(REQUIRED)])
    reason = TextAreaField(
        _l("Written reason (the provider sees it)"), validators=[Optional(), Length(max=2000)]
    )

    def __init__(self, events: list[PoolEvent], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.event.choices = choices((e.value, e.label) for e in events)


class DocumentForm(Form):
    kind = SelectField(_l("What the document is"), validators=[DataRequired(REQUIRED)])
    document = FileField(_l("File (PDF, PNG or JPG)"), validators=[Optional()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = choices((k.value, k.label) for k in DocumentKind)
