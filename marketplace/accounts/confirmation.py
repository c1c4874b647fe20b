"""Confirming a new registration's e-mail address.

A self-registered owner (or an invitee who joined with another address than the one
invited) can use the account at once, but places orders and applies for vouchers only once
the address is confirmed (``requires(confirmed=True)`` on those views): a link valid for
``EMAIL_CONFIRMATION_TTL``, used once, e-mailed at registration and again on request. A
password link followed from an e-mail confirms the address too.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from marketplace import audit
from marketplace.accounts import emails
from marketplace.accounts.models import EmailConfirmation, User
from marketplace.accounts.tokens import hash_token, new_token
from marketplace.db import db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.security import Actor

INVALID = _l("This link is invalid, has been used or has expired.")


def send(user: User, locale: str, actor: Actor) -> None:
    """E-mail a confirmation link; links sent before stop working."""
    if user.email_confirmed_at is not None:
        raise DomainError(_l("Your e-mail address is confirmed already."))
    ttl = current_app.config["EMAIL_CONFIRMATION_TTL"]
    now = utcnow()
    db.session.execute(
        update(EmailConfirmation)
        .where(EmailConfirmation.user_id == user.id, EmailConfirmation.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token, digest = new_token()
    db.session.add(
        EmailConfirmation(user=user, email=user.email, token_hash=digest, expires_at=now + ttl)
    )
    emails.confirmation_link(user, token, ttl, locale)
    audit.record(actor, "email.confirmation_sent", "user", user.id, email=user.email)


def find(token: str) -> EmailConfirmation:
    found = db.session.scalar(
        select(EmailConfirmation).where(EmailConfirmation.token_hash == hash_token(token))
    )
    if (
        found is None
        or found.used_at is not None
        or found.expires_at <= utcnow()
        or found.email != found.user.email
    ):
        raise NotFound(INVALID)
    return found


def confirm(token: str, actor: Actor) -> User:
    """Mark the address confirmed; the link works once, even when two requests race."""
    found = find(token)
    now = utcnow()
    claimed = db.session.execute(
        update(EmailConfirmation)
        .where(
            EmailConfirmation.id == found.id,
            EmailConfirmation.used_at.is_(None),
            EmailConfirmation.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(INVALID)
    user = found.user
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
    who = Actor(user_id=user.id, org_id=user.org_id, ip=actor.ip)
    audit.record(who, "email.confirmed", "user", user.id, email=user.email)
    return user
