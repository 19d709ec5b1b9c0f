"""Alliance-wide settings admins edit: one place for names, colours and the reminder schedule."""

import json

from allies.agreements.standing import DEFAULT_GRACE_DAYS
from allies.extensions import db
from allies.staff.models import Setting

DEFAULTS = {
    "alliance_name": "Social Mission Alliance",
    "alliance_short_name": "SMA",
    "alliance_tagline": "Health professions education in which social mission drives health equity.",
    "brand_color": "#0b5563",
    "accent_color": "#c2410c",
    "contact_email": "allies@example.org",
    "reminder_hour": 8,
    "reminder_offsets": [90, 30, 7],
    "grace_days": DEFAULT_GRACE_DAYS,
    "digest_weekday": 0,
    "staff_digest_email": "",
    # The alliance's own logo: a stored logo's file name (organizations/profile.py), or empty.
    "alliance_logo": "",
}


def get_setting(key: str):
    """The stored value of ``key``, or its default."""
    row = db.session.get(Setting, key)
    return row.value if row is not None else DEFAULTS[key]


def all_settings() -> dict:
    """Every setting with defaults filled in, read in one query."""
    values = dict(DEFAULTS)
    for row in db.session.scalars(db.select(Setting)):
        if row.key in values:
            values[row.key] = row.value
    return values


def set_setting(key: str, value) -> None:
    """Stage a new value for ``key``; the caller commits."""
    if key not in DEFAULTS:
        raise KeyError(key)
    row = db.session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value_json="null")
        db.session.add(row)
    row.value_json = json.dumps(value)
