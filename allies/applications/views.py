"""Views of the applications blueprint."""

from flask import Blueprint

bp = Blueprint("applications", __name__)
