"""The recognition roll: the Allies whose agreement covered the conference's first day (through
the standing rule), A–Z, paged and counted in SQL, printable and as CSV; and the Ally's page lists
the past conferences at which it was recognised."""

from datetime import date, timedelta

import sqlalchemy as sa

from allies.conferences.models import Conference
from allies.extensions import db
from tests.fixtures import start_for_end

FIRST_DAY = date(2030, 6, 10)


def _conference(app, start=FIRST_DAY, title="Health Equity Together"):
    with app.app_context():
        conference = Conference(
            title=title,
            place="Lima, Peru",
            start_date=start,
            end_date=start + timedelta(days=2),
        )
        db.session.add(conference)
        db.session.commit()
        return conference.id


def _the_four_allies(factory):
    """An Ally lapsed before the first day, one that joined after it, one in grace on the day,
    one renewed across it, and one plainly current (grace is the default 30 days)."""
    factory.ally(name="Lapsed Before Network", start=start_for_end(FIRST_DAY - timedelta(days=31)))
    factory.ally(name="Joined After Clinic", start=FIRST_DAY + timedelta(days=1))
    factory.ally(name="Grace Day Health", start=start_for_end(FIRST_DAY - timedelta(days=30)))
    _org, old_term = factory.ally(
        name="Across The Renewal Institute", start=start_for_end(FIRST_DAY - timedelta(days=10))
    )
    factory.renewal(
        old_term,
        submitted_on=FIRST_DAY - timedelta(days=40),
        approved_on=FIRST_DAY - timedelta(days=20),
    )
    factory.ally(name="=Plainly Current Alliance", start=FIRST_DAY - timedelta(days=100))


def test_the_roll_follows_the_standing_rule_on_the_first_day(app, client, factory):
    app.config["TODAY"] = FIRST_DAY + timedelta(days=300)  # long after: today's list differs
    _the_four_allies(factory)
    conference_id = _conference(app)
    page = client.get(f"/conferences/{conference_id}/allies").get_data(as_text=True)
    names = ["=Plainly Current Alliance", "Across The Renewal Institute", "Grace Day Health"]
    for name in names:
        assert name in page
    assert page.count("Across The Renewal Institute</span>") == 1  # present once
    assert "Lapsed Before Network" not in page and "Joined After Clinic" not in page
    assert "The 3 organizations" in page
    # A–Z (by the normalised name)
    assert page.index("Across The Renewal") < page.index("Grace Day") < page.index("Plainly")

    csv = client.get(f"/conferences/{conference_id}/allies.csv")
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("name,website")
    assert len(lines) == 4
    assert any(line.startswith("'=Plainly Current Alliance") for line in lines)  # formula-safe


def test_the_day_before_grace_runs_out_and_the_day_after(app, client, factory):
    """The grace edge, both sides: ended 30 days before is listed, 31 is not."""
    factory.ally(name="Thirty Days", start=start_for_end(FIRST_DAY - timedelta(days=30)))
    factory.ally(name="Thirty One Days", start=start_for_end(FIRST_DAY - timedelta(days=31)))
    conference_id = _conference(app)
    page = client.get(f"/conferences/{conference_id}/allies").get_data(as_text=True)
    assert "Thirty Days" in page and "Thirty One Days" not in page


def test_the_ally_page_lists_the_conferences_it_was_recognised_at(app, client, factory):
    app.config["TODAY"] = FIRST_DAY + timedelta(days=30)
    factory.ally(name="Recognised Org", start=FIRST_DAY - timedelta(days=100))
    earlier = _conference(app, FIRST_DAY - timedelta(days=200), title="Before It Joined")
    held = _conference(app, FIRST_DAY, title="Health Equity Together")
    coming = _conference(app, FIRST_DAY + timedelta(days=60), title="Still To Come")
    with app.app_context():
        from allies.organizations.models import Organization

        slug = db.session.scalar(
            sa.select(Organization.slug).where(Organization.name == "Recognised Org")
        )
    page = client.get(f"/allies/{slug}").get_data(as_text=True)
    assert "Recognised at our conferences" in page
    assert f"/conferences/{held}" in page
    assert f"/conferences/{earlier}" not in page and f"/conferences/{coming}" not in page


def test_the_roll_pages_and_counts_in_sql(app, client, factory, monkeypatch):
    from allies.conferences import views

    monkeypatch.setattr(views, "ROLL_PAGE_SIZE", 2)
    for name in ("Alpha Org", "Bravo Org", "Charlie Org"):
        factory.ally(name=name, start=FIRST_DAY - timedelta(days=10))
    conference_id = _conference(app)
    first = client.get(f"/conferences/{conference_id}/allies").get_data(as_text=True)
    second = client.get(f"/conferences/{conference_id}/allies?page=2").get_data(as_text=True)
    assert "Alpha Org" in first and "Bravo Org" in first and "Charlie Org" not in first
    assert "Charlie Org" in second and "Page 2 of 2" in second
    assert client.get(f"/conferences/{conference_id}/allies?page=3").status_code == 404
    assert client.get(f"/conferences/{conference_id}/allies?page=0").status_code == 404
    assert client.get(f"/conferences/{conference_id}/allies?page={2**40}").status_code == 404


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


def test_roll_queries_do_not_grow_with_allies(app, client, auth, factory):
    auth.login("reviewer")  # signed in: the page is rendered, never served from the cache
    conference_id = _conference(app)
    for _ in range(3):
        factory.ally(start=FIRST_DAY - timedelta(days=10))
    path = f"/conferences/{conference_id}/allies"
    few = _statements_for(app, client, path)
    for _ in range(10):
        factory.ally(start=FIRST_DAY - timedelta(days=10))
    assert _statements_for(app, client, path) == few


def test_the_print_stylesheet_hides_navigation_and_keeps_the_logos(app, client):
    css = client.get("/conferences/roll.css")
    assert css.mimetype == "text/css"
    text = css.get_data(as_text=True)
    print_rules = text[text.index("@media print") :]
    assert ".site-header" in print_rules and "display: none" in print_rules
    assert ".roll-grid" in print_rules
