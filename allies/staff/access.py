"""Who may open staff pages: decorators for views (reviewers and admins)."""

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def staff_required(view):
    """Any signed-in, enabled staff member (reviewer or admin)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        return view(*args, **kwargs)

    wrapped.required_role = "reviewer"
    return wrapped


def admin_required(view):
    """Admins only; reviewers get 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    wrapped.required_role = "admin"
    return wrapped
