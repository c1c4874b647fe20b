"""The accounts' e-mails: a link to set a password (forgot password, a new account made by a
platform admin, an admin's reset), a link to confirm a new registration's address, and an
invitation to join an organisation.

Each is rendered in the language it is given (the language of the request that caused it),
as text and HTML from one pair of templates (``mail/link.txt``, ``mail/link.html``), and
written to the outbox in the caller's transaction (``marketplace.mail.queue``): it is sent
once the event commits, or never. Links are absolute, on ``PUBLIC_URL``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _

from marketplace import mail
from marketplace.accounts.models import Invitation, User


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an e-mail: works in a request, a job or a CLI command alike."""
    path = current_app.url_map.bind("").build(endpoint, values)
    return str(current_app.config["PUBLIC_URL"]) + path


def _duration(ttl: timedelta) -> str:
    hours = int(ttl.total_seconds() // 3600)
    if hours >= 48 and hours % 24 == 0:
        return ngettext("%(num)d day", "%(num)d days", hours // 24)
    return ngettext("%(num)d hour", "%(num)d hours", max(hours, 1))


def _queue(
    kind: str,
    to: str,
    *,
    user_id: int | None,
    subject: str,
    greeting: str,
    lines: list[str],
    button: str,
    link: str,
    note: str,
) -> None:
    platform = _("Transformation Package Marketplace")
    context = {
        "platform": platform,
        "greeting": greeting,
        "lines": lines,
        "button": button,
        "link": link,
        "note": note,
        "subject": subject,
    }
    env = current_app.jinja_env  # no request needed: CLI commands send these too
    text = env.get_template("mail/link.txt").render(context)
    html = env.get_template("mail/link.html").render(context)
    mail.queue(to, f"{subject} · {platform}", text, html, kind=kind, user_id=user_id)


def password_link(user: User, token: str, ttl: timedelta, locale: str, *, new: bool) -> None:
    """A one-time link to set a password: ``new`` for an account a platform admin made."""
    with force_locale(locale):
        link = public_url("accounts.reset_password", token=token)
        if new:
            subject = _("Your account: set a password")
            lines = [
                _(
                    "An account has been made for you at %(platform)s, for %(org)s. Your login"
                    " is %(email)s.",
                    platform=_("Transformation Package Marketplace"),
                    org=user.org.name,
                    email=user.email,
                ),
                _("Choose your password with this link:"),
            ]
            note = _(
                "The link works once, within %(duration)s. When it has expired, use"
                " \u201cForgot your password?\u201d on the login page.",
                duration=_duration(ttl),
            )
        else:
            subject = _("Set a new password")
            lines = [
                _(
                    "A new password was asked for your account %(email)s. Choose it with this"
                    " link:",
                    email=user.email,
                )
            ]
            note = _(
                "The link works once, within %(duration)s. If you did not ask for it, ignore"
                " this e-mail: your password stays as it is.",
                duration=_duration(ttl),
            )
        _queue(
            "account_created" if new else "password_reset",
            user.email,
            user_id=user.id,
            subject=subject,
            greeting=_("Hello %(name)s,", name=user.name),
            lines=lines,
            button=_("Set a password"),
            link=link,
            note=note,
        )


def confirmation_link(user: User, token: str, ttl: timedelta, locale: str) -> None:
    with force_locale(locale):
        _queue(
            "email_confirmation",
            user.email,
            user_id=user.id,
            subject=_("Confirm your e-mail address"),
            greeting=_("Hello %(name)s,", name=user.name),
            lines=[
                _(
                    "Please confirm that %(email)s is your address, so that you can place"
                    " orders and apply for vouchers:",
                    email=user.email,
                )
            ],
            button=_("Confirm my address"),
            link=public_url("accounts.confirm_email", token=token),
            note=_(
                "The link works once, within %(duration)s. If you did not register, ignore"
                " this e-mail.",
                duration=_duration(ttl),
            ),
        )


def invitation_link(invitation: Invitation, token: str, ttl: timedelta, locale: str) -> None:
    assert invitation.email is not None
    with force_locale(locale):
        inviter = invitation.created_by
        _queue(
            "invitation",
            invitation.email,
            user_id=None,
            subject=_("Invitation to join %(org)s", org=invitation.org.name),
            greeting=_("Hello,"),
            lines=[
                _(
                    "%(name)s invites you to join %(org)s on %(platform)s as: %(role)s.",
                    name=inviter.name,
                    org=invitation.org.name,
                    platform=_("Transformation Package Marketplace"),
                    role=invitation.role.label,
                ),
                _("Make your account with this link:"),
            ],
            button=_("Join %(org)s", org=invitation.org.name),
            link=public_url("accounts.accept_invitation", token=token),
            note=_(
                "The link works once, within %(duration)s. If you did not expect it, ignore"
                " this e-mail.",
                duration=_duration(ttl),
            ),
        )
