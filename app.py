"""Entry point for ``flask --app app`` and ``gunicorn app:app`` from a checkout (an installed
package is run as ``flask --app marketplace`` and ``gunicorn 'marketplace:create_app()'``)."""

import gc

from marketplace import create_app

app = create_app()  # the settings MARKETPLACE_ENV asks for (config.from_environment)
# What the app has loaded lives as long as the process: the collector need not look at it
# again in every full collection (deploy/gunicorn.conf.py does the same in each worker).
gc.freeze()
