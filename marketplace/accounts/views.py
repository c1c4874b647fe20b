"""Signing in and out, self-registration, passwords (change, forgot, set with a link),
confirming an e-mail address, invitations, the organisation's members and profile, and
providers' public profiles."""

from __future__ import annotations

from datetime import datetime, time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup

from marketplace import LANGUAGE_COOKIE, audit, notifications, ratelimits
from marketplace.accounts import (
    api_tokens,
    confirmation,
    forms,
    notification_mail,
    profile_changes,
    services,
)
from marketplace.accounts.models import ApiScope, MemberRole, Organisation, OrgKind, ProviderType
from marketplace.db import LOCAL_ZONE, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.extensions import limiter
from marketplace.forms import attach_error, choices
from marketplace.rendering import INVALID, render
from marketplace.security import current_actor, is_safe_next, public, requires

bp = Blueprint("accounts", __name__)
org_bp = Blueprint("org", __name__, url_prefix="/org")


def _account_key() -> str:
    return "account:" + services.normalise_email(request.form.get("email", ""))


def _ip_key() -> str:
    return "ip:" + (request.remote_addr or "unknown")


def _login_limit() -> str:
    return str(current_app.config["LOGIN_FAILURE_LIMIT"])


def _password_form_limit() -> str:
    return str(current_app.config["PASSWORD_FORM_LIMIT"])


def _user_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else _ip_key()


def _forgot_limit() -> str:
    return str(current_app.config["FORGOT_PASSWORD_LIMIT"])


def _mail_again_limit() -> str:
    return str(current_app.config["MAIL_AGAIN_LIMIT"])


def _locale() -> str:
    """The language of this request: the e-mails it causes are written in it."""
    return str(get_locale() or "zh")


# "Send again" of a confirmation or an invitation e-mail, per user.
limit_mail_again = limiter.limit(
    _mail_again_limit, key_func=_user_key, methods=["POST"], scope="mail-again"
)


# Every POST below hashes a password (argon2id, 64 MiB): limit them per IP.
limit_password_forms = limiter.limit(
    _password_form_limit, key_func=_ip_key, methods=["POST"], scope="password-forms"
)


def _start_session(user: object) -> None:
    """A fresh session at login: nothing from before survives but the language cookie."""
    session.clear()
    login_user(user, remember=False)
    session.permanent = True


@bp.route("/login", methods=["GET", "POST"])
@public
# Each POST takes a unit per IP and per account before the password is checked (parallel
# attempts cannot slip through); only a wrong password keeps it (see marketplace.ratelimits).
@limiter.limit(_login_limit, key_func=_ip_key, methods=["POST"], scope="login-ip")
@limiter.limit(_login_limit, key_func=_account_key, methods=["POST"], scope="login-account")
def login() -> ResponseReturnValue:
    form = forms.LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("home.dashboard"))
    if not form.validate_on_submit():
        ratelimits.give_back()  # no password was tried
        return render(
            "accounts/login.html", form=form, status=INVALID if form.is_submitted() else 200
        )
    user = services.authenticate(form.email.data, form.password.data, current_actor())
    if user is None:
        form.form_errors.append(_("The e-mail or password is not correct."))
        return render("accounts/login.html", form=form)
    ratelimits.give_back()  # a successful login does not count against the limit
    _start_session(user)
    target = form.next.data
    return redirect(target if is_safe_next(target) else url_for("home.dashboard"))


@bp.post("/logout")
@requires()
def logout() -> ResponseReturnValue:
    form = forms.ConfirmForm()
    if form.validate_on_submit():
        services.logout(current_user, current_actor())
    logout_user()
    session.clear()
    flash(_("You have logged out."), "info")
    return redirect(url_for("home.index"))


@bp.post("/language")
@public
def set_language() -> ResponseReturnValue:
    lang = request.form.get("lang", "")
    target = request.form.get("next", "")
    response = redirect(target if is_safe_next(target) else url_for("home.index"))
    if lang in current_app.config["LANGUAGES"]:
        response.set_cookie(
            LANGUAGE_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure,
            httponly=True,
        )
        if current_user.is_authenticated:  # their e-mails follow
            notification_mail.remember_language(current_user, lang)
    return response


@bp.route(notification_mail.PREFERENCES_LINK, methods=["GET", "POST"])
@requires()
def notification_settings() -> ResponseReturnValue:
    form = forms.MailPreferencesForm()
    form.kinds.choices = choices((kind, notifications.label(kind)) for kind in notifications.TEXTS)
    wanted = notification_mail.mail_preferences(current_user)
    if not form.is_submitted():
        form.kinds.data = [kind for kind, on in wanted.items() if on]
        form.digest.data = current_user.digest_from is not None
    if not form.validate_on_submit():
        return _notification_settings_page(form, INVALID if form.is_submitted() else 200)
    try:
        notification_mail.save_mail_preferences(
            current_user, form.kinds.data or [], bool(form.digest.data), current_actor()
        )
    except DomainError as error:
        attach_error(form, error)
        return _notification_settings_page(form, INVALID)
    flash(_("Your e-mail preferences are saved."), "success")
    return redirect(url_for("accounts.notification_settings"))


def _notification_settings_page(
    form: forms.MailPreferencesForm, status: int
) -> ResponseReturnValue:
    checked = set(form.kinds.data or [])
    groups = [
        (title, [(kind, notifications.label(kind), kind in checked) for kind in kinds])
        for title, kinds in notifications.grouped_kinds()
    ]
    return render(
        "accounts/notification_settings.html",
        form=form,
        groups=groups,
        deadline=notifications.DEADLINE_KINDS,
        status=status,
    )


@bp.get("/register")
@public
def register() -> ResponseReturnValue:
    return render("accounts/register_choice.html")


def _fill_reference_choices(form: forms.EnterpriseProfileForm | forms.ProviderProfileForm) -> None:
    locale = str(get_locale())
    industries = [(i.code, i.name(locale)) for i in services.industries()]
    regions = [(r.code, f"{r.name(locale)} ({r.code})") for r in services.regions()]
    placeholder = [("", _("Choose…"))]
    if isinstance(form, forms.EnterpriseProfileForm):
        form.industry_code.choices = choices(placeholder + industries)
        form.region_code.choices = choices(placeholder + regions)
    else:
        form.industry_codes.choices = choices(industries)
        form.region_codes.choices = choices(regions)


def _enterprise_profile(form: forms.EnterpriseProfileForm, code: str) -> services.EnterpriseProfile:
    return services.EnterpriseProfile(
        name=form.name.data,
        credit_code=code,
        industry_code=form.industry_code.data,
        region_code=form.region_code.data,
        employees=form.employees.data,
        annual_revenue_fen=form.annual_revenue.data or 0,
        contact_phone=form.contact_phone.data or "",
        registered=_registered(form),
    )


def _registered(form: forms.RegisteredDetailsFields) -> services.RegisteredDetails:
    return services.RegisteredDetails(
        legal_representative=form.legal_representative.data or "",
        address=form.address.data or "",
        bank_name=form.bank_name.data or "",
        bank_account=form.bank_account.data or "",
    )


def _provider_profile(form: forms.ProviderProfileForm, code: str) -> services.ProviderProfile:
    return services.ProviderProfile(
        name=form.name.data,
        credit_code=code,
        provider_type=ProviderType(form.provider_type.data),
        industry_codes=list(form.industry_codes.data or []),
        region_codes=list(form.region_codes.data or []),
        contact_name=form.contact_name.data,
        contact_phone=form.contact_phone.data,
        contact_email=form.contact_email.data,
        description=form.description.data or "",
        registered=_registered(form),
    )


@bp.route("/register/<any(enterprise, provider, advisor):kind>", methods=["GET", "POST"])
@public
@limit_password_forms
def register_org(kind: str) -> ResponseReturnValue:
    form: (
        forms.EnterpriseRegistrationForm
        | forms.ProviderRegistrationForm
        | forms.AdvisorRegistrationForm
    )
    if kind == "enterprise":
        form = forms.EnterpriseRegistrationForm()
    elif kind == "advisor":
        form = forms.AdvisorRegistrationForm()
    else:
        form = forms.ProviderRegistrationForm()
    if not isinstance(form, forms.AdvisorRegistrationForm):
        _fill_reference_choices(form)
    template = f"accounts/register_{kind}.html"
    if not form.validate_on_submit():
        return render(template, form=form, status=INVALID if form.is_submitted() else 200)
    owner = services.NewOwner(form.owner_name.data, form.email.data, form.password.data)
    try:
        if isinstance(form, forms.EnterpriseRegistrationForm):
            user = services.register_enterprise(
                _enterprise_profile(form, form.credit_code.data),
                owner,
                current_actor(),
                locale=_locale(),
            )
        elif isinstance(form, forms.AdvisorRegistrationForm):
            user = services.register_advisor(
                services.AdvisorProfile(
                    name=form.name.data,
                    credit_code=form.credit_code.data,
                    contact_name=form.contact_name.data,
                    contact_phone=form.contact_phone.data,
                    contact_email=form.contact_email.data,
                    description=form.description.data or "",
                ),
                owner,
                current_actor(),
                locale=_locale(),
            )
        else:
            user = services.register_provider(
                _provider_profile(form, form.credit_code.data),
                owner,
                current_actor(),
                locale=_locale(),
            )
    except DomainError as error:
        attach_error(form, error)
        return render(template, form=form, status=INVALID)
    _start_session(user)
    flash(_("Welcome! Your organisation is registered and you are its owner."), "success")
    flash(
        _(
            "We sent a link to %(email)s: open it to confirm your address, then you can place"
            " orders and apply for vouchers.",
            email=user.email,
        ),
        "info",
    )
    return redirect(url_for("home.dashboard"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires()
@limiter.limit(_login_limit, key_func=_user_key, methods=["POST"], scope="password-change")
def change_password() -> ResponseReturnValue:
    form = forms.ChangePasswordForm()
    if not form.validate_on_submit():
        return render(
            "accounts/change_password.html",
            form=form,
            status=INVALID if form.is_submitted() else 200,
        )
    try:
        services.change_password(
            current_user, form.current_password.data, form.password.data, current_actor()
        )
    except DomainError as error:
        attach_error(form, error)
        return render("accounts/change_password.html", form=form, status=INVALID)
    ratelimits.give_back()  # only rejected attempts count
    # Every session ended with the old token; this one continues under the new one.
    _start_session(current_user._get_current_object())
    flash(_("Your password has been changed. Other sessions have been logged out."), "success")
    return redirect(url_for("home.dashboard"))


@bp.route("/forgot", methods=["GET", "POST"])
@public
# Each request sends an e-mail: limited per IP and per address, whether or not it has an
# account (the limit tells nothing either); a form with errors gives its unit back.
@limiter.limit(_forgot_limit, key_func=_ip_key, methods=["POST"], scope="forgot-ip")
@limiter.limit(_forgot_limit, key_func=_account_key, methods=["POST"], scope="forgot-account")
def forgot_password() -> ResponseReturnValue:
    form = forms.ForgotPasswordForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"][:254]
    if not form.validate_on_submit():
        ratelimits.give_back()
        return render(
            "accounts/forgot_password.html",
            form=form,
            status=INVALID if form.is_submitted() else 200,
        )
    services.request_password_reset(form.email.data, current_actor(), _locale())
    # The same answer whether or not the address has an account.
    flash(
        _(
            "If an account exists for %(email)s, we have sent it a link to set a new password."
            " The link works once, within one hour.",
            email=services.normalise_email(form.email.data),
        ),
        "info",
    )
    return redirect(url_for("accounts.login"))


def _link_invalid(again_url: str, again_text: str) -> ResponseReturnValue:
    return render(
        "accounts/link_invalid.html", again_url=again_url, again_text=again_text, status=404
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
@limit_password_forms
def reset_password(token: str) -> ResponseReturnValue:
    try:
        reset = services.find_reset(token)
    except NotFound:
        return _link_invalid(url_for("accounts.forgot_password"), _("Ask for a new link"))
    form = forms.SetPasswordForm()
    if not form.validate_on_submit():
        return render(
            "accounts/reset_password.html",
            form=form,
            user=reset.user,
            status=INVALID if form.is_submitted() else 200,
        )
    try:
        user = services.reset_password(token, form.password.data, current_actor())
    except NotFound:
        return _link_invalid(url_for("accounts.forgot_password"), _("Ask for a new link"))
    except DomainError as error:
        attach_error(form, error)
        return render("accounts/reset_password.html", form=form, user=reset.user, status=INVALID)
    # Every session ended with the old token; the one who followed the link is signed in.
    _start_session(user)
    flash(
        _("Your new password is set and you are logged in. Other sessions have been logged out."),
        "success",
    )
    return redirect(url_for("home.dashboard"))


@bp.route("/confirm/<token>", methods=["GET", "POST"])
@public
def confirm_email(token: str) -> ResponseReturnValue:
    """The link in a confirmation e-mail: a page with one button (a mail scanner fetching
    the link confirms nothing), whose POST confirms."""
    again = (
        url_for("home.dashboard") if current_user.is_authenticated else url_for("accounts.login")
    )
    again_text = _("Log in and send a new link from the notice at the top of the page")
    try:
        found = confirmation.find(token)
    except NotFound:
        return _link_invalid(again, again_text)
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        return render("accounts/confirm_email.html", form=form, email=found.email)
    try:
        user = confirmation.confirm(token, current_actor())
    except NotFound:
        return _link_invalid(again, again_text)
    flash(_("Thank you: %(email)s is confirmed.", email=user.email), "success")
    if current_user.is_authenticated:
        return redirect(url_for("home.dashboard"))
    return redirect(url_for("accounts.login"))


@bp.post("/account/confirm-email")
@requires()
@limit_mail_again
def send_confirmation() -> ResponseReturnValue:
    if forms.ConfirmForm().validate_on_submit():
        try:
            confirmation.send(current_user, _locale(), current_actor())
        except DomainError as error:
            flash(str(error.message), "info")
        else:
            flash(_("We sent a new link to %(email)s.", email=current_user.email), "success")
    target = request.form.get("next", "")
    return redirect(target if is_safe_next(target) else url_for("home.dashboard"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
@limit_password_forms
def accept_invitation(token: str) -> ResponseReturnValue:
    invitation = services.find_invitation(token)
    form = forms.AcceptInvitationForm()
    if request.method == "GET" and invitation.email:
        form.email.data = invitation.email
    if not form.validate_on_submit():
        return render(
            "accounts/accept_invitation.html",
            form=form,
            invitation=invitation,
            status=INVALID if form.is_submitted() else 200,
        )
    try:
        user = services.accept_invitation(
            token,
            form.owner_name.data,
            form.email.data,
            form.password.data,
            current_actor(),
            locale=_locale(),
        )
    except DomainError as error:
        attach_error(form, error)
        return render(
            "accounts/accept_invitation.html", form=form, invitation=invitation, status=INVALID
        )
    _start_session(user)
    flash(_("Welcome to %(org)s.", org=invitation.org.name), "success")
    return redirect(url_for("home.dashboard"))


# The organisation: profile and members


def _org() -> Organisation:
    return current_user.org


@org_bp.get("")
@requires()
def members() -> ResponseReturnValue:
    org = _org()
    return render(
        "org/members.html",
        org=org,
        invitations=services.pending_invitations(org) if current_user.is_owner else [],
        invite_form=forms.InvitationForm(),
        role_form=forms.RoleForm(),
        confirm_form=forms.ConfirmForm(),
        recent=audit.entries_for_org(org.id, limit=15) if current_user.is_owner else [],
    )


@org_bp.route("/api-tokens", methods=["GET", "POST"])
@requires()
def api_tokens_page() -> ResponseReturnValue:
    """The organisation's tokens for its own systems; a new one is shown only once."""
    org = _org()
    form = forms.ApiTokenForm()
    form.scopes.choices = _scope_choices(org)
    shown: str | None = None
    status = 200
    if form.is_submitted():
        if not current_user.is_owner:
            abort(403)
        if form.validate():
            expires = form.expires_on.data
            try:
                _token, shown = api_tokens.create(
                    org,
                    form.name.data or "",
                    form.scopes.data or [],
                    datetime.combine(expires, time(23, 59), LOCAL_ZONE) if expires else None,
                    current_actor(),
                )
            except DomainError as error:
                attach_error(form, error)
                status = INVALID
            else:
                form = forms.ApiTokenForm(formdata=None)
                form.scopes.choices = _scope_choices(org)
        else:
            status = INVALID
    response = render(
        "org/api_tokens.html",
        org=org,
        form=form,
        scope_labels={s.value: s.label for s in ApiScope},
        tokens=api_tokens.tokens_of(org),
        shown=shown,
        now=utcnow(),
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"  # the new token must not linger in caches
    return response


def _scope_choices(org: Organisation) -> list[tuple[str, Markup]]:
    """Each scope by what it allows, in the reader's language, then its code (which the API
    reference and the token's owner's scripts use)."""
    return [
        (s.value, Markup('{} <code translate="no">{}</code>').format(s.label, s.value))
        for s in _api_scopes(org)
    ]


def _api_scopes(org: Organisation) -> list[ApiScope]:
    """The scopes that mean something for this kind of organisation."""
    useful = {
        OrgKind.ENTERPRISE: {
            "catalog:read",
            "orders:read",
            "orders:write",
            "contracts:read",
            "invoices:read",
            "vouchers:read",
        },
        OrgKind.PROVIDER: {
            "catalog:read",
            "orders:read",
            "orders:write",
            "contracts:read",
            "measurements:write",
            "invoices:read",
        },
    }.get(org.kind, {"catalog:read", "contracts:read"})
    return [s for s in ApiScope if s.value in useful]


@org_bp.post("/api-tokens/<id:token_id>/revoke")
@requires(owner=True)
def revoke_api_token(token_id: int) -> ResponseReturnValue:
    token = api_tokens.token_of(_org(), token_id)
    try:
        api_tokens.revoke(token, current_actor())
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Token revoked: systems using it are refused from now on."), "success")
    return redirect(url_for("org.api_tokens_page"))


@org_bp.post("/invitations")
@requires(owner=True)
def invite() -> ResponseReturnValue:
    form = forms.InvitationForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
        return redirect(url_for("org.members"))
    try:
        invitation, _token = services.create_invitation(
            _org(),
            MemberRole(form.role.data),
            form.note.data or "",
            current_actor(),
            current_app.config["INVITATION_TTL"],
            email=form.email.data,
            locale=_locale(),
        )
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(_("An invitation was sent to %(email)s.", email=invitation.email), "success")
    return redirect(url_for("org.members"))


@org_bp.post("/invitations/<id:invitation_id>/resend")
@requires(owner=True)
@limit_mail_again
def resend_invitation(invitation_id: int) -> ResponseReturnValue:
    invitation = services.org_invitation(_org(), invitation_id)
    if forms.ConfirmForm().validate_on_submit():
        try:
            services.resend_invitation(
                invitation, current_actor(), current_app.config["INVITATION_TTL"], _locale()
            )
        except DomainError as error:
            flash(str(error.message), "error")
        else:
            flash(
                _("The invitation was sent again to %(email)s.", email=invitation.email),
                "success",
            )
    return redirect(url_for("org.members"))


@org_bp.post("/invitations/<id:invitation_id>/revoke")
@requires(owner=True)
def revoke_invitation(invitation_id: int) -> ResponseReturnValue:
    invitation = services.org_invitation(_org(), invitation_id)
    if forms.ConfirmForm().validate_on_submit():
        services.revoke_invitation(invitation, current_actor())
        flash(_("The invitation has been revoked."), "info")
    return redirect(url_for("org.members"))


@org_bp.post("/members/<id:user_id>/remove")
@requires(owner=True)
def remove_member(user_id: int) -> ResponseReturnValue:
    member = services.org_member(_org(), user_id)
    if forms.ConfirmForm().validate_on_submit():
        try:
            services.remove_member(member, current_actor())
            flash(_("%(name)s has been removed.", name=member.name), "info")
        except DomainError as error:
            flash(str(error.message), "error")
    return redirect(url_for("org.members"))


@org_bp.post("/members/<id:user_id>/role")
@requires(owner=True)
def change_role(user_id: int) -> ResponseReturnValue:
    member = services.org_member(_org(), user_id)
    form = forms.RoleForm()
    if not form.validate_on_submit():
        flash(_("Choose a role from the list."), "error")
        return redirect(url_for("org.members"))
    try:
        services.change_role(member, MemberRole(form.role.data), current_actor())
        flash(
            _("The role of %(name)s is now: %(role)s.", name=member.name, role=member.role.label),
            "success",
        )
    except DomainError as error:
        flash(str(error.message), "error")
    return redirect(url_for("org.members"))


@org_bp.route("/profile", methods=["GET", "POST"])
@requires(OrgKind.ENTERPRISE, OrgKind.PROVIDER, owner=True)
def edit_profile() -> ResponseReturnValue:
    org = _org()
    form: forms.EnterpriseProfileForm | forms.ProviderProfileForm
    if org.kind is OrgKind.ENTERPRISE:
        form = forms.EnterpriseProfileForm(obj=org)
        if request.method == "GET":
            form.annual_revenue.data = org.annual_revenue_fen
    else:
        form = forms.ProviderProfileForm(obj=org)
        if request.method == "GET":
            form.provider_type.data = org.provider_type.value if org.provider_type else None
            form.industry_codes.data = [i.code for i in org.industries_served]
            form.region_codes.data = [r.code for r in org.regions_served]
    _fill_reference_choices(form)
    if not form.validate_on_submit():
        return _profile_page(org, form, INVALID if form.is_submitted() else 200)
    try:
        if isinstance(form, forms.EnterpriseProfileForm):
            waiting = services.update_enterprise_profile(
                org, _enterprise_profile(form, org.credit_code or ""), current_actor()
            )
        else:
            waiting = []
            services.update_provider_profile(
                org, _provider_profile(form, org.credit_code or ""), current_actor()
            )
    except DomainError as error:
        attach_error(form, error)
        return _profile_page(org, form, INVALID)
    flash(_("The profile has been saved."), "success")
    if waiting:
        flash(
            _(
                "Changes of industry, region, employees or revenue count once an official"
                " verifies them; until then voucher programmes see the verified values."
            ),
            "info",
        )
        return redirect(url_for("org.edit_profile"))
    return redirect(url_for("home.dashboard"))


def _profile_page(
    org: Organisation,
    form: forms.EnterpriseProfileForm | forms.ProviderProfileForm,
    status: int,
) -> ResponseReturnValue:
    changes = profile_changes.history_of(org) if org.is_enterprise else []
    locale = str(get_locale())
    return render(
        "org/profile.html",
        form=form,
        org=org,
        pending=[c for c in changes if c.status.value == "pending"],
        changes=changes,
        covered=bool(profile_changes.covering_agencies(org.region_code)),
        value_names=profile_changes.value_names(locale),
        status=status,
    )
