"""Entry point for ``flask --app app`` and ``gunicorn app:app``."""

import os

from marketplace import create_app
from marketplace.config import Config, DevConfig

app = create_app(DevConfig() if os.environ.get("MARKETPLACE_ENV") == "development" else Config())
