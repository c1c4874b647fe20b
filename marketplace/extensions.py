"""Extensions created at module level and bound to the app in ``create_app``."""

from __future__ import annotations

from flask import current_app
from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
htmx = HTMX()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address)


@limiter.request_filter
def _limits_switched_off() -> bool:
    """This app's RATELIMIT_ENABLED, asked per request (see ``create_app``)."""
    return not current_app.extensions.get("rate_limits_on", True)
