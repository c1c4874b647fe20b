from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.accounts import credit_code, passwords
from marketplace.accounts.models import MemberRole, OrgKind, ProviderType
from marketplace.forms import Form, YuanField, choices, not_negative, phone_number

REQUIRED = _l("This field is required.")


def valid_credit_code(_form: Form, field: StringField) -> None:
    if field.data:
        field.data = credit_code.normalise(field.data)
        if not credit_code.is_valid(field.data):
            raise ValidationError(
                _l(
                    "This is not a valid unified social credit code (18 characters, check character last)."
                )
            )


def password_field(label: object) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(REQUIRED),
            Length(
                min=passwords.MIN_LENGTH,
                max=passwords.MAX_LENGTH,
                message=_l(
                    "Use %(min)d to %(max)d characters.",
                    min=passwords.MIN_LENGTH,
                    max=passwords.MAX_LENGTH,
                ),
            ),
        ],
        render_kw={"autocomplete": "new-password", "minlength": passwords.MIN_LENGTH},
    )


def email_field(label: object, **kwargs: object) -> EmailField:
    """A required, checked e-mail address (a login or a contact)."""
    return EmailField(
        label,
        validators=[
            DataRequired(REQUIRED),
            Email(_l("Enter a valid e-mail address.")),
            Length(max=254),
        ],
        **kwargs,
    )


def confirm_field() -> PasswordField:
    return PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(REQUIRED), EqualTo("password", _l("The passwords do not match."))],
        render_kw={"autocomplete": "new-password"},
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(Form):
    email = EmailField(
        _l("E-mail"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(REQUIRED), Length(max=passwords.MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class OwnerFields(Form):
    owner_name = StringField(
        _l("Your name"),
        validators=[DataRequired(REQUIRED), Length(max=60)],
        render_kw={"autocomplete": "name"},
    )
    email = email_field(_l("Your e-mail (your login)"), render_kw={"autocomplete": "email"})
    password = password_field(_l("Password"))
    confirm = confirm_field()


class CreditCodeField(Form):
    credit_code = StringField(
        _l("Unified social credit code"),
        validators=[
            DataRequired(REQUIRED),
            Length(min=18, max=18, message=_l("The code has 18 characters.")),
            valid_credit_code,
        ],
        render_kw={"maxlength": 18, "autocapitalize": "characters", "spellcheck": "false"},
    )


class RegisteredDetailsFields(Form):
    """Registered details (工商登记信息); optional, compared by the voucher risk checks."""

    legal_representative = StringField(
        _l("Legal representative"), validators=[Optional(), Length(max=60)]
    )
    address = StringField(_l("Registered address"), validators=[Optional(), Length(max=200)])
    bank_name = StringField(_l("Bank"), validators=[Optional(), Length(max=100)])
    bank_account = StringField(_l("Bank account number"), validators=[Optional(), Length(max=40)])


class EnterpriseProfileForm(RegisteredDetailsFields):
    name = StringField(_l("Enterprise name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    industry_code = SelectField(_l("Industry"), validators=[DataRequired(REQUIRED)])
    region_code = SelectField(_l("Region"), validators=[DataRequired(REQUIRED)])
    employees = IntegerField(
        _l("Employees"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=0, max=10_000_000, message=_l("Enter a number from 0 to 10,000,000.")),
        ],
    )
    annual_revenue = YuanField(
        _l("Annual revenue (yuan)"), validators=[InputRequired(REQUIRED), not_negative]
    )
    contact_phone = StringField(
        _l("Contact phone"),
        validators=[Optional(), Length(max=30), phone_number],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )


class EnterpriseRegistrationForm(EnterpriseProfileForm, CreditCodeField, OwnerFields):
    pass


class ContactFields(Form):
    contact_name = StringField(
        _l("Contact person"), validators=[DataRequired(REQUIRED), Length(max=60)]
    )
    contact_phone = StringField(
        _l("Contact phone"),
        validators=[DataRequired(REQUIRED), Length(max=30), phone_number],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    contact_email = email_field(_l("Contact e-mail"))


class ProviderProfileForm(ContactFields, RegisteredDetailsFields):
    name = StringField(_l("Provider name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    provider_type = SelectField(
        _l("Provider type"),
        choices=[],
        validators=[DataRequired(REQUIRED)],
    )
    industry_codes = MultiCheckboxField(
        _l("Industries served"), validators=[DataRequired(_l("Choose at least one industry."))]
    )
    region_codes = MultiCheckboxField(
        _l("Regions served"), validators=[DataRequired(_l("Choose at least one region."))]
    )
    description = TextAreaField(
        _l("Capabilities (shown on your public profile)"), validators=[Optional(), Length(max=2000)]
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # the labels are lazy strings; choices are rendered in the current language
        self.provider_type.choices = choices((t.value, t.label) for t in ProviderType)


class ProviderRegistrationForm(ProviderProfileForm, CreditCodeField, OwnerFields):
    pass


class AdvisorRegistrationForm(ContactFields, CreditCodeField, OwnerFields):
    name = StringField(
        _l("Advisor or studio name"), validators=[DataRequired(REQUIRED), Length(max=200)]
    )
    description = TextAreaField(
        _l("Expertise (shown to the enterprises that choose an advisor)"),
        validators=[DataRequired(REQUIRED), Length(max=2000)],
    )


class ChangePasswordForm(Form):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(REQUIRED)],
        render_kw={"autocomplete": "current-password"},
    )
    password = password_field(_l("New password"))
    confirm = confirm_field()


class SetPasswordForm(Form):
    password = password_field(_l("New password"))
    confirm = confirm_field()


class ForgotPasswordForm(Form):
    email = email_field(_l("Your e-mail (your login)"), render_kw={"autocomplete": "username"})


class AcceptInvitationForm(OwnerFields):
    """The invitee's own account: the same fields as a registering owner."""


class InvitationForm(Form):
    email = email_field(_l("E-mail of the person you invite"))
    role = SelectField(_l("Role"), choices=[], validators=[DataRequired(REQUIRED)])
    note = StringField(_l("For whom (a note for you)"), validators=[Optional(), Length(max=120)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = choices((r.value, r.label) for r in MemberRole)


class RoleForm(Form):
    role = SelectField(_l("Role"), choices=[], validators=[DataRequired(REQUIRED)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = choices((r.value, r.label) for r in MemberRole)


class ConfirmForm(Form):
    """A POST with nothing but the CSRF token (remove, revoke, log out)."""


class NewOrganisationForm(Form):
    kind = SelectField(_l("Kind"), choices=[], validators=[DataRequired(REQUIRED)])
    name = StringField(
        _l("Organisation name"), validators=[DataRequired(REQUIRED), Length(max=200)]
    )
    credit_code = StringField(
        _l("Unified social credit code (optional)"),
        validators=[
            Optional(),
            Length(min=18, max=18, message=_l("The code has 18 characters.")),
            valid_credit_code,
        ],
    )
    region_code = SelectField(_l("Region (an agency's jurisdiction)"), validators=[Optional()])
    owner_name = StringField(
        _l("Owner's name"), validators=[DataRequired(REQUIRED), Length(max=60)]
    )
    email = email_field(_l("Owner's e-mail (login)"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = choices(
            (k.value, k.label)
            for k in (OrgKind.AGENCY, OrgKind.ASSESSOR, OrgKind.ADVISOR, OrgKind.PLATFORM)
        )


class ApiTokenForm(Form):
    name = StringField(
        _l("Name (the system that will use it)"), validators=[DataRequired(), Length(max=80)]
    )
    scopes = MultiCheckboxField(_l("Scopes"))
    expires_on = DateField(_l("Expires on (optional)"), validators=[Optional()])


class MailPreferencesForm(Form):
    """Which kinds of notification reach the user by e-mail (``kinds``: the checked ones;
    the choices are set by the view), and whether the others come as a daily digest."""

    kinds = MultiCheckboxField(_l("E-mail me about"))
    digest = BooleanField(_l("A daily digest instead"))


class DecisionForm(Form):
    decision = SelectField(_l("Decision"), choices=[], validators=[DataRequired(REQUIRED)])
    note = TextAreaField(_l("Note (required to reject)"), validators=[Optional(), Length(max=500)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.decision.choices = choices([("approve", _l("Approve")), ("reject", _l("Reject"))])
