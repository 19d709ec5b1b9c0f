"""Bounded inputs: integers from URLs and query strings stay within what the database can store.

Every id column is a PostgreSQL ``integer`` (at most 2^31 - 1; SQLite stops at 2^63 - 1), so a
larger number in a URL or a query string would fail in the database, as a 500. Here is the one
bound: ``<int:…>`` in every URL rule matches only 0..MAX_INT (anything else is a 404 like any
unknown path), and ``int_arg`` reads integer query parameters the same way.
"""

import builtins
import re

from flask import abort, request
from werkzeug.routing import IntegerConverter, ValidationError

# The largest value of a PostgreSQL ``integer``, the type of every id in the database.
MAX_INT = 2**31 - 1
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` that matches only whole numbers from 0 (or the rule's min) to MAX_INT."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002
        lowest = -MAX_INT - 1 if signed else 0
        super().__init__(
            map,
            fixed_digits=fixed_digits,
            min=lowest if min is None else builtins.max(min, lowest),
            max=MAX_INT if max is None else builtins.min(max, MAX_INT),
            signed=signed,
        )

    def to_python(self, value: str) -> int:
        # Too many digits to be in range: refused before int() (which refuses 4,300+ digits).
        if len(value.lstrip("-0")) > len(str(MAX_INT)):
            raise ValidationError()
        return super().to_python(value)


def int_arg(name: str, default: int | None = None, *, minimum: int = 0, maximum: int = MAX_INT):
    """The whole-number query parameter ``name``.

    Absent, empty or not a whole number (``abc``, ``1.5``): ``default``, as if it were not
    given. A whole number outside ``minimum``..``maximum`` names nothing that can exist (an id
    past MAX_INT, page 0): the request is answered 404.
    """
    raw = (request.args.get(name) or "").strip()
    if not _WHOLE_NUMBER.fullmatch(raw):
        return default
    if len(raw.lstrip("-0")) > len(str(MAX_INT)):
        abort(404)
    value = int(raw)
    if not minimum <= value <= maximum:
        abort(404)
    return value


def init_app(app) -> None:
    """Register the bounded converter as ``int``, before any blueprint adds its rules."""
    app.url_map.converters["int"] = BoundedIntegerConverter
