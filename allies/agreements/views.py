"""Views of the agreements blueprint."""

from flask import Blueprint

bp = Blueprint("agreements", __name__, url_prefix="/staff/agreements")
