"""Views of the organizations blueprint."""

from flask import Blueprint

bp = Blueprint("organizations", __name__)
