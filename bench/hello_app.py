"""A bare Flask endpoint: the yardstick for the /allies page benchmarks.

``GET /hello`` answers "hello", or, when ``ALLIES_BENCH_BODY`` names a file, that file's bytes as
HTML (bench/allies_page.py saves the /allies page there, so both send the same bytes). The file is
read once, when the module is imported, so a request does no more than Flask's own work.
"""

import os

from flask import Flask

app = Flask(__name__)

_BODY_FILE = os.environ.get("ALLIES_BENCH_BODY")
if _BODY_FILE:
    with open(_BODY_FILE, "rb") as handle:
        BODY, MIMETYPE = handle.read(), "text/html"
else:
    BODY, MIMETYPE = b"hello", "text/plain"


@app.get("/hello")
def hello():
    """The prepared bytes, nothing else."""
    return app.response_class(BODY, mimetype=MIMETYPE)
