"""Tickets as conversations (issue 18): messages with attachments, a state machine with its
history, and a resolution clock beside the first-answer one.

Existing tickets: the question and the answer become the thread's first messages (their
authors taken from the audit trail where it names them); status follows from what happened
(closed, answered, open); the resolution deadline is the opening plus the default hours for
the severity (TICKET_RESOLUTION_HOURS' defaults), and a closed ticket counts as resolved when
it was closed. Downgrading keeps the provider's last message as the single answer.

Revision ID: 15516586907c
Revises: aa06c3943866
Create Date: 2026-12-05 09:31:54.617456
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "15516586907c"
down_revision: str | None = "aa06c3943866"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("open", "answered", "waiting", "resolved", "closed")
RESOLUTION_HOURS = {"critical": 24, "high": 72, "normal": 120, "low": 240}
When = marketplace.db.UTCDateTime(timezone=True)

tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer),
    sa.column("enterprise_id", sa.Integer),
    sa.column("provider_id", sa.Integer),
    sa.column("severity", sa.String),
    sa.column("status", sa.String),
    sa.column("description", sa.Text),
    sa.column("response", sa.Text),
    sa.column("opened_at", When),
    sa.column("respond_by", When),
    sa.column("responded_at", When),
    sa.column("resolve_by", When),
    sa.column("resolved_at", When),
    sa.column("closed_at", When),
)
messages = sa.table(
    "ticket_messages",
    sa.column("id", sa.Integer),
    sa.column("ticket_id", sa.Integer),
    sa.column("author_org_id", sa.Integer),
    sa.column("author_user_id", sa.Integer),
    sa.column("body", sa.Text),
    sa.column("created_at", When),
)
changes = sa.table(
    "ticket_status_changes",
    sa.column("ticket_id", sa.Integer),
    sa.column("from_status", sa.String),
    sa.column("to_status", sa.String),
    sa.column("event", sa.String),
    sa.column("actor_user_id", sa.Integer),
    sa.column("actor_kind", sa.String),
    sa.column("at", When),
)
audit = sa.table(
    "audit_entries",
    sa.column("id", sa.Integer),
    sa.column("actor_user_id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("object_type", sa.String),
    sa.column("object_id", sa.String),
)


def _status_enum(name: str) -> sa.Enum:
    return sa.Enum(*STATUSES, name=name, native_enum=False, create_constraint=True, length=20)


def _authors(conn: sa.Connection, action: str) -> dict[str, int]:
    """Ticket id (as the audit trail keeps it) → the user of its last entry of ``action``."""
    rows = conn.execute(
        sa.select(audit.c.object_id, audit.c.actor_user_id)
        .where(audit.c.action == action, audit.c.object_type == "ticket")
        .order_by(audit.c.id)
    )
    return {object_id: user_id for object_id, user_id in rows if user_id is not None}


def _convert(conn: sa.Connection) -> None:
    opened_by = _authors(conn, "ticket.opened")
    answered_by = _authors(conn, "ticket.answered")
    for t in conn.execute(sa.select(tickets).order_by(tickets.c.id)).mappings().all():
        status = "closed" if t.closed_at else "answered" if t.response else "open"
        resolve_by = max(t.respond_by, t.opened_at + timedelta(hours=RESOLUTION_HOURS[t.severity]))
        conn.execute(
            tickets.update()
            .where(tickets.c.id == t.id)
            .values(status=status, resolve_by=resolve_by, resolved_at=t.closed_at)
        )
        thread = [(t.enterprise_id, opened_by.get(str(t.id)), t.description, t.opened_at)]
        if t.response and t.response.strip():
            at = t.responded_at or t.opened_at
            thread.append((t.provider_id, answered_by.get(str(t.id)), t.response, at))
        for org_id, user_id, body, at in thread:
            if body and body.strip():
                conn.execute(
                    messages.insert().values(
                        ticket_id=t.id,
                        author_org_id=org_id,
                        author_user_id=user_id,
                        body=body.strip(),
                        created_at=at,
                    )
                )
        conn.execute(
            changes.insert().values(
                ticket_id=t.id,
                from_status=None,
                to_status=status,
                event="migrate",
                actor_user_id=None,
                actor_kind="system",
                at=t.closed_at or t.responded_at or t.opened_at,
            )
        )


def upgrade() -> None:
    op.create_table(
        "ticket_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author_org_id", sa.Integer(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.CheckConstraint("length(body) > 0", name=op.f("ck_ticket_messages_body_not_empty")),
        sa.ForeignKeyConstraint(
            ["author_org_id"],
            ["organisations.id"],
            name=op.f("fk_ticket_messages_author_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["users.id"], name=op.f("fk_ticket_messages_author_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_messages_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_messages")),
    )
    with op.batch_alter_table("ticket_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_messages_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "ticket_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            _status_enum("from_status"),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            _status_enum("to_status"),
            nullable=False,
        ),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_ticket_status_changes_actor_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_status_changes_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_status_changes")),
    )
    with op.batch_alter_table("ticket_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_status_changes_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=80), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.CheckConstraint("size > 0", name=op.f("ck_ticket_attachments_size_positive")),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["ticket_messages.id"],
            name=op.f("fk_ticket_attachments_message_id_ticket_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_attachments_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_attachments")),
    )
    with op.batch_alter_table("ticket_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_attachments_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ticket_attachments_ticket_id"), ["ticket_id"], unique=False
        )

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", _status_enum("ticketstatus"), nullable=True))
        batch_op.add_column(sa.Column("resolve_by", When, nullable=True))
        batch_op.add_column(sa.Column("resolved_at", When, nullable=True))
        batch_op.add_column(
            sa.Column("resolution_breached", sa.Boolean(), server_default="false", nullable=False)
        )

    _convert(op.get_bind())

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=_status_enum("ticketstatus"), nullable=False)
        batch_op.alter_column("resolve_by", existing_type=When, nullable=False)
        batch_op.create_check_constraint(
            batch_op.f("ck_tickets_resolve_after_opening"), "resolve_by >= opened_at"
        )
        batch_op.create_index(
            "ix_tickets_provider_id_status", ["provider_id", "status"], unique=False
        )
        batch_op.drop_column("response")


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response", sa.TEXT(), nullable=True))
    conn = op.get_bind()
    for t in conn.execute(sa.select(tickets.c.id, tickets.c.provider_id)).all():
        last = conn.scalar(
            sa.select(messages.c.body)
            .where(messages.c.ticket_id == t.id, messages.c.author_org_id == t.provider_id)
            .order_by(messages.c.id.desc())
            .limit(1)
        )
        if last is not None:
            conn.execute(tickets.update().where(tickets.c.id == t.id).values(response=last))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_provider_id_status")
        batch_op.drop_constraint(batch_op.f("ck_tickets_resolve_after_opening"), type_="check")
        # the status column's own CHECK (its values)
        batch_op.drop_constraint(batch_op.f("ck_tickets_ticketstatus"), type_="check")
        batch_op.drop_column("resolution_breached")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("resolve_by")
        batch_op.drop_column("status")

    with op.batch_alter_table("ticket_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_attachments_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_ticket_attachments_message_id"))

    op.drop_table("ticket_attachments")
    with op.batch_alter_table("ticket_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_status_changes_ticket_id"))

    op.drop_table("ticket_status_changes")
    with op.batch_alter_table("ticket_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_messages_ticket_id"))

    op.drop_table("ticket_messages")
