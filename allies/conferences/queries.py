"""Reads about conferences: the programme, a conference's recognition roll, answer counts.

Who was an Ally on a conference's first day is asked of the standing module
(``listed_clause`` in SQL, ``is_listed`` in Python) with that day in place of today.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func
from sqlalchemy.orm import joinedload, selectinload

from allies.agreements.models import Agreement
from allies.agreements.standing import Term, is_listed, listed_clause
from allies.conferences.models import Conference, Invitation
from allies.extensions import db
from allies.organizations.models import Organization
from allies.paging import Paging


def upcoming_conferences(today: date) -> list[Conference]:
    """Conferences not yet over on ``today``, soonest first."""
    return list(
        db.session.scalars(
            db.select(Conference)
            .where(Conference.end_date >= today)
            .order_by(Conference.start_date, Conference.id)
        )
    )


def past_conferences(today: date) -> list[Conference]:
    """Conferences over by ``today``, newest first."""
    return list(
        db.session.scalars(
            db.select(Conference)
            .where(Conference.end_date < today)
            .order_by(Conference.start_date.desc(), Conference.id.desc())
        )
    )


def all_conferences() -> list[Conference]:
    """Every conference, latest start first (the staff list)."""
    return list(
        db.session.scalars(
            db.select(Conference).order_by(Conference.start_date.desc(), Conference.id.desc())
        )
    )


def _on_roll_ids(day: date, grace_days: int):
    return db.select(Agreement.organization_id).where(listed_clause(day, grace_days))


@dataclass(frozen=True)
class RollPage:
    """One page of a conference's recognition roll, with the roll's full count."""

    count: int
    page: int
    pages: int
    organizations: list[Organization]
    paging: Paging  # the same, for the pager (templates/_pagination.html)


def roll_query(conference: Conference, grace_days: int):
    """The select of the organizations on the roll: listed on the conference's first day, A–Z.

    An organization appears once, whichever of its terms covered the day.
    """
    return (
        db.select(Organization)
        .where(Organization.id.in_(_on_roll_ids(conference.start_date, grace_days)))
        .order_by(Organization.normalized_name, Organization.name, Organization.id)
    )


def roll_rows(conference: Conference, grace_days: int):
    """The select of the roll's public columns (name, website, city, region, country), A–Z:
    plain rows for the CSV, no objects to build."""
    return (
        db.select(
            Organization.name,
            Organization.website,
            Organization.city,
            Organization.region,
            Organization.country,
        )
        .where(Organization.id.in_(_on_roll_ids(conference.start_date, grace_days)))
        .order_by(Organization.normalized_name, Organization.name, Organization.id)
    )


def roll_page(conference: Conference, grace_days: int, page: int, per_page: int) -> RollPage:
    """The organizations of page ``page`` of the roll (counted and paged in SQL)."""
    count = db.session.scalar(
        db.select(func.count(Organization.id)).where(
            Organization.id.in_(_on_roll_ids(conference.start_date, grace_days))
        )
    )
    paging = Paging(count, page, per_page)
    organizations = []
    if paging.exists and count:  # past the last page: nothing to load (the view answers 404)
        organizations = list(
            db.session.scalars(
                roll_query(conference, grace_days)
                .options(joinedload(Organization.type))
                .limit(per_page)
                .offset(paging.offset)
            )
        )
    return RollPage(
        count=count, page=page, pages=paging.pages, organizations=organizations, paging=paging
    )


def recognised_at(organization_id: int, today: date, grace_days: int) -> list[Conference]:
    """The past conferences (newest first) at which the organization was on the roll."""
    conferences = past_conferences(today)
    if not conferences:
        return []
    agreements = list(
        db.session.scalars(
            db.select(Agreement)
            .where(Agreement.organization_id == organization_id)
            .options(selectinload(Agreement.successor))
        )
    )
    terms = [Term.of(agreement) for agreement in agreements]
    return [
        conference
        for conference in conferences
        if any(is_listed(term, conference.start_date, grace_days) for term in terms)
    ]


@dataclass(frozen=True)
class AnswerCounts:
    """What staff see of a conference's invitations."""

    invited: int
    attending: int
    not_attending: int
    not_answered: int
    people: int


def answer_counts(conference_id: int) -> AnswerCounts:
    """Invited, answered yes, answered no, not answered, and people expected (one query)."""
    answered = Invitation.answered_at.is_not(None)
    yes = answered & Invitation.attending.is_(True)
    row = db.session.execute(
        db.select(
            func.count(Invitation.id),
            func.coalesce(func.sum(case((yes, 1), else_=0)), 0),
            func.coalesce(
                func.sum(case((answered & Invitation.attending.is_(False), 1), else_=0)), 0
            ),
            func.coalesce(func.sum(case((answered, 0), else_=1)), 0),
            func.coalesce(func.sum(case((yes, Invitation.people), else_=0)), 0),
        ).where(Invitation.conference_id == conference_id)
    ).one()
    return AnswerCounts(*(int(value) for value in row))


def invitations_of(conference_id: int) -> list[Invitation]:
    """Every invitation to the conference with its organization, A–Z."""
    return list(
        db.session.scalars(
            db.select(Invitation)
            .join(Organization, Invitation.organization_id == Organization.id)
            .where(Invitation.conference_id == conference_id)
            .options(joinedload(Invitation.organization))
            .order_by(Organization.normalized_name, Organization.name, Organization.id)
        )
    )


def invitation_for(conference_id: int, organization_id: int) -> Invitation | None:
    """The organization's invitation to the conference, if it was invited."""
    return db.session.scalar(
        db.select(Invitation)
        .where(
            Invitation.conference_id == conference_id,
            Invitation.organization_id == organization_id,
        )
        .options(joinedload(Invitation.organization), joinedload(Invitation.conference))
    )
