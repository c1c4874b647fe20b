"""Accounts: organisations, their members, sign-in, and how each member is told things."""

from marketplace import notifications
from marketplace.accounts import notification_mail

# notify() (core) e-mails the members who want it: this domain knows them and their choices.
notifications.register_mailer(notification_mail.mail_members)
