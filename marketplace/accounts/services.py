"""Accounts: registering organisations, signing in, members, invitations and password resets.

Services take plain values and models, flush when they need ids, never commit and never
read the request; the ``Actor`` tells the audit trail who acted and from where. Links that
let someone in (set a password, join an organisation, confirm an address) go by e-mail
(``emails``) in the language given as ``locale``; the screen never shows them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from marketplace import audit
from marketplace.accounts import confirmation, credit_code, emails, passwords, profile_changes
from marketplace.accounts.models import (
    Industry,
    Invitation,
    MemberRole,
    Organisation,
    OrgKind,
    PasswordReset,
    ProviderType,
    Region,
    User,
)
from marketplace.accounts.tokens import hash_token, new_token
from marketplace.db import atomic, contains_pattern, db, utcnow
from marketplace.errors import DomainError, NotFound, get_owned
from marketplace.security import Actor


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_policy(password: str) -> None:
    if len(password) < passwords.MIN_LENGTH:
        raise DomainError(
            _l("Use at least %(n)d characters.", n=passwords.MIN_LENGTH), field="password"
        )
    if len(password) > passwords.MAX_LENGTH:
        raise DomainError(
            _l("Use at most %(n)d characters.", n=passwords.MAX_LENGTH), field="password"
        )


def email_taken(email: str) -> bool:
    stmt = select(User.id).where(User.email == normalise_email(email))
    return db.session.scalar(stmt) is not None


def credit_code_taken(code: str, except_org_id: int | None = None) -> bool:
    stmt = select(Organisation.id).where(Organisation.credit_code == code)
    if except_org_id is not None:
        stmt = stmt.where(Organisation.id != except_org_id)
    return db.session.scalar(stmt) is not None


def _validate_credit_code(code: str | None, except_org_id: int | None = None) -> str | None:
    if code is None or code == "":
        return None
    code = credit_code.normalise(code)
    if not credit_code.is_valid(code):
        raise DomainError(
            _l("This is not a valid unified social credit code."), field="credit_code"
        )
    if credit_code_taken(code, except_org_id):
        raise DomainError(
            _l("An organisation with this credit code is already registered."),
            field="credit_code",
        )
    return code


def _flush_unique() -> None:
    """Flush; a unique key that a concurrent request took first becomes a clear error."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        text = str(exc.orig).lower()
        if "uq_organisations_credit_code" in text or "organisations.credit_code" in text:
            raise DomainError(
                _l("An organisation with this credit code is already registered."),
                field="credit_code",
            ) from exc
        if "uq_users_email" in text or "users.email" in text:
            raise DomainError(
                _l("An account with this e-mail address already exists."), field="email"
            ) from exc
        raise


def _new_user(
    org: Organisation, email: str, name: str, password: str | None, role: MemberRole
) -> User:
    email = normalise_email(email)
    if email_taken(email):
        raise DomainError(_l("An account with this e-mail address already exists."), field="email")
    if password is not None:
        check_password_policy(password)
    user = User(
        org=org,
        email=email,
        name=name.strip(),
        password_hash=passwords.hash_password(password) if password is not None else None,
        role=role,
        session_token=secrets.token_hex(16),
    )
    db.session.add(user)
    return user


@dataclass(frozen=True)
class RegisteredDetails:
    legal_representative: str = ""
    address: str = ""
    bank_name: str = ""
    bank_account: str = ""


@dataclass(frozen=True)
class EnterpriseProfile:
    name: str
    credit_code: str
    industry_code: str
    region_code: str
    employees: int
    annual_revenue_fen: int
    contact_phone: str = ""
    registered: RegisteredDetails = RegisteredDetails()


@dataclass(frozen=True)
class ProviderProfile:
    name: str
    credit_code: str
    provider_type: ProviderType
    industry_codes: list[str]
    region_codes: list[str]
    contact_name: str
    contact_phone: str
    contact_email: str
    description: str = ""
    registered: RegisteredDetails = RegisteredDetails()


@dataclass(frozen=True)
class AdvisorProfile:
    """An independent advisor's firm or studio (数字化顾问): registered like a provider, with
    a unified social credit code, but it lists no packages."""

    name: str
    credit_code: str
    contact_name: str
    contact_phone: str
    contact_email: str
    description: str  # expertise, shown to the enterprises that choose an advisor


@dataclass(frozen=True)
class NewOwner:
    name: str
    email: str
    password: str


def _industries(codes: list[str]) -> list[Industry]:
    found = list(db.session.scalars(select(Industry).where(Industry.code.in_(codes))))
    if len(found) != len(set(codes)):
        raise DomainError(_l("Choose industries from the list."), field="industry_codes")
    return found


def _regions(codes: list[str]) -> list[Region]:
    found = list(db.session.scalars(select(Region).where(Region.code.in_(codes))))
    if len(found) != len(set(codes)):
        raise DomainError(_l("Choose regions from the list."), field="region_codes")
    return found


def _apply_enterprise_profile(org: Organisation, profile: EnterpriseProfile) -> None:
    """The fields an enterprise keeps itself (its industry, region, headcount and revenue are
    verified: set at registration, changed later only through ``profile_changes``)."""
    if db.session.get(Industry, profile.industry_code) is None:
        raise DomainError(_l("Choose an industry from the list."), field="industry_code")
    if db.session.get(Region, profile.region_code) is None:
        raise DomainError(_l("Choose a region from the list."), field="region_code")
    if profile.employees < 0:
        raise DomainError(_l("The number cannot be negative."), field="employees")
    if profile.annual_revenue_fen < 0:
        raise DomainError(_l("The amount cannot be negative."), field="annual_revenue")
    org.name = profile.name.strip()
    org.contact_phone = profile.contact_phone.strip() or None
    _apply_registered(org, profile.registered)


def _apply_registered(org: Organisation, details: RegisteredDetails) -> None:
    org.legal_representative = details.legal_representative.strip() or None
    org.address = details.address.strip() or None
    org.bank_name = details.bank_name.strip() or None
    org.bank_account = "".join(details.bank_account.split()) or None


def _apply_provider_profile(org: Organisation, profile: ProviderProfile) -> None:
    if not profile.industry_codes:
        raise DomainError(_l("Choose at least one industry."), field="industry_codes")
    if not profile.region_codes:
        raise DomainError(_l("Choose at least one region."), field="region_codes")
    org.name = profile.name.strip()
    org.provider_type = profile.provider_type
    org.industries_served = _industries(profile.industry_codes)
    org.regions_served = _regions(profile.region_codes)
    org.contact_name = profile.contact_name.strip()
    org.contact_phone = profile.contact_phone.strip()
    org.contact_email = normalise_email(profile.contact_email)
    org.description = profile.description.strip() or None
    _apply_registered(org, profile.registered)


@atomic
def register_enterprise(
    profile: EnterpriseProfile, owner: NewOwner, actor: Actor, *, locale: str = "zh"
) -> User:
    code = _validate_credit_code(profile.credit_code)
    org = Organisation(kind=OrgKind.ENTERPRISE, credit_code=code)
    _apply_enterprise_profile(org, profile)
    profile_changes.check_region_matches_code(code, profile.region_code)
    org.industry_code = profile.industry_code
    org.region_code = profile.region_code
    org.employees = profile.employees
    org.annual_revenue_fen = profile.annual_revenue_fen
    return _register(org, owner, actor, locale)


@atomic
def register_provider(
    profile: ProviderProfile, owner: NewOwner, actor: Actor, *, locale: str = "zh"
) -> User:
    code = _validate_credit_code(profile.credit_code)
    org = Organisation(kind=OrgKind.PROVIDER, credit_code=code)
    _apply_provider_profile(org, profile)
    return _register(org, owner, actor, locale)


@atomic
def register_advisor(
    profile: AdvisorProfile, owner: NewOwner, actor: Actor, *, locale: str = "zh"
) -> User:
    code = _validate_credit_code(profile.credit_code)
    if not profile.description.strip():
        raise DomainError(_l("Describe your expertise."), field="description")
    org = Organisation(kind=OrgKind.ADVISOR, credit_code=code)
    org.name = profile.name.strip()
    org.contact_name = profile.contact_name.strip()
    org.contact_phone = profile.contact_phone.strip()
    org.contact_email = normalise_email(profile.contact_email)
    org.description = profile.description.strip()
    return _register(org, owner, actor, locale)


def _register(org: Organisation, owner: NewOwner, actor: Actor, locale: str) -> User:
    db.session.add(org)
    user = _new_user(org, owner.email, owner.name, owner.password, MemberRole.OWNER)
    _flush_unique()
    who = Actor(user_id=user.id, org_id=org.id, ip=actor.ip)
    audit.record(who, "organisation.registered", "organisation", org.id, kind=org.kind.value)
    audit.record(who, "member.added", "user", user.id, role=user.role.value, org_id=org.id)
    confirmation.send(user, locale, who)
    return user


@atomic
def update_enterprise_profile(
    org: Organisation, profile: EnterpriseProfile, actor: Actor
) -> list[str]:
    """Save the freely editable fields; a changed industry, region, headcount or revenue
    becomes a pending change for an official to verify. Returns the fields that now wait."""
    _apply_enterprise_profile(org, profile)
    audit.record(actor, "organisation.profile_updated", "organisation", org.id)
    return profile_changes.request_changes(
        org,
        {
            "industry_code": profile.industry_code,
            "region_code": profile.region_code,
            "employees": profile.employees,
            "annual_revenue_fen": profile.annual_revenue_fen,
        },
        actor,
    )


def update_provider_profile(org: Organisation, profile: ProviderProfile, actor: Actor) -> None:
    _apply_provider_profile(org, profile)
    audit.record(actor, "organisation.profile_updated", "organisation", org.id)


@atomic
def create_organisation(
    kind: OrgKind,
    name: str,
    code: str | None,
    owner_name: str,
    owner_email: str,
    actor: Actor,
    password: str | None = None,
    region_code: str | None = None,
    locale: str = "zh",
) -> User:
    """Agency, assessor and platform accounts, made by a platform admin or the CLI.

    An agency's region is its jurisdiction; with a credit code it must lie within the code's
    registering division. Without a password the owner is e-mailed a one-time link to set
    one (which confirms the address); with one (the CLI: an operator vouches for it) the
    address counts as confirmed."""
    if kind in (OrgKind.ENTERPRISE, OrgKind.PROVIDER):
        raise DomainError(_l("Enterprises and providers register themselves."), field="kind")
    checked = _validate_credit_code(code)
    if kind is OrgKind.ADVISOR and checked is None:
        raise DomainError(
            _l("An advisor is registered with its unified social credit code."),
            field="credit_code",
        )
    if region_code:
        if db.session.get(Region, region_code) is None:
            raise DomainError(_l("Choose a region from the list."), field="region_code")
        if checked is not None:
            profile_changes.check_region_matches_code(checked, region_code)
    org = Organisation(
        kind=kind, name=name.strip(), credit_code=checked, region_code=region_code or None
    )
    db.session.add(org)
    user = _new_user(org, owner_email, owner_name, password, MemberRole.OWNER)
    _flush_unique()
    audit.record(actor, "organisation.created", "organisation", org.id, kind=kind.value)
    audit.record(actor, "member.added", "user", user.id, role=user.role.value, org_id=org.id)
    if password is not None:
        user.email_confirmed_at = utcnow()
    else:
        send_reset_link(user, actor, locale)
    return user


# Signing in and sessions


def authenticate(email: str, password: str, actor: Actor) -> User | None:
    """The user for these credentials, or None. Every attempt is audited."""
    email = normalise_email(email)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or user.password_hash is None:
        passwords.burn_time(password)
        audit.record(actor, "login.failure", "user", user.id if user else None, email=email)
        return None
    if not passwords.verify_password(user.password_hash, password) or not user.active:
        reason = "password" if user.active else "inactive"
        audit.record(actor, "login.failure", "user", user.id, email=email, reason=reason)
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = utcnow()
    who = Actor(user_id=user.id, org_id=user.org_id, ip=actor.ip)
    audit.record(who, "login.success", "user", user.id)
    return user


def end_sessions(user: User) -> None:
    """Invalidate every session of the user (the token is part of the login cookie's id)."""
    user.session_token = secrets.token_hex(16)


def load_user(alternative_id: str) -> User | None:
    user_id, _, token = alternative_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or not secrets.compare_digest(user.session_token, token):
        return None
    return user


def logout(user: User, actor: Actor) -> None:
    end_sessions(user)
    audit.record(actor, "logout", "user", user.id)


def change_password(user: User, current: str, new: str, actor: Actor) -> None:
    if user.password_hash is None or not passwords.verify_password(user.password_hash, current):
        raise DomainError(_l("The current password is not correct."), field="current_password")
    check_password_policy(new)
    user.password_hash = passwords.hash_password(new)
    end_sessions(user)
    audit.record(actor, "password.changed", "user", user.id)


# Password links: asked for by the user (forgot password) or sent by a platform admin


INVALID_LINK = _l("This link is invalid, has been used or has expired.")


def _void_resets(user: User) -> None:
    """Older unused links of the user stop working when a new one is made."""
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _issue_reset(user: User, actor: Actor, ttl: timedelta, locale: str) -> None:
    """A new one-time link (only its hash is stored), e-mailed to the user."""
    _void_resets(user)
    token, digest = new_token()
    db.session.add(
        PasswordReset(
            user=user,
            token_hash=digest,
            created_by_id=actor.user_id,
            expires_at=utcnow() + ttl,
        )
    )
    emails.password_link(user, token, ttl, locale, new=user.password_hash is None)


def send_reset_link(user: User, actor: Actor, locale: str) -> None:
    """A platform admin sends a user a link to set a password (``PASSWORD_RESET_TTL``)."""
    _issue_reset(user, actor, current_app.config["PASSWORD_RESET_TTL"], locale)
    audit.record(actor, "password.reset_link_created", "user", user.id, sent_to=user.email)


def request_password_reset(email: str, actor: Actor, locale: str) -> None:
    """Forgot password: e-mail a link valid for ``FORGOT_PASSWORD_TTL`` when an active account
    has this address, and nothing otherwise. The caller answers the same either way (the
    limits on the form are per IP and per address, whether or not it exists)."""
    email = normalise_email(email)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or not user.active:
        audit.record(
            actor,
            "password.reset_requested",
            "user",
            user.id if user else None,
            email=email,
            sent=False,
        )
        return
    _issue_reset(user, actor, current_app.config["FORGOT_PASSWORD_TTL"], locale)
    audit.record(actor, "password.reset_requested", "user", user.id, email=email, sent=True)


def find_reset(token: str) -> PasswordReset:
    reset = db.session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == hash_token(token))
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise NotFound(INVALID_LINK)
    return reset


def reset_password(token: str, new: str, actor: Actor) -> User:
    """Set the password with a link: once, even when two requests race for it. Every
    session of the user ends; the link came by e-mail, so the address is confirmed."""
    reset = find_reset(token)
    check_password_policy(new)
    now = utcnow()
    claimed = db.session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.id == reset.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(INVALID_LINK)
    db.session.refresh(reset)
    user = reset.user
    user.password_hash = passwords.hash_password(new)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
    end_sessions(user)
    audit.record(
        Actor(user_id=user.id, org_id=user.org_id, ip=actor.ip), "password.reset", "user", user.id
    )
    return user


# Members and invitations


def create_invitation(
    org: Organisation,
    role: MemberRole,
    note: str,
    actor: Actor,
    ttl: timedelta,
    *,
    email: str,
    locale: str = "zh",
) -> tuple[Invitation, str]:
    """Invite someone by e-mail: the link goes to the address, never to the inviter's
    screen. Returns the invitation and its token (for tests; the view drops it)."""
    email = normalise_email(email)
    if email_taken(email):
        raise DomainError(_l("An account with this e-mail address already exists."), field="email")
    token, digest = new_token()
    invitation = Invitation(
        org=org,
        email=email,
        token_hash=digest,
        role=role,
        note=note.strip() or None,
        created_by_id=actor.user_id,
        expires_at=utcnow() + ttl,
    )
    db.session.add(invitation)
    db.session.flush()
    emails.invitation_link(invitation, token, ttl, locale)
    audit.record(
        actor,
        "invitation.created",
        "invitation",
        invitation.id,
        role=role.value,
        org_id=org.id,
        email=email,
    )
    return invitation, token


def resend_invitation(invitation: Invitation, actor: Actor, ttl: timedelta, locale: str) -> str:
    """E-mail a pending invitation again with a new link (the old one stops working) and a
    new validity period. Returns the new token."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise DomainError(_l("This invitation has been used or revoked."))
    if invitation.email is None:
        raise DomainError(_l("This invitation has no e-mail address: revoke it and invite again."))
    token, digest = new_token()
    invitation.token_hash = digest
    invitation.expires_at = utcnow() + ttl
    emails.invitation_link(invitation, token, ttl, locale)
    audit.record(
        actor,
        "invitation.resent",
        "invitation",
        invitation.id,
        org_id=invitation.org_id,
        email=invitation.email,
    )
    return token


def pending_invitations(org: Organisation) -> list[Invitation]:
    stmt = (
        select(Invitation)
        .where(
            Invitation.org_id == org.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .order_by(Invitation.created_at.desc())
    )
    return list(db.session.scalars(stmt))


def find_invitation(token: str) -> Invitation:
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        raise NotFound(_l("This invitation is invalid, used or expired. Ask for a new one."))
    return invitation


@atomic
def accept_invitation(
    token: str, name: str, email: str, password: str, actor: Actor, *, locale: str = "zh"
) -> User:
    """Join with an invitation. Joining with the invited address confirms it (the link came
    there); another address gets a confirmation e-mail."""
    invitation = find_invitation(token)
    user = _new_user(invitation.org, email, name, password, invitation.role)
    _flush_unique()
    now = utcnow()
    # Accept exactly once, even when two requests race for the same link.
    claimed = db.session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(_l("This invitation is invalid, used or expired. Ask for a new one."))
    db.session.refresh(invitation)
    who = Actor(user_id=user.id, org_id=user.org_id, ip=actor.ip)
    audit.record(
        who,
        "member.added",
        "user",
        user.id,
        role=user.role.value,
        org_id=user.org_id,
        invitation_id=invitation.id,
    )
    if invitation.email is not None and invitation.email == user.email:
        user.email_confirmed_at = now
    else:
        confirmation.send(user, locale, who)
    return user


def org_invitation(org: Organisation, invitation_id: int) -> Invitation:
    return get_owned(Invitation, invitation_id, org_id=org.id)


def revoke_invitation(invitation: Invitation, actor: Actor) -> None:
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        audit.record(
            actor, "invitation.revoked", "invitation", invitation.id, org_id=invitation.org_id
        )


def org_member(org: Organisation, user_id: int) -> User:
    """A member of this organisation; another organisation's users are not found."""
    return get_owned(User, user_id, org_id=org.id)


def _active_owner_count(org: Organisation) -> int:
    """Counted with the organisation's row locked, so two owners cannot demote each other
    at once and leave nobody in charge (PostgreSQL; SQLite serialises writers anyway)."""
    db.session.execute(select(Organisation.id).where(Organisation.id == org.id).with_for_update())
    stmt = select(func.count(User.id)).where(
        User.org_id == org.id, User.role == MemberRole.OWNER, User.active.is_(True)
    )
    return db.session.scalar(stmt) or 0


def remove_member(member: User, actor: Actor) -> None:
    if member.id == actor.user_id:
        raise DomainError(_l("You cannot remove yourself."))
    if member.role is MemberRole.OWNER and member.active and _active_owner_count(member.org) <= 1:
        raise DomainError(_l("An organisation needs at least one owner."))
    member.active = False
    end_sessions(member)
    audit.record(actor, "member.removed", "user", member.id, org_id=member.org_id)


def change_role(member: User, role: MemberRole, actor: Actor) -> None:
    if member.role is role:
        return
    if not member.active:
        raise DomainError(_l("This member has been removed."))
    if member.role is MemberRole.OWNER and _active_owner_count(member.org) <= 1:
        raise DomainError(_l("An organisation needs at least one owner."))
    before = member.role
    member.role = role
    audit.record(
        actor,
        "member.role_changed",
        "user",
        member.id,
        before=before.value,
        after=role.value,
        org_id=member.org_id,
    )


def set_active(user: User, active: bool, actor: Actor) -> None:
    """Platform admin: deactivate (ending every session) or reactivate an account."""
    if user.id == actor.user_id:
        raise DomainError(_l("You cannot deactivate your own account."))
    if user.active == active:
        return
    user.active = active
    end_sessions(user)
    audit.record(
        actor,
        "user.activated" if active else "user.deactivated",
        "user",
        user.id,
        org_id=user.org_id,
    )


# Reading


def industries() -> list[Industry]:
    return list(db.session.scalars(select(Industry).order_by(Industry.position, Industry.code)))


def regions() -> list[Region]:
    return list(db.session.scalars(select(Region).order_by(Region.code)))


def get_provider(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None or org.kind is not OrgKind.PROVIDER:
        raise NotFound(_l("Not found."))
    return org


def list_organisations(
    query: str = "", kind: OrgKind | None = None, page: int = 1, per_page: int = 25
) -> tuple[list[Organisation], int]:
    stmt = select(Organisation)
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind)
    if query:
        like = contains_pattern(query)
        stmt = stmt.where(
            Organisation.name.ilike(like, escape="\\")
            | Organisation.credit_code.ilike(like, escape="\\")
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(
        stmt.order_by(Organisation.kind, Organisation.name)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(rows), total


def count_by_kind() -> dict[OrgKind, int]:
    rows = db.session.execute(select(Organisation.kind, func.count()).group_by(Organisation.kind))
    return {kind: n for kind, n in rows}
