"""One Config read from the environment, and the settings tests use."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

# The package's own files (templates, static, migrations, translations) live beside its code,
# in a checkout and in an installed wheel alike.
PACKAGE = Path(__file__).resolve().parent
# The checkout the package runs from (``make run``, the tests); site-packages when installed.
ROOT = PACKAGE.parent
# A Redis that does not answer within a second counts as down (never a hanging request).
REDIS_TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _hours_by_severity(value: str, defaults: dict[str, int]) -> dict[str, int]:
    """ "critical=24,high=72": the given severities' hours over the defaults; anything else
    (an unknown severity, a number below 1) stops the start with a clear message."""
    hours = dict(defaults)
    for part in filter(None, (p.strip() for p in value.split(","))):
        name, _, number = part.partition("=")
        name = name.strip()
        if name not in defaults or not number.strip().isdigit() or int(number) < 1:
            raise ValueError(f"TICKET_RESOLUTION_HOURS: cannot read {part!r}")
        hours[name] = int(number)
    return hours


# Where a missing DATABASE_URL may fall back to a local SQLite file (``make run``, tests).
DEVELOPMENT_ENVS = ("development", "test")
REQUIRED = ("SECRET_KEY", "DATABASE_URL")


def running_from_checkout() -> bool:
    """True when the package is the one in a source checkout (not an installed copy)."""
    return (ROOT / "pyproject.toml").is_file()


def default_instance_path() -> Path:
    """Where the app keeps its local files (the development SQLite database and broker, celery
    beat's schedule): ``INSTANCE_PATH`` when set; else the checkout's ``instance/`` when running
    from one; else ``instance/`` in the current directory (never inside site-packages)."""
    given = os.environ.get("INSTANCE_PATH", "").strip()
    if given:
        return Path(given).resolve()
    return ROOT / "instance" if running_from_checkout() else Path.cwd() / "instance"


def dev_database_url(instance_path: str | Path) -> str:
    """The SQLite file a development or test run falls back to without ``DATABASE_URL``."""
    return f"sqlite:///{Path(instance_path) / 'marketplace.sqlite3'}"


def startup_refusal(settings: Mapping[str, object]) -> str | None:
    """Why create_app must not start with these settings (a required one is empty), if so."""
    missing = [name for name in REQUIRED if not settings.get(name)]
    if not missing:
        return None
    one = len(missing) == 1
    return (
        f"{' and '.join(missing)} {'is' if one else 'are'} not set: outside development "
        f"(MARKETPLACE_ENV=development) the app does not start without {'it' if one else 'them'}"
        "; see README.md (Configuration)."
    )


class Config:
    """Production-safe defaults; every setting can be overridden by an environment variable."""

    def __init__(self) -> None:
        development = os.environ.get("MARKETPLACE_ENV", "") in DEVELOPMENT_ENVS
        self.INSTANCE_PATH = str(default_instance_path())
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "")
        # Outside development the database is named explicitly, never a SQLite file by default.
        self.DATABASE_URL = os.environ.get(
            "DATABASE_URL", dev_database_url(self.INSTANCE_PATH) if development else ""
        )
        # Shared by every instance in production (redis://...). An unreachable storage never
        # answers 500: the limits fall back to each process's memory, with a warning in the
        # log, until it answers again.
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.RATELIMIT_STORAGE_OPTIONS = (
            dict(REDIS_TIMEOUTS) if self.RATELIMIT_STORAGE_URI.startswith("redis") else {}
        )
        # Redis for what instances share beyond rate limits (the officials' statistics);
        # empty: each process keeps its own. Unreachable: the cache is skipped.
        self.REDIS_URL = os.environ.get("REDIS_URL", "")
        self.CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "marketplace:")
        self.RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
        # Login attempts: the 11th failure inside the window answers 429.
        self.LOGIN_FAILURE_LIMIT = os.environ.get("LOGIN_FAILURE_LIMIT", "10 per 15 minutes")
        # Other POSTs that hash a password (registration, invitations, reset links), per IP.
        self.PASSWORD_FORM_LIMIT = os.environ.get("PASSWORD_FORM_LIMIT", "20 per hour")
        # "Forgot password" requests, per IP and per address (each sends an e-mail), and
        # "send again" of a confirmation or an invitation e-mail, per user.
        self.FORGOT_PASSWORD_LIMIT = os.environ.get("FORGOT_PASSWORD_LIMIT", "5 per hour")
        self.MAIL_AGAIN_LIMIT = os.environ.get("MAIL_AGAIN_LIMIT", "5 per hour")

        self.PAYMENT_BACKEND = os.environ.get("PAYMENT_BACKEND", "manual")
        # Measurements the enterprise leaves unanswered this long count as confirmed.
        self.MEASUREMENT_CONFIRM_DAYS = int(os.environ.get("MEASUREMENT_CONFIRM_DAYS", "7"))
        # Days after a usage record arrives during which the enterprise may dispute it.
        self.USAGE_DISPUTE_DAYS = int(os.environ.get("USAGE_DISPUTE_DAYS", "7"))
        self.API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "120 per minute")
        self.COUNT_QUERIES = _env_bool("COUNT_QUERIES", False)  # X-Query-Count (benchmarks)
        # The officials' statistics are recomputed at most this often (0: on every view).
        self.STATS_CACHE_SECONDS = int(os.environ.get("STATS_CACHE_SECONDS", "300"))
        # Rendered catalogue results kept per worker, reused until the catalogue changes.
        self.CATALOGUE_CACHE_SIZE = int(os.environ.get("CATALOGUE_CACHE_SIZE", "256"))
        # Rendered package cards kept per worker (a search's results are made of them).
        self.CARD_CACHE_SIZE = int(os.environ.get("CARD_CACHE_SIZE", "5000"))
        self.API_PUBLIC_RATE_LIMIT = os.environ.get("API_PUBLIC_RATE_LIMIT", "60 per minute")
        self.STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
        self.STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
        self.STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
        # Seconds: a slow Stripe must not hold a web worker (the SDK's default is 80 s).
        self.STRIPE_CONNECT_TIMEOUT = float(os.environ.get("STRIPE_CONNECT_TIMEOUT", "3"))
        self.STRIPE_READ_TIMEOUT = float(os.environ.get("STRIPE_READ_TIMEOUT", "10"))

        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 2 * 1024 * 1024))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Secure cookies whenever the site is served over HTTPS (the default in production).
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
        self.PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "http")
        self.IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("IDLE_TIMEOUT_MINUTES", 60)))
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
        self.REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
        # Number of proxies in front of the app whose X-Forwarded-For may be trusted.
        self.PROXY_COUNT = int(os.environ.get("PROXY_COUNT", 0))

        # argon2id, RFC 9106 second recommended option (64 MiB, 3 passes).
        self.PASSWORD_HASH = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}
        self.INVITATION_TTL = timedelta(days=7)
        # A delivered order line the enterprise neither accepts nor disputes is accepted after
        # this many days (`flask auto-accept`, daily); reminders go out this many days before.
        self.AUTO_ACCEPT_DAYS = int(os.environ.get("AUTO_ACCEPT_DAYS", 14))
        self.AUTO_ACCEPT_REMINDER_DAYS = int(os.environ.get("AUTO_ACCEPT_REMINDER_DAYS", 3))
        # A dispute the two parties have not settled within this many days goes to the
        # overseeing agency (or the platform, for lines without vouchers) for a decision.
        self.DISPUTE_ESCALATION_DAYS = int(os.environ.get("DISPUTE_ESCALATION_DAYS", 7))
        # An invoice is issued when the enterprise accepts the delivery (验收) and is due this
        # many days later (its due date counts the pilots' local days).
        self.INVOICE_PAYMENT_TERMS_DAYS = int(os.environ.get("INVOICE_PAYMENT_TERMS_DAYS", 30))
        # A link a platform admin has e-mailed (a new account, a reset) lasts this long; one a
        # user asked for with "forgot password" an hour; a registration's confirmation a week.
        # Reminders before silent deadlines (days before; each sent once per deadline): an
        # invoice due (and the day after, overdue), a measurement counting as confirmed, a
        # voucher with money left expiring, assessors' scores due, a data grant ending, an
        # API token expiring. A voucher expiring this soon is also on the enterprise's to-do list.
        self.INVOICE_REMINDER_DAYS = int(os.environ.get("INVOICE_REMINDER_DAYS", 3))
        self.MEASUREMENT_REMINDER_DAYS = int(os.environ.get("MEASUREMENT_REMINDER_DAYS", 2))
        self.VOUCHER_EXPIRY_REMINDER_DAYS = int(os.environ.get("VOUCHER_EXPIRY_REMINDER_DAYS", 30))
        self.EVALUATION_REMINDER_DAYS = int(os.environ.get("EVALUATION_REMINDER_DAYS", 5))
        self.GRANT_REMINDER_DAYS = int(os.environ.get("GRANT_REMINDER_DAYS", 7))
        self.API_TOKEN_REMINDER_DAYS = int(os.environ.get("API_TOKEN_REMINDER_DAYS", 7))
        self.PASSWORD_RESET_TTL = timedelta(hours=24)
        self.FORGOT_PASSWORD_TTL = timedelta(hours=1)
        self.EMAIL_CONFIRMATION_TTL = timedelta(days=7)
        # A ticket on an integration line (no package, so no package SLA) is answered within
        # this many hours.
        self.INTEGRATION_SLA_HOURS = int(os.environ.get("INTEGRATION_SLA_HOURS", 24))
        # A ticket is to be resolved within this many hours of opening, by severity (packages
        # state no resolution time of their own), as "critical=24,high=72,...".
        self.TICKET_RESOLUTION_HOURS = _hours_by_severity(
            os.environ.get("TICKET_RESOLUTION_HOURS", ""),
            {"critical": 24, "high": 72, "normal": 120, "low": 240},
        )
        # The enterprise may reopen a closed ticket within this many days of closing it.
        self.TICKET_REOPEN_DAYS = int(os.environ.get("TICKET_REOPEN_DAYS", 14))
        # A ticket message's attachment: at most this many bytes. By default 5 MB, or what
        # fits in a request (MAX_CONTENT_LENGTH, less room for the form) if that is less.
        self.TICKET_ATTACHMENT_MAX_BYTES = int(
            os.environ.get("TICKET_ATTACHMENT_MAX_BYTES", 0)
            or min(5 * 1024 * 1024, self.MAX_CONTENT_LENGTH - 256 * 1024)
        )
        # A document attached to a pool application (business licence, qualification, case
        # material): at most this many bytes, by default as much as a ticket's attachment.
        self.POOL_DOCUMENT_MAX_BYTES = int(
            os.environ.get("POOL_DOCUMENT_MAX_BYTES", 0) or self.TICKET_ATTACHMENT_MAX_BYTES
        )
        # A delivery evidence file (a provider's acceptance report, photos, test records):
        # the same limit as a ticket's attachment unless set.
        self.DELIVERY_EVIDENCE_MAX_BYTES = int(
            os.environ.get("DELIVERY_EVIDENCE_MAX_BYTES", 0) or self.TICKET_ATTACHMENT_MAX_BYTES
        )
        # A market (a category of a programme) is watched for concentration from this many
        # order lines on: below it one order would be a 100 % share.
        self.CONCENTRATION_MIN_ORDERS = int(os.environ.get("CONCENTRATION_MIN_ORDERS", 5))
        # Risk checks on a voucher redemption: a delivery in under this share (basis points) of
        # the package's stated go-live time is implausible; this many redemptions of the same
        # amount for one provider within this many days look manufactured.
        self.RISK_FAST_DELIVERY_BP = int(os.environ.get("RISK_FAST_DELIVERY_BP", 2_500))
        self.RISK_REPEATED_AMOUNT_COUNT = int(os.environ.get("RISK_REPEATED_AMOUNT_COUNT", 5))
        self.RISK_REPEATED_AMOUNT_DAYS = int(os.environ.get("RISK_REPEATED_AMOUNT_DAYS", 7))

        # Where users reach the site: e-mails link to it (no trailing slash).
        self.PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")
        # E-mail (marketplace/mail.py). Without MAIL_SERVER, mail goes to the development
        # outbox (<instance>/mail/*.eml, and the console).
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
        self.MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
        self.MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
        self.MAIL_DEFAULT_SENDER = os.environ.get(
            "MAIL_DEFAULT_SENDER", "转型包服务平台 <noreply@marketplace.localhost>"
        )
        self.MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "10"))  # seconds per SMTP call
        self.MAIL_MAX_ATTEMPTS = int(os.environ.get("MAIL_MAX_ATTEMPTS", "5"))
        self.MAIL_CLAIM_MINUTES = int(os.environ.get("MAIL_CLAIM_MINUTES", "10"))

        # The job queue (Celery): the broker (Redis in production, e.g. redis://host:6379/1);
        # without one, tasks are not sent anywhere (the CLI commands still run the jobs).
        self.CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
        self.CELERY_BEAT_SCHEDULE_FILE = os.environ.get(
            "CELERY_BEAT_SCHEDULE_FILE", str(Path(self.INSTANCE_PATH) / "celerybeat-schedule")
        )
        self.JOB_TIME_LIMIT = int(os.environ.get("JOB_TIME_LIMIT", 300))  # seconds per task
        # Sweep intervals other than marketplace/tasks.py's, as "refunds=3,..." (seconds); a
        # sweep's period follows its interval. Empty: the defaults (tests speed them up).
        self.JOB_SCHEDULE = os.environ.get("JOB_SCHEDULE", "")
        # The broker transport's options (JSON). With Redis, "visibility_timeout" (seconds,
        # 3600 by default) is how long a message a worker took stays invisible to the others:
        # a worker that died without acknowledging its task has it run again after that. Keep
        # it above the longest task and the longest retry countdown.
        self.CELERY_BROKER_TRANSPORT_OPTIONS = json.loads(
            os.environ.get("CELERY_BROKER_TRANSPORT_OPTIONS", "") or "{}"
        )
        self.JOB_MAX_RETRIES = int(os.environ.get("JOB_MAX_RETRIES", 5))

        self.BABEL_DEFAULT_LOCALE = "zh"
        self.BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
        self.BABEL_TRANSLATION_DIRECTORIES = str(PACKAGE / "translations")
        self.LANGUAGES = ("zh", "en")
        self.WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session
        self.TESTING = False
        self.DEBUG = False
        # `seed-demo --reset` drops every table, audit trail included: only on demo databases.
        self.DEMO_RESET_ALLOWED = _env_bool("DEMO_RESET_ALLOWED", False)

        # Operations (README.md, Operations): logs, readiness, metrics, error reports.
        self.LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")  # json | text
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
        self.REDIS_URL = os.environ.get("REDIS_URL", "")  # /readyz checks it when set
        # Who may read /metrics: comma-separated addresses or networks (others get 404).
        self.METRICS_ALLOWED = os.environ.get("METRICS_ALLOWED", "127.0.0.1/32,::1/128")
        self.SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
        self.SENTRY_TRACES_SAMPLE_RATE = float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0"))
        self.SENTRY_ENVIRONMENT = os.environ.get("MARKETPLACE_ENV", "production")

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k.isupper()}


class DevConfig(Config):
    """`make run`: a local SQLite demo with a stable development key."""

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = self.SECRET_KEY or "dev-only-not-secret"
        self.DATABASE_URL = self.DATABASE_URL or dev_database_url(self.INSTANCE_PATH)
        self.DEMO_RESET_ALLOWED = True
        self.LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
        # No Redis needed: the broker is a second SQLite file beside the demo database.
        self.CELERY_BROKER_URL = self.CELERY_BROKER_URL or (
            f"sqla+sqlite:///{Path(self.INSTANCE_PATH) / 'broker.sqlite3'}"
        )


def from_environment() -> Config:
    """The settings ``MARKETPLACE_ENV`` asks for: ``development`` (``make run``) or production."""
    return DevConfig() if os.environ.get("MARKETPLACE_ENV") == "development" else Config()


class TestConfig(Config):
    __test__ = False  # not a pytest test class

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.SECRET_KEY = "test-secret-key"
        self.DATABASE_URL = database_url
        self.TESTING = True
        self.DEMO_RESET_ALLOWED = True
        self.RATELIMIT_STORAGE_URI = "memory://"
        self.STATS_CACHE_SECONDS = 0  # tests reuse ids across rolled-back transactions
        # Cheap hashes keep the suite fast; production parameters are tested separately.
        self.PASSWORD_HASH = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
        # Tests never report to Sentry and check only the services they name.
        self.LOG_FORMAT = "text"
        self.SENTRY_DSN = ""
        self.REDIS_URL = ""
