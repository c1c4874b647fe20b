"""Imports every domain's models so that ``Base.metadata`` knows all tables."""

from marketplace.accounts import models as accounts_models
from marketplace.audit import AuditEntry
from marketplace.catalog import models as catalog_models
from marketplace.diagnosis import models as diagnosis_models
from marketplace.jobs import models as jobs_models
from marketplace.mail import OutgoingMail
from marketplace.notifications import Notification
from marketplace.orders import models as orders_models
from marketplace.outcomes import models as outcomes_models
from marketplace.oversight import models as oversight_models
from marketplace.payments import models as payments_models
from marketplace.pool import models as pool_models
from marketplace.todos import SentReminder
from marketplace.vouchers import models as vouchers_models

__all__ = [
    "AuditEntry",
    "Notification",
    "OutgoingMail",
    "SentReminder",
    "accounts_models",
    "catalog_models",
    "diagnosis_models",
    "jobs_models",
    "orders_models",
    "outcomes_models",
    "oversight_models",
    "payments_models",
    "pool_models",
    "vouchers_models",
]
