"""Imports every domain's models so that ``Base.metadata`` knows all tables."""

from marketplace.accounts import models as accounts_models
from marketplace.audit import AuditEntry

__all__ = ["AuditEntry", "accounts_models"]
