"""Views of the conferences blueprint."""

from flask import Blueprint

bp = Blueprint("conferences", __name__)
