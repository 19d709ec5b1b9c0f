"""The alliance's clock: one source of today's date for pages, operations and the sweep.

Today is the calendar date in the alliance's time zone, unless the instance's clock is set:
config ``TODAY`` (env ``ALLIES_TODAY=YYYY-MM-DD``) fixes the date, so a staging or demo instance
can show pages, renewals and the sweep as of another day. It is parsed once at start-up (a
malformed value stops the start), refused in production (allies/deploy.py), and announced by a
banner on every page while set. Only the date moves: timestamps (``timeutil.utcnow``) and the
reminder hour stay on the real clock.
"""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

CONFIG_KEY = "TODAY"
ENV_NAME = "ALLIES_TODAY"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ClockError(RuntimeError):
    """The configured date is not a date."""


def parse_today(value) -> date | None:
    """The configured fixed date: None when unset (missing or empty), else a ``date``.

    Accepts a ``date`` (or ``datetime``, its date is taken) or a string ``YYYY-MM-DD``; anything
    else raises ClockError with a message for the operator.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _ISO_DATE.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
    raise ClockError(
        f"{ENV_NAME} must be a calendar date written YYYY-MM-DD (for example 2028-11-23), "
        f"not {value!r}. Unset it to use the real date."
    )


def fixed_today(config=None) -> date | None:
    """The date the instance's clock is set to, or None when it follows the real date."""
    config = current_app.config if config is None else config
    value = config.get(CONFIG_KEY)
    if value is None or type(value) is date:
        return value
    return parse_today(value)  # set after start-up (tests): parse it here


def real_today(zone: ZoneInfo | None = None) -> date:
    """The real calendar date in the alliance's time zone, whatever the clock is set to."""
    return datetime.now(zone or ZoneInfo(current_app.config["TIMEZONE"])).date()


def today() -> date:
    """Today for the whole app: the configured date when set, else the real date in the zone."""
    fixed = fixed_today()
    return fixed if fixed is not None else real_today()


def long_day(day: date) -> str:
    """``23 November 2028``."""
    return f"{day.day} {day:%B %Y}"


def init_app(app) -> None:
    """Parse the configured date once (refusing a malformed one) and show the page banner."""
    try:
        app.config[CONFIG_KEY] = parse_today(app.config.get(CONFIG_KEY))
    except ClockError as exc:
        raise RuntimeError(f"Refusing to start: {exc}") from None

    @app.context_processor
    def inject_clock():
        fixed = fixed_today(app.config)
        if fixed is None:
            return {"clock_banner": None}
        return {
            "clock_banner": (
                f"This instance's clock is set to {long_day(fixed)} ({ENV_NAME}); "
                "it is not today's date."
            )
        }
