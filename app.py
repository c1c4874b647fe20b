"""Entry point for ``flask --app app`` and ``gunicorn app:app``."""

from marketplace import create_app
from marketplace.config import from_environment

app = create_app(from_environment())
