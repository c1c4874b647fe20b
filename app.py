"""Entry point for ``flask --app app`` and ``gunicorn app:app`` from a checkout (an installed
package is run as ``flask --app marketplace`` and ``gunicorn 'marketplace:create_app()'``)."""

from marketplace import create_app

app = create_app()  # the settings MARKETPLACE_ENV asks for (config.from_environment)
