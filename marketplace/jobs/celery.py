"""``celery -A marketplace.jobs worker`` / ``beat``: the Celery app of the Flask app built from
the environment (the same settings as the web process)."""

from marketplace import create_app

flask_app = create_app()  # config.from_environment()
app = flask_app.extensions["celery"]
