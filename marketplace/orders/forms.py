from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from marketplace.accounts.forms import MultiCheckboxField
from marketplace.forms import Form, YuanField, choices, phone_number
from marketplace.orders import tickets
from marketplace.orders.services import SiteContact
from marketplace.payments.services import MAX_FEN

REQUIRED = _l("This field is required.")


class NewBundleForm(Form):
    name = StringField(_l("Bundle name"), validators=[DataRequired(REQUIRED), Length(max=80)])


class AddToBundleForm(Form):
    package_id = IntegerField(
        validators=[InputRequired(REQUIRED), NumberRange(min=1, max=2**31 - 1)]
    )
    # Ids checked by the service: another enterprise's bundle is 404, another package's plan an error.
    bundle_id = StringField(_l("Add to"), validators=[Optional(), Length(max=10)])
    plan_id = StringField(_l("Plan"), validators=[Optional(), Length(max=10)])


class PlanChoiceForm(Form):
    plan_id = IntegerField(_l("Plan"), validators=[InputRequired(REQUIRED)])


class SwapForm(Form):
    """Hybrid mode: confirm swapping a module (programme and package travel in the URL)."""


class CheckoutForm(Form):
    """The review page's order button: the checkout's key (the same for every page showing
    the bundle's current content, so a double click, a reload or a second tab places one
    order), the voucher money the page showed and the content it showed (the order is
    refused if either changed since), the choice not to use vouchers, and the contact person
    and delivery site for the providers. Only the key is needed: scripts post a key of their
    own, and without contact fields the profile's contact is kept; the page always sends
    them, and the service refuses an empty or bad one."""

    key = StringField(validators=[Optional(), Regexp(r"^[A-Za-z0-9_-]{16,64}$")])
    subsidy_shown = IntegerField(validators=[Optional(), NumberRange(min=0, max=MAX_FEN)])
    reviewed = StringField(validators=[Optional(), Regexp(r"^[0-9a-f]{16}$")])
    skip_vouchers = BooleanField()
    contact_name = StringField(
        _l("Contact person"),
        validators=[Optional(), Length(max=60)],
        render_kw={"autocomplete": "name", "maxlength": 60},
    )
    contact_phone = StringField(
        _l("Contact phone"),
        validators=[Optional(), Length(max=30), phone_number],
        render_kw={"autocomplete": "tel", "inputmode": "tel", "maxlength": 30},
    )
    site_address = StringField(
        _l("Delivery site (address)"),
        validators=[Optional(), Length(max=200)],
        render_kw={"autocomplete": "street-address", "maxlength": 200},
    )

    CONTACT_FIELDS = ("contact_name", "contact_phone", "site_address")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.CONTACT_FIELDS:  # asked on the page (the service insists on them)
            self[name].flags.required = True

    def contact(self) -> SiteContact | None:
        """The contact as posted, or None when the post carried none of its fields."""
        if not any(self[name].raw_data for name in self.CONTACT_FIELDS):
            return None
        return SiteContact(
            name=self.contact_name.data or "",
            phone=self.contact_phone.data or "",
            site=self.site_address.data or "",
        )

    def contact_invalid(self) -> bool:
        return any(self[name].errors for name in self.CONTACT_FIELDS)


class ReasonForm(Form):
    reason = TextAreaField(
        _l("Reason (the other party sees it)"), validators=[Optional(), Length(max=2000)]
    )


class EvidenceFields(Form):
    """Evidence the provider may attach when it marks the delivery or a milestone done: a
    note, a file, or both (all optional; the service checks the file's type and size)."""

    evidence_note = TextAreaField(
        _l("Note for the enterprise (optional)"),
        validators=[Optional(), Length(max=2000)],
    )
    evidence_file = FileField(
        _l("File (optional: PDF, PNG, JPG, XLSX, CSV or TXT)"), validators=[Optional()]
    )


class LineEventForm(ReasonForm, EvidenceFields):
    """A move of a line: the reason where one is needed, and evidence with a delivery."""


class MilestoneDoneForm(EvidenceFields):
    pass


class MilestoneForm(Form):
    title = StringField(_l("Milestone"), validators=[DataRequired(REQUIRED), Length(max=120)])
    due_on = DateField(_l("Due on"), validators=[InputRequired(REQUIRED)])


class ReviewForm(Form):
    rating = IntegerField(
        _l("Rating (1 to 5)"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=1, max=5, message=_l("Rate from 1 to 5.")),
        ],
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=2000)])


class TicketForm(Form):
    severity = StringField(_l("Severity"), validators=[DataRequired(REQUIRED), Length(max=20)])
    description = TextAreaField(
        _l("What is wrong?"), validators=[DataRequired(REQUIRED), Length(max=4000)]
    )


class MessageForm(Form):
    """A message on a ticket: a reply, a resolution note, or why it is reopened."""

    body = TextAreaField(
        _l("Message"), validators=[DataRequired(REQUIRED), Length(max=tickets.MAX_BODY)]
    )
    attachment = FileField(
        _l("Attachment (optional: PDF, PNG, JPG, XLSX, CSV or TXT)"), validators=[Optional()]
    )


class DisputeStatementForm(Form):
    statement = TextAreaField(
        _l("Your side of the dispute (the decider reads it)"),
        validators=[Optional(), Length(max=2000)],
    )


class DisputeDecisionForm(Form):
    """An official's decision on an escalated dispute. Whether the note is given, the amount
    fits the line and the case is still waiting is checked by the service (with its own
    messages), so that a form and a script are refused alike."""

    ruling = RadioField(_l("The decision"), validators=[InputRequired(_l("Choose a decision."))])
    amount = YuanField(_l("Reduced amount (yuan)"), validators=[Optional()])
    note = TextAreaField(
        _l("Note for both parties"),
        validators=[Optional(), Length(max=2000)],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # built per request, in the reader's language
        self.ruling.choices = choices(
            [
                ("rule_redeliver", _l("Deliver again: the line goes back to delivery")),
                ("rule_reduced", _l("Accept at a reduced amount")),
                ("rule_cancel", _l("Cancel the line: its vouchers are released")),
            ]
        )


class NeedForm(Form):
    """An enterprise's need: the service checks the values (and says what is wrong)."""

    category_code = SelectField(_l("Category"), validators=[DataRequired(REQUIRED)])
    description = TextAreaField(
        _l("What do you need?"), validators=[DataRequired(REQUIRED), Length(max=4000)]
    )
    budget = YuanField(_l("Budget (yuan)"), validators=[InputRequired(REQUIRED)])
    deadline = DateField(_l("Quotes by"), validators=[InputRequired(REQUIRED)])
    industry_code = SelectField(_l("Industry (optional)"), validators=[Optional()])
    site = StringField(_l("Site (optional)"), validators=[Optional(), Length(max=200)])


class QuoteForm(Form):
    """A provider's quote: plans of its own packages, a price, delivery days and a message."""

    plan_ids = MultiCheckboxField(
        _l("Packages and plans"), coerce=int, validate_choice=False, validators=[Optional()]
    )
    price = YuanField(_l("Quoted price (yuan)"), validators=[InputRequired(REQUIRED)])
    delivery_days = IntegerField(
        _l("Days to deliver"), validators=[InputRequired(REQUIRED), NumberRange(min=1, max=730)]
    )
    message = TextAreaField(_l("Message (optional)"), validators=[Optional(), Length(max=2000)])


class AcceptQuotesForm(Form):
    quote_ids = MultiCheckboxField(
        _l("Quotes"), coerce=int, validate_choice=False, validators=[Optional()]
    )


class StartTrialForm(Form):
    """Start a trial: the enterprise confirms the offer's terms (days, price, limits)."""

    agree = BooleanField(
        _l("I accept the trial's terms: its days, price and limits, and one trial per customer."),
        validators=[DataRequired(_l("Confirm the trial's terms to start it."))],
    )


class EndTrialForm(Form):
    """End a trial early (CSRF only)."""
