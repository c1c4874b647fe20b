"""Reading the account e-mails a test caused from the outbox (they are sent by the queue;
tests through a real SMTP server are in test_email_flows.py and tests/e2e)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.mail import OutgoingMail

LINK = re.compile(r"https?://[^/\s]+(/(?:reset|confirm|invite)/[A-Za-z0-9_\-]+)")


def mails_to(dbs: Session, address: str, kind: str | None = None) -> list[OutgoingMail]:
    stmt = select(OutgoingMail).where(OutgoingMail.to_address == address)
    if kind is not None:
        stmt = stmt.where(OutgoingMail.kind == kind)
    return list(dbs.scalars(stmt.order_by(OutgoingMail.id)))


def link_in(mail: OutgoingMail) -> str:
    """The path of the one-time link in a message (the same in its text and its HTML)."""
    found = LINK.search(mail.text_body)
    assert found, mail.text_body
    assert mail.html_body and found.group(1) in mail.html_body
    return found.group(1)


def last_link(dbs: Session, address: str, kind: str | None = None) -> str:
    sent = mails_to(dbs, address, kind)
    assert sent, f"no e-mail to {address}"
    return link_in(sent[-1])
