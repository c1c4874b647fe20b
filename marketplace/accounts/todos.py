"""What waits in accounts: profile changes an official (or the platform, where no agency's
jurisdiction reaches) verifies; and the reminders before a data grant ends (to the enterprise
that granted it and to the grantee) and before an API token expires (to its organisation)."""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, select

from marketplace import notifications, todos
from marketplace.accounts import profile_changes
from marketplace.accounts.models import ApiToken, DataGrant, Organisation
from marketplace.db import LOCAL_ZONE, db, local_today, utcnow
from marketplace.todos import Todo

GRANT_EXPIRING = "data_grant_expiring"
GRANT_ENDING = "data_grant_ending"
TOKEN_EXPIRING = "api_token_expiring"
notifications.register_kinds(
    {
        GRANT_EXPIRING: _l(
            "Your data grant to %(grantee)s ends on %(by)s: grant it again before then if they"
            " should keep seeing your data."
        ),
        GRANT_ENDING: _l(
            "%(enterprise)s's data grant to you ends on %(by)s: ask them to renew it if you"
            " still need the data."
        ),
        TOKEN_EXPIRING: _l(
            "API token %(name)s (%(prefix)s…) expires on %(by)s: create a new one and switch"
            " your integration to it before then."
        ),
    },
    deadline=[GRANT_EXPIRING, GRANT_ENDING, TOKEN_EXPIRING],
    group="organisation",
)


def for_reviewer(reviewer: Organisation) -> list[Todo]:
    """Profile changes this agency (or the platform) decides, oldest first."""
    return [
        Todo(
            "profile_change",
            _l("Verify the profile change"),
            f"{change.org.name} · {change.field_label}",
            profile_changes.QUEUE_LINK,
            change.requested_at,
        )
        for change in profile_changes.queue(reviewer)
    ]


# --- data grants ending ---------------------------------------------------------------------


def _grants_ending(within_days: int, today: date) -> list[ColumnElement[bool]]:
    return [
        DataGrant.revoked_at.is_(None),
        DataGrant.ends_on >= today,
        DataGrant.ends_on <= today + timedelta(days=within_days),
    ]


def due_for_grant_reminder(within_days: int, today: date | None = None) -> list[int]:
    today = today or local_today()
    stmt = select(DataGrant.id).where(
        *_grants_ending(within_days, today),
        todos.not_reminded(GRANT_EXPIRING, DataGrant.id, DataGrant.ends_on),
    )
    return list(db.session.scalars(stmt.order_by(DataGrant.id)))


def remind_grant(grant_id: int, within_days: int, today: date | None = None) -> bool:
    """Tell both sides, each once per end date."""
    today = today or local_today()
    grant = db.session.get(DataGrant, grant_id)
    if grant is None or grant.revoked_at is not None:
        return False
    if not today <= grant.ends_on <= today + timedelta(days=within_days):
        return False
    told = todos.remind_once(
        GRANT_EXPIRING,
        grant.id,
        grant.enterprise_id,
        grant.ends_on,
        "/data-grants",
        grantee=grant.grantee.name,
    )
    told_grantee = todos.remind_once(
        GRANT_ENDING,
        grant.id,
        grant.grantee_id,
        grant.ends_on,
        "/shared-data",
        enterprise=grant.enterprise.name,
    )
    return told or told_grantee


# --- API tokens expiring --------------------------------------------------------------------


def due_for_token_reminder(within_days: int) -> list[int]:
    now = utcnow()
    stmt = select(ApiToken.id).where(
        ApiToken.revoked_at.is_(None),
        ApiToken.expires_at.is_not(None),
        ApiToken.expires_at > now,
        ApiToken.expires_at <= now + timedelta(days=within_days),
        todos.not_reminded(TOKEN_EXPIRING, ApiToken.id),
    )
    return list(db.session.scalars(stmt.order_by(ApiToken.id)))


def remind_token(token_id: int, within_days: int) -> bool:
    now = utcnow()
    token = db.session.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None or token.expires_at is None:
        return False
    if not now < token.expires_at <= now + timedelta(days=within_days):
        return False
    return todos.remind_once(
        TOKEN_EXPIRING,
        token.id,
        token.org_id,
        token.expires_at.astimezone(LOCAL_ZONE).date(),
        "/org/api-tokens",
        name=token.name,
        prefix=token.prefix,
    )
