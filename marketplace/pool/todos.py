"""What waits in the resource pool: applications an agency decides."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from marketplace.accounts.models import Organisation
from marketplace.pool import services as pool
from marketplace.pool.models import PoolStatus
from marketplace.todos import Todo


def for_agency(agency: Organisation) -> list[Todo]:
    return [
        Todo(
            "pool_application",
            _l("Decide the application to the resource pool"),
            m.provider.name,
            f"/pool/applications/{m.id}",
            m.applied_at,
        )
        for m in pool.queue(agency, PoolStatus.APPLIED)
    ]
