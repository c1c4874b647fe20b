"""Notifications by e-mail: which member gets which kind, in which language, and the daily
digest (issue 18).

``notify`` (core) stores the in-app notification and hands it to ``mail_members`` (registered
in ``marketplace.accounts``), which queues one message per active member of the organisation
who wants this kind by e-mail, in the same transaction: the event and its e-mails commit or
roll back together, and the job queue sends them. Every kind goes by e-mail unless the member
turned it off (``MailPreference``); a kind with a deadline (``DEADLINE_KINDS``) always goes,
at once. A member who chose the daily digest gets the other kinds as one e-mail a day
(``send_digest``, the ``mail_digest`` job), once per day whatever runs the job twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from marketplace import audit, mail, notifications
from marketplace.accounts.models import MailDigest, MailPreference, User
from marketplace.db import add_unique, atomic, db, local_today, utcnow
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.security import Actor

PREFERENCES_LINK = "/account/notifications"  # the page where a user chooses (accounts.views)
DIGEST_KIND = "digest"  # the outbox's kind of a daily digest
DIGEST_LIMIT = 100  # notifications listed in one digest; the rest are counted

audit.register_labels({"mail_preferences.changed": _l("E-mail preferences changed")})


def _language(user: User) -> str:
    languages = current_app.config["LANGUAGES"]
    return user.locale if user.locale in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


# --- at once, with the event ---------------------------------------------------------------


def mail_members(notification: Notification) -> None:
    """Queue this notification's e-mail to each active member of its organisation who wants
    it now: all of them for a kind with a deadline; else those who did not turn the kind off
    and take no daily digest. Rendered once per language."""
    kind = notification.kind
    members = list(
        db.session.scalars(
            select(User)
            .where(User.org_id == notification.org_id, User.active.is_(True))
            .order_by(User.id)
        )
    )
    if kind not in notifications.DEADLINE_KINDS and members:
        off = set(
            db.session.scalars(
                select(MailPreference.user_id).where(
                    MailPreference.user_id.in_([m.id for m in members]),
                    MailPreference.kind == kind,
                    MailPreference.by_email.is_(False),
                )
            )
        )
        members = [m for m in members if m.id not in off and m.digest_from is None]
    rendered: dict[str, tuple[str, str, str]] = {}
    for user in members:
        language = _language(user)
        if language not in rendered:
            rendered[language] = _render_one(notification, language)
        subject, text, html = rendered[language]
        mail.queue(user.email, subject, text, html, kind=kind, user_id=user.id)


def _render_one(notification: Notification, language: str) -> tuple[str, str, str]:
    with force_locale(language):
        message = notifications.text(notification)
    platform, text, html = mail.render(
        "notification",
        language,
        message=message,
        link=mail.absolute(notification.link),
        deadline=notification.kind in notifications.DEADLINE_KINDS,
        preferences=mail.absolute(PREFERENCES_LINK),
    )
    return _subject(message, platform), text, html


def _subject(message: str, platform: str) -> str:
    if len(message) > 150:
        message = message[:149].rstrip() + "…"
    return f"{message} [{platform}]"


# --- preferences ---------------------------------------------------------------------------


def mail_preferences(user: User) -> dict[str, bool]:
    """Each kind → whether it reaches the user by e-mail (a deadline kind always does)."""
    rows = db.session.execute(
        select(MailPreference.kind, MailPreference.by_email).where(
            MailPreference.user_id == user.id
        )
    )
    stored = {kind: by_email for kind, by_email in rows}
    return {
        kind: kind in notifications.DEADLINE_KINDS or stored.get(kind, True)
        for kind in notifications.TEXTS
    }


@atomic
def save_mail_preferences(user: User, wanted: Iterable[str], digest: bool, actor: Actor) -> None:
    """Keep the kinds ``wanted`` by e-mail and turn the others off; a kind with a deadline
    cannot be turned off. ``digest``: the other kinds come as one e-mail a day."""
    chosen = set(wanted)
    known = set(notifications.TEXTS)
    if chosen - known:
        raise DomainError(_l("Choose among the kinds listed."), field="kinds")
    dropped = sorted(notifications.DEADLINE_KINDS & known - chosen)
    if dropped:
        raise DomainError(
            _l(
                "“%(kind)s” carries a deadline: it always comes by e-mail.",
                kind=notifications.label(dropped[0]),
            ),
            field="kinds",
        )
    db.session.execute(delete(MailPreference).where(MailPreference.user_id == user.id))
    optional = sorted(known - notifications.DEADLINE_KINDS)
    db.session.add_all(
        MailPreference(user_id=user.id, kind=kind, by_email=kind in chosen) for kind in optional
    )
    if digest and user.digest_from is None:
        user.digest_from = utcnow()
    elif not digest:
        user.digest_from = None
    audit.record(
        actor,
        "mail_preferences.changed",
        "user",
        user.id,
        off=[kind for kind in optional if kind not in chosen],
        digest=digest,
    )


def remember_language(user: User, language: str) -> None:
    """The language a signed-in user switched to is the one of their e-mails."""
    if language in current_app.config["LANGUAGES"] and user.locale != language:
        user.locale = language


# --- the daily digest ----------------------------------------------------------------------


def due_digests() -> list[int]:
    """Users taking a daily digest who have had none today (the job's items)."""
    sent_today = select(MailDigest.user_id).where(MailDigest.day == local_today())
    stmt = select(User.id).where(
        User.active.is_(True), User.digest_from.is_not(None), User.id.not_in(sent_today)
    )
    return list(db.session.scalars(stmt.order_by(User.id)))


def send_digest(user_id: int) -> int:
    """Queue today's digest of one user: the notifications of their organisation since the
    last digest (or since they chose it), but those with a deadline (sent at once) and those
    they turned off. Once per user and day (UNIQUE marker); how many it lists, 0 if none."""
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.digest_from is None:
        return 0
    last = db.session.scalar(
        select(func.max(MailDigest.until)).where(MailDigest.user_id == user.id)
    )
    since = max(last, user.digest_from) if last is not None else user.digest_from
    until = utcnow()
    off = {kind for kind, wanted in mail_preferences(user).items() if not wanted}
    skipped = off | notifications.DEADLINE_KINDS
    stmt = select(Notification).where(
        Notification.org_id == user.org_id,
        Notification.created_at > since,
        Notification.created_at <= until,
    )
    if skipped:
        stmt = stmt.where(Notification.kind.not_in(skipped))
    rows = list(db.session.scalars(stmt.order_by(Notification.created_at, Notification.id)))
    if not rows:
        return 0
    if not add_unique(MailDigest(user_id=user.id, day=local_today(), until=until, count=len(rows))):
        return 0  # today's digest is already on its way
    subject, text, html = _render_digest(user, rows, since)
    mail.queue(user.email, subject, text, html, kind=DIGEST_KIND, user_id=user.id)
    return len(rows)


def _render_digest(user: User, rows: list[Notification], since: datetime) -> tuple[str, str, str]:
    language = _language(user)
    with force_locale(language):
        items = [(n, notifications.text(n), mail.absolute(n.link)) for n in rows[:DIGEST_LIMIT]]
        platform, text, html = mail.render(
            "digest",
            language,
            name=user.name,
            items=items,
            more=max(len(rows) - DIGEST_LIMIT, 0),
            since=since,
            inbox=mail.absolute("/notifications"),
            preferences=mail.absolute(PREFERENCES_LINK),
        )
        subject = ngettext(
            "Your daily digest: %(num)d notification",
            "Your daily digest: %(num)d notifications",
            len(rows),
        )
    return f"{subject} [{platform}]", text, html
