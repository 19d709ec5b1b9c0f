"""An Ally's standing: the one module that decides it.

Whether a term is current, renewing, renewable, terminable or listed, and what it is called, is
decided here and nowhere else; pages, operations, the reminder sweep and the queries ask this
module. Each rule has a Python form (for one term in memory) and, where queries need it, a named
SQL clause; property tests check the two forms agree on generated dates.

The rules, from DESIGN.md:

- ``upcoming`` before the term starts; ``active`` during it; ``expiring`` in its last
  RENEWAL_WINDOW_DAYS days, when renewal is open; ``grace`` after the end for the grace period
  (still listed, "renewal in progress"); ``lapsed`` after that.
- ``terminated`` from the day staff ended it early; ``renewed`` from the approval of its
  successor on, even before the old term ends.
- A term keeps its organization on the public page from its start until its grace runs out,
  unless it is terminated or a successor has started (which then speaks for the organization).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from flask_babel import gettext as _
from sqlalchemy import and_, exists, or_
from sqlalchemy.orm import aliased

from allies.agreements.models import Agreement
from allies.extensions import db
from allies.i18n import long_date as i18n_long_date

# Renewal opens, and a term reads "expiring", this many days before the term ends.
RENEWAL_WINDOW_DAYS = 90
# After its end a term stays listed as "renewal in progress" this many days (an admin setting).
DEFAULT_GRACE_DAYS = 30


class Status(StrEnum):
    """The derived status of one term on one day."""

    UPCOMING = "upcoming"
    ACTIVE = "active"
    EXPIRING = "expiring"
    GRACE = "grace"
    LAPSED = "lapsed"
    TERMINATED = "terminated"
    RENEWED = "renewed"


# --- dates -------------------------------------------------------------------------------------


def lapse_date(end: date, grace_days: int) -> date:
    """The first day on which a term ending on ``end`` is lapsed."""
    return end + timedelta(days=grace_days + 1)


def grace_end(end: date, grace_days: int) -> date:
    """The last day of the grace period after a term ending on ``end``."""
    return lapse_date(end, grace_days) - timedelta(days=1)


def renewal_opens_on(end: date) -> date:
    """The first day on which a term ending on ``end`` may be renewed."""
    return end - timedelta(days=RENEWAL_WINDOW_DAYS)


def days_to_end(end: date, today: date) -> int:
    """Whole days from ``today`` to the last day of the term (negative once it has ended)."""
    return (end - today).days


def has_ended(end: date, today: date) -> bool:
    """Whether the term's last day is behind ``today``."""
    return days_to_end(end, today) < 0


def grace_days_setting() -> int:
    """The grace period in force (the admin setting)."""
    from allies.staff.settings import get_setting

    return int(get_setting("grace_days"))


# --- one term, in Python -------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """The facts about one term that its standing depends on."""

    start: date
    end: date
    terminated_on: date | None = None
    successor_start: date | None = None  # the start of the approved renewal, if any

    @classmethod
    def of(cls, agreement: Agreement) -> "Term":
        """The facts of a stored agreement."""
        successor = agreement.successor
        return cls(
            start=agreement.start_date,
            end=agreement.end_date,
            terminated_on=agreement.terminated_on,
            successor_start=successor.start_date if successor is not None else None,
        )


def status(term: Term, today: date, grace_days: int) -> Status:
    """The status of ``term`` on ``today``."""
    if term.terminated_on is not None and term.terminated_on <= today:
        return Status.TERMINATED
    if term.successor_start is not None:
        return Status.RENEWED
    if today < term.start:
        return Status.UPCOMING
    if today <= term.end:
        if today >= renewal_opens_on(term.end):
            return Status.EXPIRING
        return Status.ACTIVE
    if today < lapse_date(term.end, grace_days):
        return Status.GRACE
    return Status.LAPSED


def is_listed(term: Term, today: date, grace_days: int) -> bool:
    """Whether ``term`` keeps its organization on the public page on ``today``."""
    return (
        term.start <= today < lapse_date(term.end, grace_days)
        and (term.terminated_on is None or term.terminated_on > today)
        and (term.successor_start is None or term.successor_start > today)
    )


def is_renewing(term: Term, today: date, grace_days: int) -> bool:
    """Whether ``term`` is listed as "renewal in progress": ended, in its grace period."""
    return status(term, today, grace_days) is Status.GRACE


def is_live(term: Term) -> bool:
    """Neither terminated (even from a later day) nor succeeded: reminders still concern it."""
    return term.terminated_on is None and term.successor_start is None


def ends_within(term: Term, today: date, days: int) -> bool:
    """A live term whose last day falls between ``today`` and ``days`` days from now."""
    return is_live(term) and 0 <= days_to_end(term.end, today) <= days


# --- the same rules in SQL -----------------------------------------------------------------------


def listed_clause(today: date, grace_days: int):
    """SQL form of ``is_listed`` on Agreement."""
    successor = aliased(Agreement)
    return and_(
        Agreement.start_date <= today,
        Agreement.end_date >= today - timedelta(days=grace_days),
        or_(Agreement.terminated_on.is_(None), Agreement.terminated_on > today),
        ~exists().where(successor.previous_id == Agreement.id, successor.start_date <= today),
    )


def renewing_clause(today: date, grace_days: int):
    """SQL form of ``is_renewing`` on Agreement: listed, ended, and not renewed."""
    successor = aliased(Agreement)
    return and_(
        listed_clause(today, grace_days),
        Agreement.end_date < today,
        ~exists().where(successor.previous_id == Agreement.id),
    )


def live_clause():
    """SQL form of ``is_live`` on Agreement."""
    successor = aliased(Agreement)
    return and_(
        Agreement.terminated_on.is_(None),
        ~exists().where(successor.previous_id == Agreement.id),
    )


def ending_within_clause(today: date, days: int):
    """SQL form of ``ends_within`` on Agreement."""
    return and_(live_clause(), Agreement.end_date.between(today, today + timedelta(days=days)))


# --- decisions on a stored agreement -------------------------------------------------------------


def status_of(agreement: Agreement, today: date, grace_days: int | None = None) -> Status:
    """The status of a stored agreement on ``today``."""
    if grace_days is None:
        grace_days = grace_days_setting()
    return status(Term.of(agreement), today, grace_days)


def _renewal_waiting(agreement: Agreement) -> bool:
    from allies.applications.models import OPEN_STATES, Application

    return (
        db.session.scalar(
            db.select(Application.id)
            .where(
                Application.renews_agreement_id == agreement.id,
                Application.state.in_(OPEN_STATES),
            )
            .limit(1)
        )
        is not None
    )


def _newer_term_exists(agreement: Agreement) -> bool:
    return (
        db.session.scalar(
            db.select(Agreement.id)
            .where(
                Agreement.organization_id == agreement.organization_id,
                Agreement.id != agreement.id,
                Agreement.start_date > agreement.start_date,
            )
            .limit(1)
        )
        is not None
    )


def renewal_refusal(agreement: Agreement, today: date) -> str | None:
    """Why ``agreement`` cannot be renewed today, or None when it can (in the reader's language)."""
    if agreement.successor is not None:
        return _("This agreement has already been renewed.")
    if agreement.terminated_on is not None:
        return _(
            "This agreement was terminated and cannot be renewed; please contact us to rejoin."
        )
    if _newer_term_exists(agreement):
        return _("Only the organization's latest agreement can be renewed.")
    opens = renewal_opens_on(agreement.end_date)
    if today < opens:
        return _(
            "Renewal opens on %(day)s, %(days)s days before the agreement ends. "
            "We will email you a link then.",
            day=long_date(opens),
            days=RENEWAL_WINDOW_DAYS,
        )
    if _renewal_waiting(agreement):
        return _("A renewal for this agreement is already waiting for review.")
    return None


def termination_refusal(agreement: Agreement, today: date) -> str | None:
    """Why staff cannot terminate ``agreement`` today, or None when they can."""
    if agreement.terminated_on is not None:
        return "This agreement is already terminated."
    current = status_of(agreement, today)
    if current is Status.RENEWED:
        return "This agreement has been renewed: terminate the new term instead."
    if current is Status.LAPSED:
        return "This agreement has already lapsed."
    return None


def long_date(day: date) -> str:
    """A date as pages and emails write it: 28 February 2027 (28 de febrero de 2027)."""
    return i18n_long_date(day)


def describe(agreement: Agreement, today: date, grace_days: int | None = None) -> str:
    """The term in words for its status on ``today``, e.g. "runs to 28 February 2027"."""
    if grace_days is None:
        grace_days = grace_days_setting()
    current = status_of(agreement, today, grace_days)
    end = long_date(agreement.end_date)
    if current is Status.UPCOMING:
        return _(
            "starts on %(start)s and runs to %(end)s",
            start=long_date(agreement.start_date),
            end=end,
        )
    if current is Status.ACTIVE:
        return _("runs to %(end)s", end=end)
    if current is Status.EXPIRING:
        return _("runs to %(end)s; renewal is open", end=end)
    if current is Status.GRACE:
        return _(
            "ended on %(end)s; renewal in progress until %(grace_end)s",
            end=end,
            grace_end=long_date(grace_end(agreement.end_date, grace_days)),
        )
    if current is Status.LAPSED:
        return _(
            "ended on %(end)s; lapsed on %(lapsed)s",
            end=end,
            lapsed=long_date(lapse_date(agreement.end_date, grace_days)),
        )
    if current is Status.TERMINATED:
        return _("ended early on %(day)s", day=long_date(agreement.terminated_on))
    return _("renewed until %(end)s", end=long_date(agreement.successor.end_date))


@dataclass(frozen=True)
class Verdict:
    """Everything a page shows about one term on one day, decided here."""

    agreement: Agreement
    status: Status
    summary: str
    renewal_refusal: str | None
    termination_refusal: str | None

    @property
    def may_renew(self) -> bool:
        """Renewal is open to this term today."""
        return self.renewal_refusal is None

    @property
    def may_terminate(self) -> bool:
        """Staff may end this term early."""
        return self.termination_refusal is None


@dataclass(frozen=True)
class Listing:
    """How a list of Allies shows an organization by its term in force."""

    agreement: Agreement
    status: Status
    start: date  # the successor's dates once the term is renewed
    end: date
    summary: str


def listing(agreement: Agreement, today: date, grace_days: int) -> Listing:
    """The list entry for the term in force: a renewed term reads "renewed" with the dates of
    the term that follows it."""
    current = status_of(agreement, today, grace_days)
    shown = agreement.successor if current is Status.RENEWED else agreement
    return Listing(
        agreement=agreement,
        status=current,
        start=shown.start_date,
        end=shown.end_date,
        summary=describe(agreement, today, grace_days),
    )


def verdict(agreement: Agreement, today: date, grace_days: int | None = None) -> Verdict:
    """The verdict on one stored term on ``today``."""
    if grace_days is None:
        grace_days = grace_days_setting()
    return Verdict(
        agreement=agreement,
        status=status_of(agreement, today, grace_days),
        summary=describe(agreement, today, grace_days),
        renewal_refusal=renewal_refusal(agreement, today),
        termination_refusal=termination_refusal(agreement, today),
    )


def verdicts(agreements: list[Agreement], today: date) -> list[Verdict]:
    """The verdict on each of an organization's terms."""
    grace_days = grace_days_setting()
    return [verdict(agreement, today, grace_days) for agreement in agreements]


def term_in_force(agreements: list[Agreement], today: date) -> Agreement | None:
    """Of an organization's terms (newest first), the one that speaks for it today.

    That is the newest term already started; a renewal approved early waits its turn, and its
    predecessor reads "renewed" with the new term's dates meanwhile.
    """
    for agreement in agreements:
        if agreement.start_date <= today:
            return agreement
    return agreements[-1] if agreements else None
