"""The number of SQL statements per public page does not grow with the number of Allies."""

import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa

from allies.agreements.models import Agreement
from allies.agreements.terms import term_end
from allies.cache import ContentVersion, public_cache
from allies.extensions import db
from allies.organizations.models import Organization, OrganizationType
from allies.timeutil import alliance_today


def _statements_for(app, client, path: str) -> int:
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, path
    return len(seen)


def _organizations_loaded_for(app, client, path: str) -> int:
    """How many organizations the request built from rows (cache cleared first)."""
    loaded = []

    def count(target, context):
        loaded.append(target)

    public_cache.clear()
    sa.event.listen(Organization, "load", count)
    try:
        response = client.get(path)
    finally:
        sa.event.remove(Organization, "load", count)
    assert response.status_code == 200, path
    return len(loaded)


def bulk_allies(app, start: int, count: int) -> None:
    """Add current Allies "Health Ally <n>" (slug ally-<n>) for n in start..start+count-1 with
    bulk inserts (through the operations 10,000 would take minutes), every tenth with an older
    term it renewed, types in turn; then change the content version as an operation would."""
    with app.app_context():
        types = db.session.scalars(
            sa.select(OrganizationType.id).order_by(OrganizationType.id)
        ).all()
        today = alliance_today()
        before = db.session.scalar(sa.select(sa.func.max(Organization.id))) or 0
        db.session.execute(
            sa.insert(Organization),
            [
                {
                    "slug": f"ally-{n}",
                    "name": f"Health Ally {n:05d}",
                    "normalized_name": f"health ally {n:05d}",
                    "website": f"https://ally{n}.example.org",
                    "website_domain": f"ally{n}.example.org",
                    "type_id": types[n % len(types)],
                    "description": "A health organization.",
                }
                for n in range(start, start + count)
            ],
        )
        ids = db.session.scalars(
            sa.select(Organization.id).where(Organization.id > before).order_by(Organization.id)
        ).all()
        older = []
        for n, org_id in enumerate(ids):
            if n % 10 == 0:  # renewed: its older term ended yesterday
                first = today - timedelta(days=730)
                older.append(
                    {"organization_id": org_id, "start_date": first, "end_date": term_end(first)}
                )
        db.session.execute(sa.insert(Agreement), older)
        previous = dict(
            db.session.execute(
                sa.select(Agreement.organization_id, Agreement.id).where(
                    Agreement.organization_id > before
                )
            ).all()
        )
        current = []
        for n, org_id in enumerate(ids):
            start_date = today if org_id in previous else today - timedelta(days=n % 700)
            current.append(
                {
                    "organization_id": org_id,
                    "start_date": start_date,
                    "end_date": term_end(start_date),
                    "previous_id": previous.get(org_id),
                }
            )
        db.session.execute(sa.insert(Agreement), current)
        db.session.execute(sa.update(ContentVersion).values(token=secrets.token_hex(16)))
        db.session.commit()
    public_cache.clear()


@pytest.mark.parametrize("path", ["/", "/allies", "/allies.json", "/allies?q=org", "/staff/allies"])
def test_queries_do_not_grow_with_allies(app, client, auth, factory, path):
    auth.login("reviewer")
    for _ in range(3):
        factory.ally()
    few = _statements_for(app, client, path)
    for _ in range(12):
        factory.ally()
    many = _statements_for(app, client, path)
    assert many == few, (path, few, many)


def test_public_pages_cost_the_same_statements_at_10_and_at_10000_allies(app, client, monkeypatch):
    """Pages of two, so ten Allies have a middle page too; anonymous visitors (whole pages)."""
    from allies.organizations import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    with app.app_context():
        some_type = db.session.scalars(
            sa.select(OrganizationType.id).order_by(OrganizationType.id)
        ).all()[3]
    paths = [
        "/",
        "/allies",
        "/allies?page=3",
        f"/allies?type={some_type}",
        "/allies?q=ally+0000",
        f"/allies?type={some_type}&q=health",
        "/allies.json",
        "/allies.json?page=3&per_page=2",
        "/allies/all.json",
        "/allies/ally-7",
    ]
    bulk_allies(app, 0, 10)
    few = {path: _statements_for(app, client, path) for path in paths}
    bulk_allies(app, 10, 9990)
    many = {path: _statements_for(app, client, path) for path in paths}
    assert many == few
    # and they load only what they show
    assert _organizations_loaded_for(app, client, "/allies?page=3") == 2
    assert _organizations_loaded_for(app, client, "/") == views.HOME_SHOWN
    assert _organizations_loaded_for(app, client, "/allies.json?page=3&per_page=2") == 2
    assert _organizations_loaded_for(app, client, "/allies/ally-7") == 1
    # and the pages show what they should at 10,000
    assert "10,000 Allies" in client.get("/allies").get_data(as_text=True)
    assert client.get("/allies.json").get_json()["total"] == 10000
    assert client.get("/allies?page=5000").status_code == 200
    assert client.get("/allies?page=5001").status_code == 404
