"""The staff list of Allies, its filters and CSV, and terminate: each asks the standing module."""

import csv
import io
import re
from datetime import timedelta

from allies.agreements.models import Agreement
from allies.agreements.standing import long_date
from allies.extensions import db
from allies.timeutil import alliance_today
from tests.fixtures import sign_in_contact


def _today(app):
    with app.app_context():
        return alliance_today()


def _renewed_early(app, factory, name="Early Renewer"):
    """An Ally whose renewal was approved 29 days before its term ends; returns the ids."""
    today = _today(app)
    org_id, agreement_id = factory.ally(start=today - timedelta(days=700), name=name)
    factory.renewal(agreement_id, submitted_on=today, approved_on=today)
    with app.app_context():
        successor = db.session.get(Agreement, agreement_id).successor
        return org_id, agreement_id, successor.id, successor.start_date, successor.end_date


def _names(html: str) -> list[str]:
    return re.findall(r'/staff/allies/\d+">([^<]+)</a>', html)


def test_a_term_renewed_early_reads_renewed_with_the_new_dates(app, client, auth, factory):
    _org, _old, _new, new_start, new_end = _renewed_early(app, factory)
    factory.ally(start=_today(app) - timedelta(days=700), name="Plain Expiring")
    auth.login("reviewer")

    listing = client.get("/staff/allies").get_data(as_text=True)
    row = listing[listing.index("Early Renewer") :].split("</tr>")[0]
    assert "badge-renewed" in row and f"{new_start} – {new_end}" in row
    assert f"Renewed until {long_date(new_end)}" in row

    assert _names(client.get("/staff/allies?status=renewed").get_data(as_text=True)) == [
        "Early Renewer"
    ]
    assert _names(client.get("/staff/allies?status=expiring").get_data(as_text=True)) == [
        "Plain Expiring"
    ]

    exported = client.get("/staff/allies/export.csv").get_data().decode("utf-8-sig")  # BOM
    by_name = {row["name"]: row for row in csv.DictReader(io.StringIO(exported))}
    assert by_name["Early Renewer"]["status"] == "renewed"
    assert (by_name["Early Renewer"]["term_start"], by_name["Early Renewer"]["term_end"]) == (
        str(new_start),
        str(new_end),
    )
    assert by_name["Plain Expiring"]["status"] == "expiring"
    assert "Early Renewer" in client.get("/allies").get_data(as_text=True)


def _terminate(client, org_id, agreement_id, on):
    return client.post(
        f"/staff/allies/{org_id}/agreements/{agreement_id}/terminate",
        data={"terminated_on": on.isoformat(), "reason": "Closed down"},
    )


def test_the_server_refuses_to_terminate_a_lapsed_terminated_or_renewed_term(
    app, client, auth, factory
):
    today = _today(app)
    lapsed_org, lapsed = factory.ally(start=today - timedelta(days=800), name="Lapsed Org")
    renewed_org, renewed, successor, _start, _end = _renewed_early(app, factory)
    live_org, live = factory.ally(start=today - timedelta(days=100), name="Live Org")
    auth.login("admin")

    response = _terminate(client, lapsed_org, lapsed, today)
    assert response.status_code == 400
    assert "already lapsed" in response.get_data(as_text=True)

    response = _terminate(client, renewed_org, renewed, today)
    assert response.status_code == 400
    assert "terminate the new term instead" in response.get_data(as_text=True)

    assert _terminate(client, live_org, live, today).status_code == 302
    response = _terminate(client, live_org, live, today)
    assert response.status_code == 400
    assert "already terminated" in response.get_data(as_text=True)

    with app.app_context():
        assert db.session.get(Agreement, lapsed).terminated_on is None
        assert db.session.get(Agreement, renewed).terminated_on is None
        assert db.session.get(Agreement, live).terminated_on == today


def test_terminating_a_renewal_not_yet_started_ends_the_term_it_follows(app, client, auth, factory):
    today = _today(app)
    org_id, old, new, _start, _end = _renewed_early(app, factory, name="Ending Org")
    auth.login("admin")
    page = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    # Only the new term offers termination: the old one is renewed.
    assert f"/agreements/{new}/terminate" in page and f"/agreements/{old}/terminate" not in page
    assert _terminate(client, org_id, new, today).status_code == 302
    with app.app_context():
        assert db.session.get(Agreement, old).terminated_on == today
        assert db.session.get(Agreement, new).terminated_on == today
    assert "Ending Org" not in client.get("/allies").get_data(as_text=True)


def test_an_ally_in_grace_reads_ended_and_renewal_in_progress(app, client, factory):
    today = _today(app)
    org_id, agreement_id = factory.ally(start=today - timedelta(days=740), name="Graceful Org")
    with app.app_context():
        end = db.session.get(Agreement, agreement_id).end_date
    expected = f"ended on {long_date(end)}; renewal in progress until "
    expected += long_date(end + timedelta(days=30))
    sign_in_contact(app, client, org_id)
    for path in ("/my", f"/my/renew/{agreement_id}"):
        html = client.get(path).get_data(as_text=True)
        assert expected in html, path
        assert "runs to" not in html, path


def test_approving_a_renewal_says_renewed_until_the_new_end(app, client, auth, factory):
    today = _today(app)
    _org, agreement_id = factory.ally(start=today - timedelta(days=700), name="Renewing Org")
    renewal_id = factory.renewal(agreement_id, submitted_on=today)
    auth.login("reviewer")
    response = client.post(
        f"/staff/applications/{renewal_id}/approve",
        data={"start_date": today.isoformat()},
        follow_redirects=True,
    )
    with app.app_context():
        new_end = db.session.get(Agreement, agreement_id).successor.end_date
    html = response.get_data(as_text=True)
    assert f"Renewing Org is renewed until {long_date(new_end)}" in html
    assert "is an Ally" not in html


def test_the_dashboard_count_of_agreements_ending_soon_matches_the_list_it_links_to(
    app, client, auth, factory
):
    today = _today(app)
    factory.ally(start=today - timedelta(days=710), name="Ends In Twenty")  # ends in 19 days
    factory.ally(start=today - timedelta(days=670), name="Ends In Sixty")  # expiring, not within 30
    _renewed_early(app, factory, name="Renewed Already")  # ends in 29 days but renewed
    auth.login("reviewer")
    dashboard = client.get("/staff").get_data(as_text=True)
    match = re.search(
        r'<strong>(\d+)</strong> <a href="([^"]+)">agreements ending within 30 days', dashboard
    )
    assert match, "the dashboard shows the count with its link"
    count, link = int(match.group(1)), match.group(2).replace("&amp;", "&")
    listed = _names(client.get(link).get_data(as_text=True))
    assert count == len(listed) == 1
    assert listed == ["Ends In Twenty"]


def test_terminating_declines_a_renewal_waiting_for_the_term(app, client, auth, factory):
    today = _today(app)
    org_id, agreement_id = factory.ally(start=today - timedelta(days=700), name="Leaving Org")
    renewal_id = factory.renewal(agreement_id, submitted_on=today)
    auth.login("admin")
    assert _terminate(client, org_id, agreement_id, today).status_code == 302
    from allies.applications.models import Application

    with app.app_context():
        renewal = db.session.get(Application, renewal_id)
        assert renewal.state == "declined"
        assert renewal.decision_reason == "The agreement was terminated: Closed down"
    assert client.get("/staff/applications").get_data(as_text=True).count("Leaving Org") == 0
