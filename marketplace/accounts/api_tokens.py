"""API tokens for an organisation's own systems: 256 random bits, shown once, stored as a
SHA-256 hash (a fast hash is enough for a secret this long), scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from marketplace import audit
from marketplace.accounts.models import ApiScope, ApiToken, Organisation, User
from marketplace.db import db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.security import Actor

PREFIX = "zxb_"
MAX_TOKENS = 20  # live tokens per organisation
TOUCH_EVERY = timedelta(minutes=1)  # last use is written at most this often


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    org: Organisation,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None,
    actor: Actor,
) -> tuple[ApiToken, str]:
    """Make a token; the plain token is returned once and never stored."""
    if actor.org_id != org.id:
        raise NotFound(_l("Not found."))
    name = name.strip()
    if not name:
        raise DomainError(_l("Name the token after the system that uses it."), field="name")
    chosen = sorted(set(scopes))
    if not chosen:
        raise DomainError(_l("Choose at least one scope."), field="scopes")
    unknown = [s for s in chosen if s not in ApiScope._value2member_map_]
    if unknown:
        raise DomainError(
            _l("Unknown scopes: %(scopes)s.", scopes=", ".join(unknown)), field="scopes"
        )
    if expires_at is not None and expires_at <= utcnow():
        raise DomainError(_l("The expiry must be in the future."), field="expires_on")
    if len(live(org)) >= MAX_TOKENS:
        raise DomainError(_l("Revoke an unused token first (20 at most)."))
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        org_id=org.id,
        name=name,
        token_hash=digest(plain),
        prefix=plain[: len(PREFIX) + 4],
        scopes=chosen,
        created_by_id=actor.user_id,
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        actor,
        "api_token.created",
        "api_token",
        token.id,
        name=name,
        scopes=chosen,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return token, plain


def revoke(token: ApiToken, actor: Actor) -> None:
    if actor.org_id != token.org_id:
        raise NotFound(_l("Not found."))
    if token.revoked_at is not None:
        raise DomainError(_l("This token is already revoked."))
    token.revoked_at = utcnow()
    audit.record(actor, "api_token.revoked", "api_token", token.id, name=token.name)


def token_of(org: Organisation, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.org_id != org.id:
        raise NotFound(_l("Not found."))
    return token


def tokens_of(org: Organisation) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.org_id == org.id).order_by(ApiToken.id.desc())
    return list(db.session.scalars(stmt))


def live(org: Organisation) -> list[ApiToken]:
    now = utcnow()
    return [t for t in tokens_of(org) if t.usable_at(now)]


def authenticate(plain: str) -> ApiToken | None:
    """The usable token this string is, or None; notes its use (at most once a minute)."""
    if not plain.startswith(PREFIX) or len(plain) > 100:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(plain)))
    now = utcnow()
    if token is None or not token.usable_at(now):
        return None
    if token.created_by_id is not None:
        # A token acts in its maker's name: it stops when the maker leaves or is disabled.
        maker = db.session.get(User, token.created_by_id)
        if maker is None or not maker.active or maker.org_id != token.org_id:
            return None
    last = token.last_used_at
    if last is None or last < now - TOUCH_EVERY:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    return token
