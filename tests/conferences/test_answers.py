"""The answer link: an invited Ally answers and changes its answer until the conference starts,
sees it read-only after, and the link stops at the end; tampered links and another conference's
are refused with a clear page, never a server error."""

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from allies.conferences.links import answer_token
from allies.conferences.models import Conference, Invitation
from allies.conferences.operations import invite_current_allies
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.staff.models import AuditEvent

TODAY = date(2030, 3, 2)
FIRST_DAY = date(2030, 6, 10)
LAST_DAY = FIRST_DAY + timedelta(days=2)


def _conference(title, start=FIRST_DAY, end=LAST_DAY):
    conference = Conference(title=title, place="Lima, Peru", start_date=start, end_date=end)
    db.session.add(conference)
    db.session.commit()
    return conference


@pytest.fixture
def invited(app, factory):
    """An Ally invited to one conference (and a second conference): (conference id, other
    conference id, the answer path from the email)."""
    app.config["TODAY"] = TODAY
    factory.ally(name="Invited Org", start=TODAY - timedelta(days=30))
    with app.app_context():
        conference = _conference("Health Equity Together")
        other = _conference("Another Meeting", FIRST_DAY + timedelta(days=30))
        invite_current_allies(conference, staff=None, today=TODAY)
        body = db.session.scalar(
            sa.select(OutboxMessage.body_text).where(OutboxMessage.kind == "conference_invitation")
        )
        path = re.search(r"http://allies\.test(/conferences/\d+/answer/\S+)", body).group(1)
        return conference.id, other.id, path


def _invitation(app, conference_id):
    with app.app_context():
        invitation = db.session.scalar(
            sa.select(Invitation).where(Invitation.conference_id == conference_id)
        )
        db.session.expunge(invitation)
        return invitation


def test_an_ally_answers_and_changes_its_answer(app, client, invited):
    conference_id, _other, path = invited
    page = client.get(path)
    assert page.status_code == 200 and "Invited Org" in page.get_data(as_text=True)
    bad = client.post(path, data={"attending": "yes", "people": "500"})
    assert bad.status_code == 400 and "between 1 and 50" in bad.get_data(as_text=True)
    missing = client.post(path, data={"attending": "yes", "people": ""})
    assert missing.status_code == 400 and "how many people" in missing.get_data(as_text=True)
    too_long = client.post(path, data={"attending": "yes", "people": "2", "names": "x" * 1001})
    assert too_long.status_code == 400
    for junk in ("abc", "9" * 5000, "-3"):
        assert client.post(path, data={"attending": "yes", "people": junk}).status_code == 400
    assert client.post(path, data={"attending": "maybe"}).status_code == 400
    assert _invitation(app, conference_id).answered_at is None

    saved = client.post(
        path, data={"attending": "yes", "people": "2", "names": "Ana\nLuis"}, follow_redirects=True
    )
    assert "your answer is saved" in saved.get_data(as_text=True)
    invitation = _invitation(app, conference_id)
    assert (invitation.attending, invitation.people, invitation.names) == (True, 2, "Ana\nLuis")
    client.post(path, data={"attending": "no", "people": "2", "names": "Ana"})
    invitation = _invitation(app, conference_id)
    assert (invitation.attending, invitation.people, invitation.names) == (False, 0, "")
    assert invitation.answer_changes == 1
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "conference_answered")
            .order_by(AuditEvent.id)
        ).all()
        assert [(e.from_state, e.to_state) for e in events] == [
            (None, "attending, 2 people"),
            ("attending, 2 people", "not attending"),
        ]
        assert events[0].actor == "ally contact Invited Org (invitation link)"


def test_after_the_start_the_answer_is_read_only(app, client, invited):
    conference_id, _other, path = invited
    client.post(path, data={"attending": "yes", "people": "3"})
    app.config["TODAY"] = FIRST_DAY
    page = client.get(path).get_data(as_text=True)
    assert "Attending" in page and "3 people" in page
    assert "Save answer" not in page and "can no longer be changed" in page
    late = client.post(path, data={"attending": "no"})
    assert late.status_code == 409
    assert _invitation(app, conference_id).attending is True


def test_the_link_expires_when_the_conference_ends(app, client, invited):
    _conference_id, _other, path = invited
    app.config["TODAY"] = LAST_DAY
    assert client.get(path).status_code == 200  # good through the last day
    app.config["TODAY"] = LAST_DAY + timedelta(days=1)
    gone = client.get(path)
    assert gone.status_code == 410 and "This conference is over" in gone.get_data(as_text=True)
    assert client.post(path, data={"attending": "yes", "people": "1"}).status_code == 410


def test_the_end_is_read_in_the_alliances_time_zone(app, client, invited):
    """Late on the last day in the alliance's zone is already the next day in UTC."""
    _conference_id, _other, path = invited
    app.config["TODAY"] = None  # the real clock
    app.config["TIMEZONE"] = "Pacific/Kiritimati"  # UTC+14: its date is ahead of most
    from allies.clock import real_today

    with app.app_context():
        zone_today = real_today()
    # A conference whose last day is the zone's today still answers; one ending the zone's
    # yesterday is over, whatever the date is in UTC.
    with app.app_context():
        conference = db.session.scalar(
            sa.select(Conference).where(Conference.title == "Health Equity Together")
        )
        conference.start_date = zone_today + timedelta(days=1)
        conference.end_date = zone_today + timedelta(days=1)
        db.session.commit()
    assert client.get(path).status_code == 200
    with app.app_context():
        conference = db.session.scalar(
            sa.select(Conference).where(Conference.title == "Health Equity Together")
        )
        conference.start_date = zone_today - timedelta(days=1)
        conference.end_date = zone_today - timedelta(days=1)
        db.session.commit()
    assert client.get(path).status_code == 410


def test_tampered_and_foreign_links_are_refused(app, client, invited):
    conference_id, other_id, path = invited
    token = path.rsplit("/", 1)[1]
    tampered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert client.get(tampered).status_code == 404
    assert client.post(tampered, data={"attending": "yes", "people": "1"}).status_code == 404
    # The same token on another conference's address.
    foreign = client.get(f"/conferences/{other_id}/answer/{token}")
    assert foreign.status_code == 404
    assert "This link is not valid" in foreign.get_data(as_text=True)
    with app.app_context():
        organization_id = _invitation(app, conference_id).organization_id
        # A well-signed link for a conference the Ally was not invited to.
        uninvited = answer_token(other_id, organization_id)
        # Another app's signature (a different secret), and sign-in tokens: refused.
        from itsdangerous import URLSafeSerializer

        forged = URLSafeSerializer("another-secret", salt="allies-conference-answer").dumps(
            {"c": conference_id, "o": organization_id}
        )
    assert client.get(f"/conferences/{other_id}/answer/{uninvited}").status_code == 404
    assert client.get(f"/conferences/{conference_id}/answer/{forged}").status_code == 404
    for junk in ("x", "a.b", "." * 600, "%00", "eyJjIjoxfQ.abc"):
        assert client.get(f"/conferences/{conference_id}/answer/{junk}").status_code == 404
    assert client.get(f"/conferences/99999/answer/{token}").status_code == 404
    assert _invitation(app, conference_id).answered_at is None


def test_every_error_summary_link_leads_to_its_field(app, client, invited):
    """A keyboard user following "Attending: …" in the error summary lands on the choice."""
    _conference_id, _other, path = invited
    page = client.post(path, data={"people": "2"}).get_data(as_text=True)
    summary = page[page.index('id="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    targets = re.findall(r'href="#([^"]+)"', summary)
    assert targets
    for target in targets:
        assert f'id="{target}"' in page, target
