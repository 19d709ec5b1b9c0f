"""The conference programme: admins add and change conferences; the public page lists the
upcoming ones first (soonest first) and then the archive (newest first), past or upcoming by the
end date on the alliance's clock."""

from datetime import date

from allies.conferences.models import Conference
from allies.extensions import db
from allies.staff.models import AuditEvent


def _conference(app, title, start, end=None, *, year_only=False, **fields):
    with app.app_context():
        conference = Conference(
            title=title,
            place=fields.pop("place", "Lima, Peru"),
            start_date=start,
            end_date=end or start,
            dates_year_only=year_only,
            **fields,
        )
        db.session.add(conference)
        db.session.commit()
        return conference.id


def test_admins_add_and_change_conferences(app, client, auth):
    auth.login("admin")
    bad = client.post(
        "/staff/conferences/new",
        data={
            "title": "",
            "place": "Lima",
            "start_date": "2027-05-12",
            "end_date": "2027-05-10",
            "link": "javascript:alert(1)",
        },
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400 and 'value="Lima"' in page
    assert "The last day cannot be before the first day." in page
    assert "http://" in page  # the link must be a web address
    saved = client.post(
        "/staff/conferences/new",
        data={
            "title": "Health Equity Together",
            "place": "Lima, Peru",
            "start_date": "2027-05-10",
            "end_date": "2027-05-12",
            "description": "Three days in Lima.",
            "link": "https://conference.example.org/register",
            "attendance": "",
        },
    )
    assert saved.status_code == 302
    with app.app_context():
        conference = db.session.scalar(db.select(Conference))
        assert (conference.start_date, conference.end_date) == (
            date(2027, 5, 10),
            date(2027, 5, 12),
        )
        assert conference.dates_text == "10–12 May 2027"
        conference_id = conference.id
    assert saved.location.endswith(f"/staff/conferences/{conference_id}")
    # Marked "year only": the dates span the year and pages show just the year.
    client.post(
        f"/staff/conferences/{conference_id}/edit",
        data={
            "title": "Health Equity Together",
            "place": "Lima, Peru",
            "start_date": "2027-05-10",
            "end_date": "2027-05-12",
            "dates_year_only": "y",
        },
    )
    with app.app_context():
        conference = db.session.get(Conference, conference_id)
        assert (conference.start_date, conference.end_date) == (
            date(2027, 1, 1),
            date(2027, 12, 31),
        )
        assert conference.dates_text == "2027"
        events = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.subject_type == "conference")
        ).all()
        assert [e.action for e in events] == ["conference_added", "conference_changed"]
        assert events[1].changes["dates_year_only"] == [False, True]


def test_reviewers_see_the_list_but_cannot_edit(app, client, auth):
    conference_id = _conference(app, "Reviewed", date(2030, 3, 1))
    auth.login("reviewer")
    assert client.get("/staff/conferences").status_code == 200
    assert client.get(f"/staff/conferences/{conference_id}").status_code == 200
    assert client.get(f"/staff/conferences/{conference_id}/edit").status_code == 403
    assert client.get("/staff/conferences/new").status_code == 403


def test_upcoming_first_soonest_first_then_the_archive_newest_first(app, client):
    app.config["TODAY"] = date(2027, 5, 11)
    _conference(
        app, "Reimagining Social Medicine", date(2016, 1, 1), date(2016, 12, 31), year_only=True
    )
    _conference(app, "Last month", date(2027, 4, 1), date(2027, 4, 3))
    _conference(app, "Ends today", date(2027, 5, 9), date(2027, 5, 11))
    _conference(app, "Far ahead", date(2028, 6, 1), date(2028, 6, 3))
    _conference(app, "Next month", date(2027, 6, 1), date(2027, 6, 2), place="Virtual")
    page = client.get("/conferences").get_data(as_text=True)
    upcoming, archive = page.split("Where we have met")
    # Still upcoming on its last day; the one that ended yesterday is in the archive.
    assert upcoming.index("Ends today") < upcoming.index("Next month") < upcoming.index("Far ahead")
    assert "Last month" not in upcoming
    assert archive.index("Last month") < archive.index("Reimagining Social Medicine")
    assert "2016" in archive and "1 January 2016" not in page  # year only: just the year
    # The end date is read on the alliance's clock: the day after, it is past.
    app.config["TODAY"] = date(2027, 5, 12)
    upcoming = client.get("/conferences").get_data(as_text=True).split("Where we have met")[0]
    assert "Ends today" not in upcoming


def test_one_conference_page_and_bad_ids(app, client):
    app.config["TODAY"] = date(2027, 5, 1)
    conference_id = _conference(
        app,
        "Health Equity Together",
        date(2027, 5, 10),
        date(2027, 5, 12),
        description="Three days <b>in</b> Lima.",
        link="https://conference.example.org/register",
    )
    page = client.get(f"/conferences/{conference_id}").get_data(as_text=True)
    assert "10–12 May 2027" in page and "Lima, Peru" in page
    assert "Three days &lt;b&gt;in&lt;/b&gt; Lima." in page
    assert 'href="https://conference.example.org/register"' in page
    for path in ("/conferences/999", "/conferences/abc", f"/conferences/{2**40}"):
        assert client.get(path).status_code == 404, path
        assert client.get(path + "/allies").status_code == 404, path


def test_a_conference_with_invitations_cannot_be_removed(app, client, auth, factory):
    from allies.conferences.operations import invite_current_allies

    app.config["TODAY"] = date(2030, 1, 10)
    factory.ally(start=date(2029, 6, 1))
    conference_id = _conference(app, "Invited", date(2030, 3, 1), date(2030, 3, 2))
    empty_id = _conference(app, "Never invited", date(2030, 4, 1))
    with app.app_context():
        invite_current_allies(
            db.session.get(Conference, conference_id), staff=None, today=date(2030, 1, 10)
        )
    auth.login("admin")
    client.post(f"/staff/conferences/{conference_id}/delete")
    client.post(f"/staff/conferences/{empty_id}/delete")
    with app.app_context():
        assert db.session.get(Conference, conference_id) is not None
        assert db.session.get(Conference, empty_id) is None
