"""The marketplace application factory."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix

from marketplace import observability, security, shared_cache
from marketplace.cache import BoundedCache
from marketplace.config import Config, from_environment, startup_refusal
from marketplace.db import db as database
from marketplace.db import write_intent
from marketplace.extensions import babel, csrf, htmx, limiter, login_manager
from marketplace.money import format_fen, yuan_text
from marketplace.rendering import forget_per_request, highlight


def _count_queries(app: Flask) -> None:
    """For the benchmarks: each response says how many SQL statements it took."""
    from flask import g
    from sqlalchemy import event

    def count(*_args: object) -> None:
        if has_request_context():
            g.sql_queries = g.get("sql_queries", 0) + 1

    event.listen(app.extensions["db"].engine, "before_cursor_execute", count)

    @app.after_request
    def _header(response: Response) -> Response:
        from flask import g

        response.headers["X-Query-Count"] = str(g.get("sql_queries", 0))
        return response


def create_app(config: Config | None = None) -> Flask:
    """The app with these settings; without any, the ones the environment asks for (this is
    what ``flask --app marketplace`` and ``gunicorn 'marketplace:create_app()'`` call)."""
    config = config if config is not None else from_environment()
    # templates/ and static/ are the package's own folders (Flask's defaults, beside this
    # file); the instance folder is outside the package (see config.default_instance_path).
    app = Flask(
        __name__,
        template_folder="templates",
        static_folder="static",
        instance_path=config.INSTANCE_PATH,
    )
    with contextlib.suppress(OSError):  # only SQLite files and beat's schedule need it
        os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config.as_dict())
    refusal = startup_refusal(app.config)
    if refusal:
        raise RuntimeError(refusal)
    if app.config["PROXY_COUNT"]:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=app.config["PROXY_COUNT"]
        )

    app.session_interface = SessionInterface()
    app.url_map.converters["id"] = security.IdConverter
    app.url_map.converters["any_id"] = security.AnyIdConverter
    app.url_map.converters["order_number"] = security.OrderNumberConverter
    database.init_app(app)
    observability.init_app(app)  # logs, request ids, /healthz, /readyz, /metrics, Sentry
    if app.config.get("COUNT_QUERIES"):
        _count_queries(app)
    _init_extensions(app)
    _register_blueprints(app)
    from marketplace import jobs

    jobs.init_app(app)
    from marketplace.outcomes import services as outcomes

    outcomes.connect()
    from marketplace.oversight import granted

    granted.connect()
    from marketplace.oversight import track_record

    track_record.connect()
    from marketplace.diagnosis import sharing
    from marketplace.vouchers import programmes

    sharing.agencies_with(programmes.agencies_of)
    from marketplace.orders import services as orders
    from marketplace.vouchers import admission, caps

    admission.connect()
    caps.routed_lines_from(orders.routed_lines)
    from marketplace.orders import views as journey

    journey.connect()
    _register_request_hooks(app)
    _register_template_helpers(app)

    from marketplace.errors_views import register_error_handlers

    register_error_handlers(app)

    from marketplace.cli import register_cli

    register_cli(app)
    return app


LANGUAGE_COOKIE = "lang"


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = bool(app.config["SESSION_COOKIE_SECURE"])
        return configured or (has_request_context() and request.is_secure)


def select_locale() -> str:
    if not has_request_context():  # CLI commands speak the default language
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    languages: tuple[str, ...] = current_app.config["LANGUAGES"]
    if request.path.startswith("/api/v1/"):
        # Integrations: English unless the client asks for Chinese; no cookies.
        return request.accept_languages.best_match(languages, default="en") or "en"
    lang = request.cookies.get(LANGUAGE_COOKIE, "")
    return lang if lang in languages else str(current_app.config["BABEL_DEFAULT_LOCALE"])


def _init_extensions(app: Flask) -> None:
    from marketplace.accounts import passwords, services

    babel.init_app(app, locale_selector=select_locale)
    app.extensions["catalogue_cache"] = BoundedCache(app.config["CATALOGUE_CACHE_SIZE"])
    app.extensions["card_cache"] = BoundedCache(app.config["CARD_CACHE_SIZE"])
    app.extensions["shared_cache"] = shared_cache.from_settings(
        app.config["REDIS_URL"], app.config["CACHE_KEY_PREFIX"]
    )
    csrf.init_app(app)
    htmx.init_app(app)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    # One Limiter serves every app of a process (the tests make several), and Flask-Limiter
    # keeps its on/off switch on the Limiter: an app made with limits off switched them off for
    # every other app. Each app's own setting is asked per request instead (extensions.py).
    app.extensions["rate_limits_on"] = bool(app.config["RATELIMIT_ENABLED"])
    app.config["RATELIMIT_ENABLED"] = True
    limiter.init_app(app)
    passwords.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please log in to open this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(services.load_user)


def _register_blueprints(app: Flask) -> None:
    from marketplace.accounts.admin_views import bp as admin_bp
    from marketplace.accounts.verification_views import bp as verification_bp
    from marketplace.accounts.views import bp as accounts_bp
    from marketplace.accounts.views import org_bp
    from marketplace.api import views as _api_views  # noqa: F401  (declares the endpoints)
    from marketplace.api.core import bp as api_bp
    from marketplace.api.core import register as register_api
    from marketplace.api.docs import docs_bp
    from marketplace.catalog.views import bp as catalog_bp
    from marketplace.catalog.views import workspace as workspace_bp
    from marketplace.diagnosis.advisor_views import bp as advisors_bp
    from marketplace.diagnosis.views import bp as diagnosis_bp
    from marketplace.home.views import bp as home_bp
    from marketplace.orders.dispute_views import bp as disputes_bp
    from marketplace.orders.need_views import bp as needs_bp
    from marketplace.orders.trial_views import bp as trials_bp
    from marketplace.orders.views import bp as journey_bp
    from marketplace.outcomes.case_views import bp as cases_bp
    from marketplace.outcomes.views import bp as outcomes_bp
    from marketplace.oversight.data_views import bp as data_bp
    from marketplace.oversight.evaluation_views import bp as evaluation_bp
    from marketplace.oversight.views import bp as oversight_bp
    from marketplace.payments.views import bp as payments_bp
    from marketplace.pool.views import bp as pool_bp
    from marketplace.vouchers.views import bp as vouchers_bp

    app.register_blueprint(home_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(org_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(verification_bp)
    app.register_blueprint(pool_bp)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(workspace_bp)
    app.register_blueprint(diagnosis_bp)
    app.register_blueprint(advisors_bp)
    app.register_blueprint(journey_bp)
    app.register_blueprint(disputes_bp)
    app.register_blueprint(needs_bp)
    app.register_blueprint(trials_bp)
    app.register_blueprint(vouchers_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(outcomes_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(oversight_bp)
    app.register_blueprint(evaluation_bp)
    app.register_blueprint(data_bp)
    register_api(app)
    app.register_blueprint(api_bp)
    app.register_blueprint(docs_bp)


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _declare_writes() -> None:
        # First: it must run before anything reads the database in this request. Some reads
        # write too: a token's last use, a view of granted data (the access log).
        view = app.view_functions.get(request.endpoint or "")
        write_intent.set(
            request.method not in ("GET", "HEAD", "OPTIONS")
            or getattr(view, "writes_on_read", False)
            or (request.path.startswith("/api/v1/") and "Authorization" in request.headers)
        )

    @app.before_request
    def _reads_only() -> None:
        # after the writes' declaration (SQLite's BEGIN reads it), before any read
        view = app.view_functions.get(request.endpoint or "")
        if getattr(view, "reads_only", False) and not write_intent.get():
            database.read_only()

    @app.before_request
    def _idle_timeout() -> ResponseReturnValue | None:
        if not current_user.is_authenticated:
            return None
        now = time.time()
        seen = session.get("seen", now)
        if now - seen > app.config["IDLE_TIMEOUT"].total_seconds():
            logout_user()
            session.clear()
            flash(_l("You were logged out after a period of inactivity."), "info")
            return redirect(url_for("accounts.login"))
        if now - seen > 30 or "seen" not in session:
            session["seen"] = now
        return None

    app.before_request(security.enforce_access)
    app.before_request(security.refuse_nul_bytes)
    app.teardown_request(forget_per_request)  # the template helpers' answers of this request

    @app.after_request
    def _finish(response: Response) -> Response:
        """The one place that commits: a successful response commits, any error rolls back."""
        if response.status_code < 400:
            database.session.commit()
        else:
            database.session.rollback()
        return security.set_security_headers(response)


def _register_template_helpers(app: Flask) -> None:
    from marketplace import notifications
    from marketplace.audit import action_label

    app.jinja_env.filters["money"] = format_fen
    app.jinja_env.filters["yuan"] = yuan_text
    app.jinja_env.filters["highlight"] = highlight
    app.jinja_env.filters["decimal"] = lambda value: (
        f"{value.normalize():f}" if value is not None else ""
    )
    app.jinja_env.filters["date"] = lambda value, fmt="medium": (
        format_date(value, fmt) if value else ""
    )
    app.jinja_env.globals["audit_label"] = action_label
    app.jinja_env.globals["unread_notifications"] = notifications.unread_for_current_org
    app.jinja_env.filters["datetime"] = lambda value, fmt="medium": (
        format_datetime(value, fmt) if value else ""
    )

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = str(get_locale() or "zh")
        return {
            "locale": locale,
            "html_lang": "en" if locale == "en" else "zh-CN",
            "htmx_request": bool(htmx),
            "g": g,
        }
