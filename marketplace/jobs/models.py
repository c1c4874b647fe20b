"""What the job queue keeps in the database: the periods a scheduled job has run for, and
the tasks that were retried or failed (the platform admin's view of the queue)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace import audit
from marketplace.db import Base, created_at, intpk, str_enum


class JobState(StrEnum):
    RETRYING = "retrying"
    FAILED = "failed"
    RESUBMITTED = "resubmitted"  # the platform admin sent it again
    SUCCEEDED = "succeeded"  # after a retry, or sent again by the admin

    @property
    def label(self) -> str:
        return str(STATE_LABELS[self])


STATE_LABELS = {
    JobState.RETRYING: _l("Being retried"),
    JobState.FAILED: _l("Failed"),
    JobState.RESUBMITTED: _l("Sent again"),
    JobState.SUCCEEDED: _l("Succeeded after all"),
}


class JobPeriod(Base):
    """A scheduled job has claimed this period (a day, an hour, a slot of minutes): the
    primary key lets exactly one scheduler's sweep run for it."""

    __tablename__ = "job_periods"

    job: Mapped[str] = mapped_column(String(60), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[created_at]


class JobRecord(Base):
    """A task that was retried or failed: its name, arguments and last error."""

    __tablename__ = "job_records"
    __table_args__ = (Index("ix_job_records_state_updated_at", "state", "updated_at"),)

    id: Mapped[intpk]
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    args: Mapped[str] = mapped_column(Text)  # JSON
    kwargs: Mapped[str] = mapped_column(Text)  # JSON
    state: Mapped[JobState] = mapped_column(str_enum(JobState))
    attempts: Mapped[int] = mapped_column(default=1)
    last_error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime]


audit.register_labels({"job.resubmitted": _l("Background job sent again")})
