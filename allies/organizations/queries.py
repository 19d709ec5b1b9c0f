"""Reads for the public pages: who is a current Ally, a page at a time, in a fixed number of
queries whatever the number of Allies.

Who is listed is asked of the standing module (``listed_clause``, ``renewing_clause``). A list
counts and pages in SQL (COUNT, then ORDER BY the normalized name with LIMIT/OFFSET, or LIMIT
after the previous page's last key when the caller knows it) and loads the facts ("Ally since", "renewal in progress") of the shown page only.

The statements are built once per (date, grace period, which filters) and reused with bound
parameters: building these EXISTS clauses and their cache keys costs SQLAlchemy more than the
database takes to run them on a page of Allies.
"""

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from sqlalchemy import Integer, and_, bindparam, case, func, or_
from sqlalchemy.orm import aliased, joinedload

from allies.agreements.models import Agreement
from allies.agreements.standing import listed_clause, renewing_clause
from allies.extensions import db
from allies.organizations.models import Organization, OrganizationType
from allies.paging import Paging

# Statements kept per (date, grace period, filters): a day or two's worth.
_STATEMENTS_KEPT = 32


@dataclass(frozen=True)
class ListedAlly:
    """A current Ally as the public pages show it."""

    org: Organization
    since: int | None  # "Ally since": the year of ally_since when set, else of its first term
    renewing: bool  # past the end of its term, in grace: "renewal in progress"


@dataclass(frozen=True)
class AllyPage:
    """One page of current Allies, with the paging of the whole (filtered) list."""

    paging: Paging
    allies: list[ListedAlly]

    @property
    def last_key(self) -> tuple[str, int] | None:
        """The (normalized name, id) of the page's last Ally: where the next page starts after."""
        if not self.allies:
            return None
        last = self.allies[-1].org
        return (last.normalized_name, last.id)


def _listed_ids(today: date, grace_days: int):
    return db.select(Agreement.organization_id).where(listed_clause(today, grace_days))


def _is_listed(today: date, grace_days: int):
    """The organization has a listed term today: a correlated EXISTS, so a query in name order
    can walk the name index and stop once it has its page (an IN over every listed id cannot)."""
    return (
        db.select(Agreement.id)
        .where(Agreement.organization_id == Organization.id, listed_clause(today, grace_days))
        .exists()
    )


def _where(today: date, grace_days: int, by_type: bool, by_name: bool) -> list:
    """The WHERE of the public list: listed today, then of type ``:type_id``, then the name
    LIKE ``:pattern`` (both bound at execution)."""
    clauses = [_is_listed(today, grace_days)]
    if by_type:
        clauses.append(Organization.type_id == bindparam("type_id", type_=Integer))
    if by_name:
        clauses.append(func.lower(Organization.name).like(bindparam("pattern"), escape="\\"))
    return clauses


def _name_pattern(search: str) -> str:
    """``search`` as a LIKE pattern matching names that contain it, any case, wildcards escaped."""
    escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _in_name_order(query):
    return query.order_by(Organization.normalized_name, Organization.id)


@lru_cache(maxsize=_STATEMENTS_KEPT)
def _count_statement(today: date, grace_days: int, by_type: bool, by_name: bool):
    return db.select(func.count(Organization.id)).where(
        *_where(today, grace_days, by_type, by_name)
    )


def _after_key():
    """Rows after the key (``:after_name``, ``:after_id``) in the list's (name, id) order; the
    first term alone is what lets either database start in the name index."""
    after_name = bindparam("after_name")
    return and_(
        Organization.normalized_name >= after_name,
        or_(
            Organization.normalized_name > after_name,
            Organization.id > bindparam("after_id", type_=Integer),
        ),
    )


@lru_cache(maxsize=_STATEMENTS_KEPT)
def _page_statement(today: date, grace_days: int, by_type: bool, by_name: bool, keyset: bool):
    # The page's ids first, sorting only (name, id), then its rows: sorting whole rows made
    # PostgreSQL spill thousands of them to disk for a deep page. With ``keyset`` the OFFSET
    # counts from a known key (an earlier page's last) instead of from the first row.
    where = _where(today, grace_days, by_type, by_name) + ([_after_key()] if keyset else [])
    page_ids = (
        _in_name_order(db.select(Organization.id).where(*where))
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .subquery("page")
    )
    return _in_name_order(
        db.select(Organization)
        .join(page_ids, page_ids.c.id == Organization.id)
        .options(joinedload(Organization.type))
    )


@lru_cache(maxsize=_STATEMENTS_KEPT)
def _all_statement(today: date, grace_days: int):
    return _in_name_order(
        db.select(Organization)
        .options(joinedload(Organization.type))
        .where(_is_listed(today, grace_days))
    )


@lru_cache(maxsize=_STATEMENTS_KEPT)
def _facts_statement(today: date, grace_days: int, of_all: bool):
    """("Ally since" year's first term start, renewing) per organization, grouped: of the
    organizations in ``:ids``, or of every listed one."""
    renewing = case((renewing_clause(today, grace_days), 1), else_=0)
    wanted = _listed_ids(today, grace_days) if of_all else bindparam("ids", expanding=True)
    return (
        db.select(Agreement.organization_id, func.min(Agreement.start_date), func.max(renewing))
        .where(Agreement.organization_id.in_(wanted))
        .group_by(Agreement.organization_id)
    )


@lru_cache(maxsize=_STATEMENTS_KEPT)
def _ally_statement(today: date, grace_days: int):
    return (
        db.select(Organization)
        .options(joinedload(Organization.type))
        .where(Organization.slug == bindparam("slug"), _is_listed(today, grace_days))
    )


@lru_cache(maxsize=_STATEMENTS_KEPT)
def _types_statement(today: date, grace_days: int):
    # Asked per type with EXISTS, so each type stops at its first current Ally.
    in_use = (
        db.select(Organization.id)
        .where(Organization.type_id == OrganizationType.id, _is_listed(today, grace_days))
        .exists()
    )
    return (
        db.select(OrganizationType)
        .where(in_use)
        .order_by(OrganizationType.position, OrganizationType.name)
    )


def _filters(type_id: int | None, search: str) -> tuple[bool, bool, dict]:
    search = (search or "").strip()
    params = {}
    if type_id:
        params["type_id"] = type_id
    if search:
        params["pattern"] = _name_pattern(search)
    return bool(type_id), bool(search), params


def _listed_facts(organizations: list[Organization], today: date, grace_days: int, *, of_all=False):
    """For each organization: (first term's start, whether it is renewing, in grace); one query.

    ``of_all``: the facts of every listed organization (the whole export) rather than of the
    ``organizations`` given.
    """
    if not organizations:
        return {}
    params = {} if of_all else {"ids": [org.id for org in organizations]}
    rows = db.session.execute(_facts_statement(today, grace_days, of_all), params)
    return {org_id: (first, bool(in_grace)) for org_id, first, in_grace in rows}


def _listed(organizations: list[Organization], facts: dict[int, tuple]) -> list[ListedAlly]:
    listed = []
    for org in organizations:
        first, renewing = facts.get(org.id, (None, False))
        listed.append(ListedAlly(org, _since(org, first), renewing))
    return listed


def _since(organization: Organization, first_start: date | None) -> int | None:
    """ "Ally since": ``organization.ally_since`` when set (an Ally imported with its history),
    else the year of its first term."""
    if organization.ally_since is not None:
        return organization.ally_since.year
    return first_start.year if first_start is not None else None


def count_listed(
    today: date, grace_days: int, *, type_id: int | None = None, search: str = ""
) -> int:
    """How many current Allies are of type ``type_id`` with ``search`` in their name (one COUNT)."""
    by_type, by_name, params = _filters(type_id, search)
    return db.session.scalar(_count_statement(today, grace_days, by_type, by_name), params)


def current_allies_page(
    today: date,
    grace_days: int,
    *,
    page: int = 1,
    per_page: int,
    type_id: int | None = None,
    search: str = "",
    total: int | None = None,
    after: tuple[str, int] | None = None,
    after_page: int | None = None,
) -> AllyPage:
    """Page ``page`` of the current Allies A–Z, of type ``type_id`` with ``search`` in their
    name: three queries (the count, the page, the facts of the page) at any number of Allies.

    A page past the last comes back empty with ``paging.exists`` false, after the count alone.
    ``total``, when the caller already knows it (``count_listed`` with the same filters, kept
    while the content does not change), saves the count. ``after``, when the caller knows the
    ``last_key`` of page ``after_page`` (default ``page - 1``) of the same list, lets the
    database start there rather than skip every row before (OFFSET reads every one of them: a
    deep page cost milliseconds).
    """
    by_type, by_name, params = _filters(type_id, search)
    if total is None:
        total = db.session.scalar(_count_statement(today, grace_days, by_type, by_name), params)
    paging = Paging(total, page, per_page)
    if not paging.exists or not total:
        return AllyPage(paging, [])
    after_page = page - 1 if after_page is None else after_page
    if after is not None and 1 <= after_page < page:
        skipped = (page - 1 - after_page) * per_page
        params = {**params, "after_name": after[0], "after_id": after[1], "offset": skipped}
    else:
        params = {**params, "offset": paging.offset}
    organizations = list(
        db.session.scalars(
            _page_statement(today, grace_days, by_type, by_name, "after_name" in params),
            {**params, "limit": per_page},
        ).unique()
    )
    return AllyPage(paging, _listed(organizations, _listed_facts(organizations, today, grace_days)))


def all_current_allies(today: date, grace_days: int) -> list[ListedAlly]:
    """Every current Ally A–Z (the unpaged export): two queries, the organizations and the facts."""
    organizations = list(db.session.scalars(_all_statement(today, grace_days)).unique())
    facts = _listed_facts(organizations, today, grace_days, of_all=True)
    return _listed(organizations, facts)


def current_ally(slug: str, today: date, grace_days: int) -> ListedAlly | None:
    """One current Ally by slug, or None."""
    organization = db.session.scalar(_ally_statement(today, grace_days), {"slug": slug})
    if organization is None:
        return None
    return _listed([organization], _listed_facts([organization], today, grace_days))[0]


def count_current_allies(today: date, grace_days: int) -> int:
    """How many organizations are current Allies."""
    return count_listed(today, grace_days)


def types_in_use(today: date, grace_days: int) -> list[OrganizationType]:
    """Types that at least one current Ally has, for the filter (one query)."""
    return list(db.session.scalars(_types_statement(today, grace_days)))


@dataclass(frozen=True)
class NewAlly:
    """A current Ally as the feed of new Allies shows it."""

    org: Organization
    became: date  # the day it became an Ally: ``ally_since`` when set, else its first term's start


@lru_cache(maxsize=_STATEMENTS_KEPT)
def _newest_statement(today: date, grace_days: int):
    # "Became an Ally" as "Ally since" reads it: an imported Ally's own date, else the start of
    # its first term (approval makes the term; a renewal never moves this date).
    term = aliased(Agreement)  # apart from the Agreement of the listed-today EXISTS
    first_start = (
        db.select(func.min(term.start_date))
        .where(term.organization_id == Organization.id)
        .scalar_subquery()
    )
    became = func.coalesce(Organization.ally_since, first_start).label("became")
    return (
        db.select(Organization, became)
        .options(joinedload(Organization.type))
        .where(_is_listed(today, grace_days))
        .order_by(became.desc(), Organization.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )


def newest_allies(today: date, grace_days: int, *, limit: int) -> list[NewAlly]:
    """The ``limit`` current Allies that became Allies last, newest first (one query)."""
    rows = db.session.execute(_newest_statement(today, grace_days), {"limit": limit})
    return [NewAlly(org, _as_date(became)) for org, became in rows]


def _as_date(value) -> date:
    """A date from a SQL expression (SQLite's COALESCE of dates comes back as text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
