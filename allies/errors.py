"""Errors an operation raises when a request cannot be carried out; views show the message."""


class OperationError(Exception):
    """A use case refused: the message is safe and useful to show to the user."""
