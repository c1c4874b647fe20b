"""Organisations, their users (members), reference data, invitations and reset links."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit, notifications
from marketplace.db import Base, BilingualName, created_at, intpk, str_enum


class OrgKind(StrEnum):
    ENTERPRISE = "enterprise"
    PROVIDER = "provider"
    AGENCY = "agency"
    ASSESSOR = "assessor"
    PLATFORM = "platform"
    # An independent digital-transformation advisor (数字化顾问): admitted to agencies' pools,
    # visits enterprises for an on-site diagnosis; sells no packages (only providers do).
    ADVISOR = "advisor"

    @property
    def label(self) -> str:
        return str(ORG_KIND_LABELS[self])


ORG_KIND_LABELS = {
    OrgKind.ENTERPRISE: _l("Enterprise"),
    OrgKind.PROVIDER: _l("Service provider"),
    OrgKind.AGENCY: _l("Government agency"),
    OrgKind.ASSESSOR: _l("Third-party assessor"),
    OrgKind.PLATFORM: _l("Platform operator"),
    OrgKind.ADVISOR: _l("Digital transformation advisor"),
}


class ProviderType(StrEnum):
    INTEGRATOR = "integrator"
    SCENARIO = "scenario"

    @property
    def label(self) -> str:
        return str(PROVIDER_TYPE_LABELS[self])


PROVIDER_TYPE_LABELS = {
    ProviderType.INTEGRATOR: _l("Integrator"),
    ProviderType.SCENARIO: _l("Scenario provider"),
}


class SizeTier(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"

    @property
    def label(self) -> str:
        return str(SIZE_TIER_LABELS[self])


SIZE_TIER_LABELS = {
    SizeTier.MICRO: _l("Micro"),
    SizeTier.SMALL: _l("Small"),
    SizeTier.MEDIUM: _l("Medium"),
    SizeTier.LARGE: _l("Large"),
}


class MemberRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"

    @property
    def label(self) -> str:
        return str(_l("Owner") if self is MemberRole.OWNER else _l("Member"))


YUAN = 100  # fen per yuan
# SME size rules for industrial enterprises (工信部联企业〔2011〕300号): (tier, employees, revenue).
SIZE_RULES = (
    (SizeTier.LARGE, 1000, 400_000_000 * YUAN),
    (SizeTier.MEDIUM, 300, 20_000_000 * YUAN),
    (SizeTier.SMALL, 20, 3_000_000 * YUAN),
)


def classify_size(employees: int, annual_revenue_fen: int) -> SizeTier:
    for tier, min_employees, min_revenue in SIZE_RULES:
        if employees >= min_employees and annual_revenue_fen >= min_revenue:
            return tier
    return SizeTier.MICRO


class Industry(BilingualName, Base):
    __tablename__ = "industries"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)


class Region(BilingualName, Base):
    """An administrative division (6-digit code)."""

    __tablename__ = "regions"
    __table_args__ = (CheckConstraint("length(code) = 6", name="code_six_digits"),)

    code: Mapped[str] = mapped_column(String(6), primary_key=True)


provider_industries = Table(
    "provider_industries",
    Base.metadata,
    Column("org_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    Column("industry_code", ForeignKey("industries.code"), primary_key=True),
)

provider_regions = Table(
    "provider_regions",
    Base.metadata,
    Column("org_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    Column("region_code", ForeignKey("regions.code"), primary_key=True),
)


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint("employees >= 0", name="employees_not_negative"),
        CheckConstraint("annual_revenue_fen >= 0", name="revenue_not_negative"),
        CheckConstraint(
            "kind <> 'enterprise' OR (credit_code IS NOT NULL AND industry_code IS NOT NULL"
            " AND region_code IS NOT NULL AND employees IS NOT NULL"
            " AND annual_revenue_fen IS NOT NULL)",
            name="enterprise_profile_complete",
        ),
        CheckConstraint(
            "(kind = 'provider') = (provider_type IS NOT NULL)", name="provider_type_for_providers"
        ),
        CheckConstraint(
            "kind <> 'provider' OR credit_code IS NOT NULL", name="provider_has_credit_code"
        ),
        CheckConstraint(
            "kind <> 'advisor' OR credit_code IS NOT NULL", name="advisor_has_credit_code"
        ),
        CheckConstraint("credit_code IS NULL OR length(credit_code) = 18", name="credit_code_18"),
        Index("ix_organisations_kind_name", "kind", "name"),
        # What a package's composite foreign key refers to: its lister is a provider.
        UniqueConstraint("id", "kind"),
    )

    id: Mapped[intpk]
    kind: Mapped[OrgKind] = mapped_column(str_enum(OrgKind))
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    industry_code: Mapped[str | None] = mapped_column(ForeignKey("industries.code"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    employees: Mapped[int | None]
    annual_revenue_fen: Mapped[int | None] = mapped_column(BigInteger)
    provider_type: Mapped[ProviderType | None] = mapped_column(str_enum(ProviderType))
    contact_name: Mapped[str | None] = mapped_column(String(60))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    description: Mapped[str | None] = mapped_column(Text)
    # Registered details (工商登记信息): shown to agencies, compared by voucher risk checks,
    # and the bank account is where bank transfers are paid.
    legal_representative: Mapped[str | None] = mapped_column(String(60))
    address: Mapped[str | None] = mapped_column(String(200))
    bank_name: Mapped[str | None] = mapped_column(String(100))
    bank_account: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[created_at]

    industry: Mapped[Industry | None] = relationship(lazy="joined")
    region: Mapped[Region | None] = relationship(lazy="joined")
    industries_served: Mapped[list[Industry]] = relationship(
        secondary=provider_industries, order_by=Industry.position
    )
    regions_served: Mapped[list[Region]] = relationship(
        secondary=provider_regions, order_by=Region.code
    )
    users: Mapped[list[User]] = relationship(back_populates="org", order_by="User.id")

    @hybrid_property
    def size_tier(self) -> SizeTier | None:
        if self.employees is None or self.annual_revenue_fen is None:
            return None
        return classify_size(self.employees, self.annual_revenue_fen)

    @size_tier.inplace.expression
    @classmethod
    def _size_tier_expression(cls) -> Any:
        whens = [
            (
                (cls.employees >= employees) & (cls.annual_revenue_fen >= revenue),
                tier.value,
            )
            for tier, employees, revenue in SIZE_RULES
        ]
        return case(
            (cls.employees.is_(None) | cls.annual_revenue_fen.is_(None), None),
            *whens,
            else_=SizeTier.MICRO.value,
        )

    @property
    def is_enterprise(self) -> bool:
        return self.kind is OrgKind.ENTERPRISE

    @property
    def jurisdiction(self) -> str | None:
        """An agency's administrative division: its region, or else the division of the
        authority that registered it (characters 3–8 of its unified social credit code)."""
        if self.kind is not OrgKind.AGENCY:
            return None
        if self.region_code:
            return self.region_code
        code = self.credit_code or ""
        return code[2:8] if len(code) == 18 and code[2:8].isdigit() else None

    @property
    def is_provider(self) -> bool:
        return self.kind is OrgKind.PROVIDER

    @property
    def is_advisor(self) -> bool:
        return self.kind is OrgKind.ADVISOR


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[MemberRole] = mapped_column(str_enum(MemberRole))
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the login cookie's user id: changing it ends every session of the user.
    session_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_at]
    last_login_at: Mapped[datetime | None]
    # Accounts by e-mail: when the owner of the address followed a link sent to it (a
    # confirmation, an invitation or a password link); None until then. Placing an order and
    # applying for a voucher wait for it (``requires(confirmed=True)``).
    email_confirmed_at: Mapped[datetime | None]
    # The language of the user's e-mails: the one they last chose on the site.
    locale: Mapped[str] = mapped_column(String(5), default="zh", server_default="zh")
    # Notifications without a deadline come as one daily digest, since this time (None: each
    # by e-mail at once).
    digest_from: Mapped[datetime | None]

    org: Mapped[Organisation] = relationship(back_populates="users", lazy="joined")

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def org_kind(self) -> OrgKind:
        return self.org.kind

    @property
    def is_owner(self) -> bool:
        return self.role is MemberRole.OWNER

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None


class MailPreference(Base):
    """Whether a user gets one kind of notification by e-mail; no row means yes. A kind with
    a deadline is sent whatever the row says (the page does not let it be turned off)."""

    __tablename__ = "mail_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    by_email: Mapped[bool]


class MailDigest(Base):
    """One daily digest of a user: the marker that makes the digest job send it once a day
    (UNIQUE user and local date), and the end of the period the next one starts from."""

    __tablename__ = "mail_digests"
    __table_args__ = (UniqueConstraint("user_id", "day"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date]
    until: Mapped[datetime]  # notifications up to this time are in it
    count: Mapped[int]
    created_at: Mapped[created_at]


class Invitation(Base):
    """An invitation link to join an organisation; only a hash of its token is stored."""

    __tablename__ = "invitations"

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[MemberRole] = mapped_column(str_enum(MemberRole))
    note: Mapped[str | None] = mapped_column(String(120))
    # where the link was e-mailed (None for invitations made before links went by e-mail)
    email: Mapped[str | None] = mapped_column(String(254))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]

    org: Mapped[Organisation] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])


class PasswordReset(Base):
    """A one-time link, e-mailed to a user, to set a new password: asked for by the user
    (forgot password, ``created_by_id`` empty) or made by a platform admin (a new account, a
    reset). Only a hash of its token is stored."""

    __tablename__ = "password_resets"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class EmailConfirmation(Base):
    """A one-time link e-mailed to a newly registered user to confirm the address; only a
    hash of its token is stored. It confirms the address it was sent to, not a later one."""

    __tablename__ = "email_confirmations"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


audit.register_labels(
    {
        "password.reset_requested": _l("Password reset asked for by e-mail"),
        "email.confirmation_sent": _l("E-mail confirmation link sent"),
        "email.confirmed": _l("E-mail address confirmed"),
        "invitation.resent": _l("Invitation sent again"),
    }
)


class GrantScope(StrEnum):
    PROFILE = "profile"
    MEASUREMENTS = "measurements"
    KPI_REPORTS = "kpi_reports"
    TICKETS = "tickets"

    @property
    def label(self) -> str:
        return str(GRANT_SCOPE_LABELS[self])


GRANT_SCOPE_LABELS = {
    GrantScope.PROFILE: _l("Profile and diagnoses"),
    GrantScope.MEASUREMENTS: _l("Outcome measurements"),
    GrantScope.KPI_REPORTS: _l("KPI reports"),
    GrantScope.TICKETS: _l("Support tickets"),
}


class DataGrant(Base):
    """An enterprise's permission (数据授权) for one provider or assessor to see some of its
    data for a period; revocable at any time."""

    __tablename__ = "data_grants"
    __table_args__ = (
        CheckConstraint("starts_on <= ends_on", name="period_in_order"),
        CheckConstraint("enterprise_id <> grantee_id", name="distinct_orgs"),
        CheckConstraint("profile OR measurements OR kpi_reports OR tickets", name="some_scope"),
        Index("ix_data_grants_grantee_id_enterprise_id", "grantee_id", "enterprise_id"),
    )

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    grantee_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    profile: Mapped[bool] = mapped_column(default=False)
    measurements: Mapped[bool] = mapped_column(default=False)
    kpi_reports: Mapped[bool] = mapped_column(default=False)
    tickets: Mapped[bool] = mapped_column(default=False)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    purpose: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id])
    grantee: Mapped[Organisation] = relationship(foreign_keys=[grantee_id])

    @property
    def scopes(self) -> list[GrantScope]:
        return [s for s in GrantScope if getattr(self, s.value)]

    def active_on(self, day: date) -> bool:
        return self.revoked_at is None and self.starts_on <= day <= self.ends_on


class DataAccess(Base):
    """One view of an enterprise's granted data by another organisation (append-only)."""

    __tablename__ = "data_access_log"
    __table_args__ = (Index("ix_data_access_log_enterprise_id_at", "enterprise_id", "at"),)

    id: Mapped[intpk]
    grant_id: Mapped[int] = mapped_column(ForeignKey("data_grants.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    viewer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    viewer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[GrantScope] = mapped_column(str_enum(GrantScope))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[created_at]

    viewer_org: Mapped[Organisation] = relationship(foreign_keys=[viewer_org_id])
    viewer_user: Mapped[User | None] = relationship(foreign_keys=[viewer_user_id])


audit.register_labels(
    {
        "data_grant.created": _l("Data access granted"),
        "data_grant.revoked": _l("Data access revoked"),
        "api_token.created": _l("API token created"),
        "api_token.revoked": _l("API token revoked"),
    }
)


class ApiScope(StrEnum):
    CATALOG_READ = "catalog:read"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    CONTRACTS_READ = "contracts:read"
    MEASUREMENTS_WRITE = "measurements:write"
    USAGE_WRITE = "usage:write"
    INVOICES_READ = "invoices:read"
    VOUCHERS_READ = "vouchers:read"

    @property
    def label(self) -> str:
        return str(API_SCOPE_LABELS[self])


API_SCOPE_LABELS = {
    ApiScope.CATALOG_READ: _l("Read the catalogue"),
    ApiScope.ORDERS_READ: _l("Read orders"),
    ApiScope.ORDERS_WRITE: _l("Move order lines (accept, deliver, …)"),
    ApiScope.CONTRACTS_READ: _l("Read outcome contracts and measurements"),
    ApiScope.MEASUREMENTS_WRITE: _l("Report measurements"),
    ApiScope.USAGE_WRITE: _l("Report usage of usage plans"),
    ApiScope.INVOICES_READ: _l("Read invoices"),
    ApiScope.VOUCHERS_READ: _l("Read vouchers"),
}


class ApiToken(Base):
    """A token for an organisation's own systems (Open API v1). Only a hash is stored; the
    token itself is shown once, when it is made."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists, to tell tokens apart
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    org: Mapped[Organisation] = relationship(lazy="joined")

    def usable_at(self, moment: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or moment < self.expires_at)


class ChangeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return str(CHANGE_STATUS_LABELS[self])


CHANGE_STATUS_LABELS = {
    ChangeStatus.PENDING: _l("Waiting for verification"),
    ChangeStatus.APPROVED: _l("Approved"),
    ChangeStatus.REJECTED: _l("Rejected"),
}

# The profile fields that decide voucher eligibility: an enterprise may ask to change them,
# an official verifies the change before it counts.
VERIFIED_FIELDS = {
    "industry_code": _l("Industry"),
    "region_code": _l("Region"),
    "employees": _l("Employees"),
    "annual_revenue_fen": _l("Annual revenue (yuan)"),
}


class ProfileChange(Base):
    """An enterprise's requested change of a verified profile field (industry, region,
    headcount or revenue). The organisation's column keeps the verified value until an official of the
    agency covering the enterprise's region (or the platform) approves the change."""

    __tablename__ = "profile_changes"
    __table_args__ = (
        CheckConstraint(
            "field IN ('industry_code', 'region_code', 'employees', 'annual_revenue_fen')",
            name="known_field",
        ),
        CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name="decided_unless_pending"
        ),
        Index("ix_profile_changes_org_id_status", "org_id", "status"),
        # one change of a field waits at a time (two tabs cannot queue two)
        Index(
            "uq_profile_changes_org_id_field_pending",
            "org_id",
            "field",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    field: Mapped[str] = mapped_column(String(30))
    old_value: Mapped[str | None] = mapped_column(String(40))
    new_value: Mapped[str] = mapped_column(String(40))
    status: Mapped[ChangeStatus] = mapped_column(
        str_enum(ChangeStatus), default=ChangeStatus.PENDING
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[created_at]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(String(500))

    org: Mapped[Organisation] = relationship(lazy="joined")
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def field_label(self) -> str:
        return str(VERIFIED_FIELDS[self.field])


audit.register_labels(
    {
        "profile_change.requested": _l("Profile change requested"),
        "profile_change.approved": _l("Profile change approved"),
        "profile_change.rejected": _l("Profile change rejected"),
    }
)
notifications.register_param_labels("field", VERIFIED_FIELDS)
notifications.register_param_labels(
    "outcome", {s.value: CHANGE_STATUS_LABELS[s] for s in ChangeStatus}
)
# Data grants: the grantee is told of a grant; the enterprise of its data being looked at
# (at most once a day per grantee; the access log has every view).
notifications.register_param_labels(
    "scope", {s.value: label for s, label in GRANT_SCOPE_LABELS.items()}
)
notifications.register_kinds(
    {
        "data_grant_used": _l(
            "%(viewer)s looked at the data you shared with it (%(scope)s) on %(day)s. Every view"
            " is in your access log; revoke the access if you did not expect this."
        ),
    },
    group="organisation",
)
