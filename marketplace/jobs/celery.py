"""``celery -A marketplace.jobs worker`` / ``beat``: the Celery app of the Flask app built from
the environment (the same settings as the web process)."""

from marketplace import create_app
from marketplace.config import from_environment

flask_app = create_app(from_environment())
app = flask_app.extensions["celery"]
