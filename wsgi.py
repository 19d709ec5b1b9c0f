"""The WSGI entry point: gunicorn and ``flask --app wsgi`` use ``app``."""

from allies import create_app

app = create_app()
