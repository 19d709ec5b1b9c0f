"""Signed, expiring, single-use links by which contacts sign in (they have no password).

``SignInLink.used_at`` is set when a link is used, or when newer links retire it: a contact holds
at most LIVE_LINKS_PER_CONTACT live links of each purpose.
"""

import secrets
from collections import Counter
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from allies.bulk import insert_rows
from allies.extensions import db
from allies.organizations.models import SignInLink
from allies.timeutil import utcnow

PURPOSES = ("sign-in", "renewal")


class InvalidLink(Exception):
    """The link is tampered with, expired, used or retired, or made for another purpose."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"allies-link-{purpose}")


def _max_age(purpose: str) -> int:
    key = "RENEWAL_LINK_MAX_AGE" if purpose == "renewal" else "SIGN_IN_LINK_MAX_AGE"
    return current_app.config[key]


def make_link_token(contact, purpose: str = "sign-in", agreement=None, now=None) -> str:
    """Stage a link row for ``contact`` and return its signed token; the caller commits.

    A contact holds at most LIVE_LINKS_PER_CONTACT unused, unexpired links of each purpose: the
    oldest beyond that are retired (marked used) as this one is made. ``now`` (naive UTC) is for
    tests that travel in time.
    """
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    now = now or utcnow()
    _retire_oldest_live(contact, purpose, now)
    link = SignInLink(
        nonce=secrets.token_urlsafe(24),
        contact=contact,
        purpose=purpose,
        agreement_id=agreement.id if agreement is not None else None,
        created_at=now,
    )
    db.session.add(link)
    return _serializer(purpose).dumps({"n": link.nonce})


def make_link_tokens(requests: list[tuple[int, int | None]], purpose: str, now=None) -> list[str]:
    """``make_link_token`` for many links at once, for bursts (the reminder sweep's batches).

    ``requests`` holds (contact id, agreement id or None) pairs; returns their tokens in order.
    The same rule as one link at a time, a contact keeping at most LIVE_LINKS_PER_CONTACT live
    links of each purpose with the oldest retired, in one query, one UPDATE and one INSERT.
    Stages the rows; the caller commits.
    """
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    if not requests:
        return []
    now = now or utcnow()
    limit = max(int(current_app.config["LIVE_LINKS_PER_CONTACT"]), 1)
    new = Counter(contact_id for contact_id, _agreement_id in requests)
    kept: Counter = Counter()
    retired = []
    contact_ids = sorted(new)
    for start in range(0, len(contact_ids), 500):
        live = db.session.execute(
            db.select(SignInLink.id, SignInLink.contact_id)
            .where(
                SignInLink.contact_id.in_(contact_ids[start : start + 500]),
                SignInLink.purpose == purpose,
                SignInLink.used_at.is_(None),
                SignInLink.created_at > now - timedelta(seconds=_max_age(purpose)),
            )
            .order_by(SignInLink.contact_id, SignInLink.created_at.desc(), SignInLink.id.desc())
        )
        for link_id, contact_id in live:
            if kept[contact_id] < limit - new[contact_id]:
                kept[contact_id] += 1
            else:
                retired.append(link_id)
    for start in range(0, len(retired), 500):
        db.session.execute(
            db.update(SignInLink)
            .where(SignInLink.id.in_(retired[start : start + 500]), SignInLink.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
    serializer = _serializer(purpose)
    made: Counter = Counter()
    rows, tokens = [], []
    for contact_id, agreement_id in requests:
        made[contact_id] += 1
        nonce = secrets.token_urlsafe(24)
        rows.append(
            {
                "nonce": nonce,
                "contact_id": contact_id,
                "purpose": purpose,
                "agreement_id": agreement_id,
                "created_at": now,
                # More new links for one contact than it may hold: the earliest are retired at
                # once, as they would be one after another.
                "used_at": now if new[contact_id] - made[contact_id] >= limit else None,
            }
        )
        tokens.append(serializer.dumps({"n": nonce}))
    insert_rows(SignInLink.__table__, rows)
    return tokens


def _retire_oldest_live(contact, purpose: str, now) -> None:
    """Leave room for one more live link of ``purpose``: stage the retirement of the oldest."""
    if contact.id is None:  # a contact being created has no links yet
        return
    room = max(int(current_app.config["LIVE_LINKS_PER_CONTACT"]), 1) - 1
    oldest = list(
        db.session.scalars(
            db.select(SignInLink.id)
            .where(
                SignInLink.contact_id == contact.id,
                SignInLink.purpose == purpose,
                SignInLink.used_at.is_(None),
                SignInLink.created_at > now - timedelta(seconds=_max_age(purpose)),
            )
            .order_by(SignInLink.created_at.desc(), SignInLink.id.desc())
            .offset(room)
        )
    )
    if oldest:
        db.session.execute(
            db.update(SignInLink)
            .where(SignInLink.id.in_(oldest), SignInLink.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )


def consume_link_token(token: str, purpose: str, now=None) -> SignInLink:
    """Check and use up a token: returns its link row, or raises InvalidLink.

    ``now`` (a naive-UTC datetime) is for tests that travel in time.
    """
    serializer = _serializer(purpose)
    try:
        if now is None:
            payload = serializer.loads(token, max_age=_max_age(purpose))
        else:
            payload, signed_at = serializer.loads(token, return_timestamp=True)
            if (now - signed_at.replace(tzinfo=None)).total_seconds() > _max_age(purpose):
                raise InvalidLink("expired")
    except BadSignature as exc:
        raise InvalidLink(str(exc)) from None
    nonce = payload.get("n") if isinstance(payload, dict) else None
    # An atomic conditional update: of two simultaneous clicks exactly one wins.
    used = db.session.execute(
        db.update(SignInLink)
        .where(
            SignInLink.nonce == str(nonce),
            SignInLink.purpose == purpose,
            SignInLink.used_at.is_(None),
        )
        .values(used_at=now or utcnow())
    )
    if used.rowcount != 1:
        db.session.rollback()
        raise InvalidLink("used or unknown")
    link = db.session.scalar(db.select(SignInLink).where(SignInLink.nonce == str(nonce)))
    db.session.commit()
    return link
