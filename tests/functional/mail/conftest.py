"""A real SMTP server (aiosmtpd) for the mail tests: the ``smtp`` fixture of test_outbox."""

from tests.functional.mail.test_outbox import smtp  # noqa: F401  (the fixture)
