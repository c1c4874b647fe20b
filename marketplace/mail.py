"""E-mail (core): a durable outbox sent by the job queue.

``queue`` writes a message to ``outgoing_mails`` in the caller's transaction (the event and
its e-mail commit or roll back together) and asks the queue to send it once that commits;
the ``mail_outbox`` job finds any message the broker never got. ``send_one`` sends one
message through SMTP (``MAIL_*`` settings) and marks it sent:

- it is *claimed* first (pending → sending, committed before the SMTP conversation), so a
  job delivered twice, or two workers, send it once; a failed attempt puts it back to
  pending with its error and the job is retried with backoff;
- after ``MAIL_MAX_ATTEMPTS`` failures it stays *failed* and the platform admin sees the
  address and the error;
- a claim older than ``MAIL_CLAIM_MINUTES`` (a worker killed mid-send) is released by the
  job, so at worst such a message is sent twice, never lost.

Without ``MAIL_SERVER`` (``make run`` on a laptop) messages go to the *development outbox*:
each is written as an ``.eml`` file under ``<instance>/mail/`` and printed on the console, so
a newcomer can follow a reset link without a mail server.

``render`` writes a message's text and HTML bodies from ``templates/mail/<name>.txt`` and
``.html`` in the reader's language, with the platform's name; it needs no request (jobs and
the CLI send mail too), so links are made absolute with ``PUBLIC_URL`` (``absolute``).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from enum import StrEnum
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from marketplace import audit, jobs
from marketplace.db import Base, created_at, db, intpk, str_enum, utcnow
from marketplace.errors import DomainError
from marketplace.security import Actor

log = logging.getLogger(__name__)

SEND_TASK = "marketplace.item.mail_outbox"
PLATFORM_NAME = _l("Transformation Package Marketplace")

audit.register_labels({"mail.resent": _l("Failed e-mail sent again")})


class MailStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutgoingMail(Base):
    """One e-mail to one address: written with the event, sent by the queue."""

    __tablename__ = "outgoing_mails"
    __table_args__ = (Index("ix_outgoing_mails_status_created_at", "status", "created_at"),)

    id: Mapped[intpk]
    to_address: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # a notification kind, or password_reset ...
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[MailStatus] = mapped_column(str_enum(MailStatus), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


def queue(
    to_address: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    kind: str,
    user_id: int | None = None,
) -> OutgoingMail:
    """Write a message to the outbox in the current transaction; it is sent once that
    commits (dropped with it if it rolls back)."""
    mail = OutgoingMail(
        to_address=to_address,
        user_id=user_id,
        kind=kind,
        subject=subject[:200],
        text_body=text,
        html_body=html,
        status=MailStatus.PENDING,
    )
    db.session.add(mail)
    db.session.flush()
    jobs.send_after_commit(SEND_TASK, mail.id)
    return mail


def due() -> list[int]:
    """Pending messages, after releasing claims a killed worker left behind (the job's items)."""
    stale = utcnow() - timedelta(minutes=current_app.config["MAIL_CLAIM_MINUTES"])
    db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.status == MailStatus.SENDING, OutgoingMail.claimed_at < stale)
        .values(status=MailStatus.PENDING)
        .execution_options(synchronize_session=False)
    )
    stmt = select(OutgoingMail.id).where(OutgoingMail.status == MailStatus.PENDING)
    return list(db.session.scalars(stmt.order_by(OutgoingMail.id)))


def send_one(mail_id: int) -> bool:
    """Send one message if it is still pending: claim it (committed), talk to SMTP, mark it
    sent. On an SMTP error the message goes back to pending (or failed, after the last
    attempt) with the error, committed, and the error is raised for the queue to retry."""
    claimed = db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id == mail_id, OutgoingMail.status == MailStatus.PENDING)
        .values(
            status=MailStatus.SENDING,
            claimed_at=utcnow(),
            attempts=OutgoingMail.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False  # sent, being sent, or failed for good
    db.session.commit()
    mail = db.session.get(OutgoingMail, mail_id, populate_existing=True)
    assert mail is not None
    try:
        deliver(as_message(mail))
    except (OSError, smtplib.SMTPException) as error:
        last = mail.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]
        mail.status = MailStatus.FAILED if last else MailStatus.PENDING
        mail.last_error = f"{type(error).__name__}: {error}"[:2000]
        db.session.commit()
        if last:
            log.warning("mail %s to %s failed for good: %s", mail.id, mail.to_address, error)
            return False
        raise
    mail.status, mail.sent_at = MailStatus.SENT, utcnow()
    return True


def as_message(mail: OutgoingMail) -> EmailMessage:
    config = current_app.config
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = mail.to_address
    message["Message-ID"] = make_msgid(idstring=f"outbox-{mail.id}")
    message.set_content(mail.text_body)
    if mail.html_body:
        message.add_alternative(mail.html_body, subtype="html")
    return message


def deliver(message: EmailMessage) -> None:
    """Hand one message to the SMTP server, or to the development outbox without one."""
    config = current_app.config
    if not config["MAIL_SERVER"]:
        _to_development_outbox(message)
        return
    timeout = config["MAIL_TIMEOUT"]
    smtp: smtplib.SMTP
    if config["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(
            config["MAIL_SERVER"],
            config["MAIL_PORT"],
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
    with smtp:
        if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(message)


def development_outbox() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "mail"


def _to_development_outbox(message: EmailMessage) -> None:
    folder = development_outbox()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%d-%H%M%S}-{str(message['Message-ID']).strip('<>').split('@')[0]}.eml"
    path = folder / name
    path.write_bytes(bytes(message))
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    print(
        f"\n--- mail to {message['To']}: {message['Subject']}\n{text}\n--- saved as {path}\n",
        flush=True,
    )


def sender(name: str, address: str) -> str:
    return formataddr((name, address))


def failed(limit: int = 200) -> list[OutgoingMail]:
    """Messages that could not be delivered, newest first (the platform admin's list)."""
    stmt = (
        select(OutgoingMail)
        .where(OutgoingMail.status == MailStatus.FAILED)
        .order_by(OutgoingMail.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def absolute(link: str) -> str:
    """A link of the app (``/orders/7``) as the reader's mail client needs it."""
    if link.startswith(("http://", "https://")):
        return link
    return current_app.config["PUBLIC_URL"] + "/" + link.lstrip("/")


def render(template: str, locale: str, /, **context: object) -> tuple[str, str, str]:
    """The platform's name, and the text and HTML bodies of ``templates/mail/<template>.txt`` and
    ``.html``, in ``locale`` (inside or outside a request). The templates get ``platform``,
    ``public_url``, ``locale`` and ``context``; the HTML one is escaped, the text one not."""
    env = current_app.jinja_env  # not render_template: no request-bound context processors
    with force_locale(locale):
        values = {
            "platform": str(PLATFORM_NAME),
            "public_url": current_app.config["PUBLIC_URL"],
            "locale": locale,
            **context,
        }
        text = env.get_template(f"mail/{template}.txt").render(values)
        html = env.get_template(f"mail/{template}.html").render(values)
        return str(values["platform"]), text, html


def retry(mail_id: int, actor: Actor) -> OutgoingMail:
    """The platform admin sends a failed message again (after fixing the address or the
    server): back to pending with a fresh count of attempts, queued once this commits."""
    moved = db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id == mail_id, OutgoingMail.status == MailStatus.FAILED)
        .values(status=MailStatus.PENDING, attempts=0, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("Only an e-mail that failed can be sent again."))
    mail = db.session.get(OutgoingMail, mail_id, populate_existing=True)
    assert mail is not None
    jobs.send_after_commit(SEND_TASK, mail.id)
    audit.record(actor, "mail.resent", "outgoing_mail", mail.id, to=mail.to_address, kind=mail.kind)
    return mail
