"""Views of the mail blueprint."""

from flask import Blueprint

bp = Blueprint("mail", __name__, url_prefix="/staff/outbox")
