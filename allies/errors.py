"""Errors an operation raises when a request cannot be carried out; views show the message."""

from functools import wraps


class OperationError(Exception):
    """A use case refused: the message is safe and useful to show to the user."""


def operation(function):
    """Mark a use case as the owner of its transaction.

    It commits once when it succeeds; when it refuses (OperationError) whatever it had staged is
    rolled back here, so views never roll back.
    """

    @wraps(function)
    def wrapped(*args, **kwargs):
        from allies.extensions import db

        try:
            return function(*args, **kwargs)
        except OperationError:
            db.session.rollback()
            raise

    return wrapped
