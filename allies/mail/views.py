"""Staff pages of the outbox: every message, its status, and a retry for failed ones."""

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from allies.errors import OperationError
from allies.extensions import db
from allies.mail import sender
from allies.mail.models import OUTBOX_STATES, OutboxMessage
from allies.mail.outbox import has_links, redact_link_tokens
from allies.staff.access import staff_required

bp = Blueprint("mail", __name__, url_prefix="/staff/outbox")

PER_PAGE = 50

# The HTML body of an email is shown in a sandboxed frame: no scripts, no forms, no plugins, no
# network (remote images and tracking pixels are not loaded), only framed by our own pages.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "sandbox; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def _message_or_404(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        abort(404)
    return message


@bp.get("")
@staff_required
def index():
    """Messages newest first, filtered by status, a page at a time, with counts per status."""
    status = request.args.get("status") or None
    if status is not None and status not in OUTBOX_STATES:
        status = None
    page = request.args.get("page", 1, type=int) or 1
    page = max(page, 1)
    counts = sender.summarize_outbox()
    total = counts[status] if status else sum(counts.values())
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    page = min(page, pages)
    messages = sender.recent_messages(status=status, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return render_template(
        "mail/index.html",
        messages=messages,
        counts=counts,
        states=OUTBOX_STATES,
        status=status,
        page=page,
        pages=pages,
        total=total,
    )


@bp.get("/<int:message_id>")
@staff_required
def show(message_id: int):
    """One message: headers, delivery state, text body, and the HTML body in a sandbox.

    No staff role sees the token of a sign-in or renewal link, delivered or not: it signs its
    holder in as the contact.
    """
    message = _message_or_404(message_id)
    return render_template(
        "mail/show.html",
        message=message,
        body_text=redact_link_tokens(message.body_text),
        body_html=redact_link_tokens(message.body_html),
        has_links=has_links(message.body_text) or has_links(message.body_html),
    )


@bp.get("/<int:message_id>/preview")
@staff_required
def preview(message_id: int):
    """The HTML body alone (link tokens hidden), for the sandboxed frame on the message page."""
    message = _message_or_404(message_id)
    response = make_response(redact_link_tokens(message.body_html))
    response.mimetype = "text/html"
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/<int:message_id>/retry")
@staff_required
def retry(message_id: int):
    """Queue a failed message again."""
    message = _message_or_404(message_id)
    try:
        sender.retry_message(message, staff=current_user._get_current_object())
    except OperationError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Message #{message.id} to {message.to_addr} will be sent again.", "success")
    return redirect(url_for(".show", message_id=message.id))
