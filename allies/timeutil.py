"""Clock helpers: timestamps are naive UTC in the database; dates are in the alliance's zone."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

from allies import clock


def utcnow() -> datetime:
    """The current time as a naive UTC datetime, the form every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def alliance_zone() -> ZoneInfo:
    """The alliance's time zone (setting ``TIMEZONE``, env ``ALLIES_TIMEZONE``)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def alliance_today() -> date:
    """Today's calendar date in the alliance's time zone: the one clock (allies/clock.py).

    When the instance's clock is set (``ALLIES_TODAY``, never in production) this is that date.
    """
    return clock.today()


def to_local(moment: datetime | None) -> datetime | None:
    """A stored naive-UTC timestamp shown in the alliance's zone."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(alliance_zone())


def local_date_to_utc(day: date) -> datetime:
    """Noon of a calendar date in the alliance's zone, as a naive-UTC timestamp.

    Noon, so the stored moment shows as that same date in the zone whatever the DST offset.
    """
    local = datetime.combine(day, datetime.min.time()).replace(hour=12, tzinfo=alliance_zone())
    return local.astimezone(UTC).replace(tzinfo=None)
