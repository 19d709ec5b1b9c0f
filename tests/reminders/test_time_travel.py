"""A whole two-year term, one day at a time, ending today.

Three Allies start on (nearly) the same day. One renews in the middle of its last 90 days; one
never renews and lapses today; one never renews and is on the last day of its grace period
today. Every day the daily sweep runs as of that day through the CLI, ``reminders run --today``.
The test asserts the exact sequence of reminders, then that the public page ``/allies`` (which
uses the real today) lists the renewed and the in-grace Allies and not the lapsed one.
"""

from datetime import date, timedelta

from allies.agreements.models import Agreement
from allies.agreements.standing import lapse_date, listed_clause, status_of
from allies.applications.operations import approve_application
from allies.extensions import db
from allies.reminders.operations import reminders_for_agreement, run_sweep
from allies.staff.models import StaffUser
from allies.timeutil import alliance_today
from tests.fixtures import Factory, start_for_end

GRACE = 30


def _has_start(end: date) -> bool:
    try:
        start_for_end(end)
    except AssertionError:
        return False
    return True


def listed_names(app, day: date) -> set[str]:
    """Names of the organizations listed on ``day`` by the SQL form the public pages use."""
    from allies.organizations.models import Organization

    with app.app_context():
        return set(
            db.session.scalars(
                db.select(Organization.name).where(
                    Organization.id.in_(
                        db.select(Agreement.organization_id).where(listed_clause(day, GRACE))
                    )
                )
            )
        )


def test_two_years_day_by_day(app, runner, factory):
    with app.app_context():
        real_today = alliance_today()
    lapser_end = real_today - timedelta(days=GRACE + 1)  # lapses today
    if not (_has_start(lapser_end) and _has_start(lapser_end + timedelta(days=1))):
        # No term ends on 28 February of a leap year: on the rare day that would be needed,
        # the story ends two days ago and the public page (which uses the real today) is skipped.
        lapser_end -= timedelta(days=2)
    today = lapse_date(lapser_end, GRACE)
    graceful_end = lapser_end + timedelta(days=1)  # lapses tomorrow
    first_day = start_for_end(lapser_end)

    _o, renewer = factory.ally(
        start=first_day, name="Renewing Health Network", email="r@example.org"
    )
    _o, lapser = factory.ally(start=first_day, name="Lapsing Medical School", email="l@example.org")
    _o, graceful = factory.ally(
        start=start_for_end(graceful_end), name="Graceful Nursing College", email="g@example.org"
    )
    with app.app_context():
        renewer_end = db.session.get(Agreement, renewer).end_date
    assert renewer_end == lapser_end

    submit_on = renewer_end - timedelta(days=20)
    approve_on = renewer_end - timedelta(days=15)

    log: list[tuple[date, int, str]] = []
    successor = None
    day = first_day
    while day <= today:
        if day == submit_on:
            Factory(app).renewal(renewer, submitted_on=day)
        if day == approve_on:
            successor = _approve_renewal(app, day)
        result = runner.invoke(args=["reminders", "run", "--today", day.isoformat()])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[-1].startswith("queued ")
        assert int(lines[-1].split()[1]) == len(lines) - 1
        for line in lines[:-1]:
            kind, target, number, *_rest = line.split(" ", 3)
            if kind != "staff_digest":
                assert target == "agreement"
                log.append((day, int(number), kind))
        day += timedelta(days=1)

    end = lapser_end
    assert log == sorted(
        [
            (end - timedelta(days=90), renewer, "before_90"),
            (end - timedelta(days=90), lapser, "before_90"),
            (end - timedelta(days=89), graceful, "before_90"),
            (end - timedelta(days=30), renewer, "before_30"),
            (end - timedelta(days=30), lapser, "before_30"),
            (end - timedelta(days=29), graceful, "before_30"),
            (end - timedelta(days=7), lapser, "before_7"),
            (end - timedelta(days=6), graceful, "before_7"),
            (end, lapser, "end_day"),
            (end + timedelta(days=1), graceful, "end_day"),
            (today, lapser, "lapse"),
        ],
        key=lambda entry: (entry[0], entry[1]),
    )
    with app.app_context():
        assert [r.kind for r in reminders_for_agreement(renewer)] == ["before_90", "before_30"]
        assert reminders_for_agreement(successor) == []
        new_term = db.session.get(Agreement, successor)
        assert new_term.start_date == renewer_end + timedelta(days=1)
        assert status_of(db.session.get(Agreement, lapser), today, GRACE) == "lapsed"
        assert (
            status_of(db.session.get(Agreement, lapser), today - timedelta(days=1), GRACE)
            == "grace"
        )
        assert status_of(db.session.get(Agreement, graceful), today, GRACE) == "grace"
        assert status_of(new_term, today, GRACE) == "active"

    # Listed through grace, gone on the lapse day; the renewed Ally stays throughout.
    yesterday = listed_names(app, today - timedelta(days=1))
    assert {
        "Renewing Health Network",
        "Lapsing Medical School",
        "Graceful Nursing College",
    } <= yesterday
    assert listed_names(app, today) == {"Renewing Health Network", "Graceful Nursing College"}

    if today == real_today:
        page = factory.app.test_client().get("/allies")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Renewing Health Network" in html
        assert "Graceful Nursing College" in html
        assert "Lapsing Medical School" not in html

    # The sweep goes on: the in-grace Ally lapses tomorrow, then nothing more for anyone.
    with app.app_context():
        for offset, expected in ((1, [(graceful, "lapse")]), (2, []), (3, [])):
            lines = run_sweep(today + timedelta(days=offset)).lines
            assert [
                (li.agreement_id, li.kind) for li in lines if li.kind != "staff_digest"
            ] == expected


def _approve_renewal(app, day: date) -> int:
    from allies.applications.models import Application

    with app.app_context():
        application = db.session.scalar(
            db.select(Application).where(
                Application.kind == "renewal", Application.state == "submitted"
            )
        )
        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        return approve_application(application, staff=staff, start=None, today=day).agreement_id
