"""The signed link in a conference invitation, by which an Ally answers.

One link per (conference, organization), signed with the app's secret key and a salt of its
own, so no other token of the app is accepted here. It carries no time of its own: it is good
until the conference ends, and that is checked at use against the conference's end date in
the alliance's calendar (so moving the conference moves the links' expiry with it).
"""

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "allies-conference-answer"


class InvalidAnswerLink(Exception):
    """The link was tampered with, or made for another conference or no invitation."""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def answer_token(conference_id: int, organization_id: int) -> str:
    """The token of the answer link for one organization's invitation to one conference."""
    return _serializer().dumps({"c": conference_id, "o": organization_id})


def organization_of_token(conference_id: int, token: str) -> int:
    """The organization id an answer token was made for, if it was made for ``conference_id``.

    Raises InvalidAnswerLink for a token that is tampered with, malformed, or another
    conference's.
    """
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        raise InvalidAnswerLink() from None
    if (
        not isinstance(payload, dict)
        or payload.get("c") != conference_id
        or not isinstance(payload.get("o"), int)
    ):
        raise InvalidAnswerLink()
    return payload["o"]
