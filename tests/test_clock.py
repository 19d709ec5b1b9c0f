"""One clock: ``ALLIES_TODAY`` moves the alliance's date for pages, renewals and the sweep.

Also here: the confirmation before ``reminders run`` queues real email for a later day, and the
address ``make run`` records so that email queued by any process links to the running site.
"""

import html
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from allies import create_app
from allies.agreements.terms import term_end
from allies.applications.models import Application
from allies.deploy import fatal_problems, unsafe_settings
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.outbox import public_url
from allies.reminders.lock import SchedulerLock
from allies.reminders.models import SweepRun
from allies.reminders.operations import run_sweep
from allies.staff.settings import set_setting
from allies.timeutil import alliance_today
from jobs.scheduler import SWEEP_JOB, build_scheduler, sweep_job
from tests.fixtures import PROJECT_DIR, application_form

MOVED = date(2028, 11, 23)
BANNER = "This instance's clock is set to 23 November 2028 (ALLIES_TODAY); it is not today's date."

FLASK = os.path.join(PROJECT_DIR, ".venv", "bin", "flask")
if not os.path.exists(FLASK):  # a virtualenv elsewhere
    FLASK = os.path.join(os.path.dirname(sys.executable), "flask")


def real_today() -> date:
    """The real date in the tests' time zone (UTC)."""
    return datetime.now(UTC).date()


@pytest.fixture
def moved_clock(app_config):
    """The instance's clock set to MOVED; request it before ``app`` (it changes app_config)."""
    app_config["TODAY"] = MOVED.isoformat()
    return MOVED


def outbox(app, kind=None) -> list[OutboxMessage]:
    with app.app_context():
        query = db.select(OutboxMessage).order_by(OutboxMessage.id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        messages = list(db.session.scalars(query))
        for message in messages:
            db.session.expunge(message)
        return messages


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model))


# A key as the README makes one (secrets.token_hex(32)): production accepts it.
SECRET_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def production_config(tmp_path, **overrides) -> dict:
    return {
        "ALLIES_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_BASE_URL": "https://allies.example.org",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3",
        "ALLOW_SQLITE_IN_PRODUCTION": True,
        "INSTANCE_PATH": str(tmp_path),
        **overrides,
    }


@pytest.fixture
def bare_env(monkeypatch, tmp_path):
    """An environment for ``create_app()`` as ``flask --app wsgi`` would build it, on a temporary
    instance folder and database, with no ALLIES_* setting of the developer's leaking in."""
    for name in list(os.environ):
        if name.startswith("ALLIES_") or name in ("DATABASE_URL", "SECRET_KEY"):
            monkeypatch.delenv(name)
    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setenv("ALLIES_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite3")
    return instance


# --------------------------------------------------------------------------- the clock itself


def test_alliance_today_is_the_real_date_when_the_clock_is_not_set(app):
    with app.app_context():
        before = real_today()
        today = alliance_today()
        assert app.config["TODAY"] is None
    assert today in (before, real_today())


@pytest.mark.parametrize("value", ["2028-11-23", " 2028-11-23 ", MOVED, datetime(2028, 11, 23, 9)])
def test_alliance_today_honours_the_configured_date(app_config, value):
    app_config["TODAY"] = value
    app = create_app(app_config)
    assert app.config["TODAY"] == MOVED and type(app.config["TODAY"]) is date  # parsed once
    with app.app_context():
        assert alliance_today() == MOVED
        app.config["TODAY"] = "2029-01-05"  # changed after start-up (a test), still honoured
        assert alliance_today() == date(2029, 1, 5)
        app.config["TODAY"] = None
        assert alliance_today() in (real_today() - timedelta(days=1), real_today())


def test_allies_today_from_the_environment(bare_env, monkeypatch):
    monkeypatch.setenv("ALLIES_TODAY", "2028-11-23")
    app = create_app()
    with app.app_context():
        assert alliance_today() == MOVED


@pytest.mark.parametrize("value", ["23/11/2028", "2028-02-30", "2028-1-5", "tomorrow", "20281123"])
def test_a_malformed_date_refuses_to_start(bare_env, monkeypatch, value):
    # "20281123" arrives as the number 20281123 (the environment is parsed as JSON).
    monkeypatch.setenv("ALLIES_TODAY", value)
    with pytest.raises(
        RuntimeError, match="ALLIES_TODAY must be a calendar date written YYYY-MM-DD"
    ):
        create_app()


def test_an_empty_setting_leaves_the_clock_alone(bare_env, monkeypatch):
    monkeypatch.setenv("ALLIES_TODAY", "")
    app = create_app()
    assert app.config["TODAY"] is None
    assert not any(p.startswith("TODAY") for p in unsafe_settings(app.config))
    assert not any(p.startswith("TODAY") for p in unsafe_settings({"TODAY": " "}))


def test_production_refuses_a_set_clock(tmp_path):
    create_app(production_config(tmp_path))  # otherwise safe: it starts
    with pytest.raises(RuntimeError, match=r"TODAY is set \(ALLIES_TODAY=2028-11-23\)"):
        create_app(production_config(tmp_path, TODAY="2028-11-23"))
    assert any(p.startswith("TODAY is set") for p in fatal_problems({"TODAY": MOVED}))


def test_production_refuses_a_set_clock_from_the_environment(bare_env, monkeypatch):
    monkeypatch.setenv("ALLIES_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("ALLIES_PUBLIC_BASE_URL", "https://allies.example.org")
    monkeypatch.setenv("ALLIES_ALLOW_SQLITE_IN_PRODUCTION", "true")
    monkeypatch.setenv("ALLIES_TODAY", "2028-11-23")
    with pytest.raises(RuntimeError, match="Refusing to start in production: TODAY is set"):
        create_app()


# --------------------------------------------------------------------------- the page banner


def test_the_banner_shows_on_public_and_staff_pages_while_the_clock_is_set(
    moved_clock, app, client, auth
):
    for path in ("/", "/allies", "/become-an-ally", "/sign-in", "/no-such-page"):
        page = client.get(path).get_data(as_text=True)
        banner = re.search(r'<div class="clock-banner" role="status">(.*?)</div>', page, re.S)
        assert banner, path
        assert BANNER in html.unescape(banner.group(1)), path
    auth.login("admin")
    for path in ("/staff", "/staff/outbox"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert BANNER in html.unescape(response.get_data(as_text=True)), path


def test_no_banner_while_the_clock_follows_the_real_date(app, client, auth):
    for path in ("/", "/allies"):
        page = client.get(path).get_data(as_text=True)
        assert "clock-banner" not in page and "ALLIES_TODAY" not in page, path
    auth.login("admin")
    assert "clock-banner" not in client.get("/staff").get_data(as_text=True)


# --------------------------------------------------------------------------- renewal two years on


@pytest.fixture
def two_years_ahead(app_config):
    """The clock set a month before the end of a term starting today (request before ``app``)."""
    moved = term_end(real_today()) - timedelta(days=30)
    app_config["TODAY"] = moved.isoformat()
    return moved


def test_a_renewal_link_opens_the_form_on_an_instance_two_years_ahead(
    two_years_ahead, app, client, runner, factory
):
    """An Ally starts today; the instance's clock is set a month before its term ends (two years
    ahead). The sweep, the emailed link and the renewal form all live on that day."""
    moved = two_years_ahead
    _org, agreement_id = factory.ally(
        start=real_today(), name="Two Years Clinic", email="two@example.org"
    )
    with app.app_context():
        assert alliance_today() == moved

    result = runner.invoke(args=["reminders", "run"])  # as of the instance's today
    assert result.exit_code == 0, result.output
    assert f"before_30 agreement {agreement_id} to two@example.org" in result.output
    (message,) = [m for m in outbox(app, "reminder") if m.to_addr == "two@example.org"]
    url = re.search(r"(http://allies\.test/my/link/\S+)", message.body_text).group(1)

    link = urlsplit(url)
    response = client.post(link.path + (f"?{link.query}" if link.query else ""))
    assert response.status_code == 302
    assert response.location.endswith(f"/my/renew/{agreement_id}")
    page = html.unescape(client.get(f"/my/renew/{agreement_id}").get_data(as_text=True))
    assert "Renewal opens on" not in page
    assert "Send renewal" in page
    assert BANNER.replace("23 November 2028", f"{moved.day} {moved:%B %Y}") in page

    # The same page on the real date: renewal is not open yet (the control).
    app.config["TODAY"] = None
    assert "Renewal opens on" in client.get(f"/my/renew/{agreement_id}").get_data(as_text=True)
    app.config["TODAY"] = moved

    response = client.post(f"/my/renew/{agreement_id}", data=application_form(app))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "your renewal is with us" in response.get_data(as_text=True)
    with app.app_context():
        renewal = db.session.scalar(
            db.select(Application).where(Application.renews_agreement_id == agreement_id)
        )
        assert renewal is not None and renewal.state == "submitted"


# --------------------------------------------------------------------------- the scheduler


def test_the_scheduler_sweeps_as_of_the_instance_today(moved_clock, app):
    result = sweep_job(app)
    assert result.as_of == MOVED
    with app.app_context():
        set_setting("reminder_hour", 0)  # the hour has always passed
        db.session.commit()
        lock = SchedulerLock(db.engine, holder="inspect")
    # Today's sweep (as of the instance's today) is done: nothing to catch up at start.
    sweep = {job.id: job for job in build_scheduler(app, lock).get_jobs()}[SWEEP_JOB]
    assert getattr(sweep, "next_run_time", None) is None


def test_a_sweep_on_the_real_date_does_not_count_as_the_moved_day(moved_clock, app):
    with app.app_context():
        run_sweep(real_today())
        set_setting("reminder_hour", 0)
        db.session.commit()
        lock = SchedulerLock(db.engine, holder="inspect")
    sweep = {job.id: job for job in build_scheduler(app, lock).get_jobs()}[SWEEP_JOB]
    assert getattr(sweep, "next_run_time", None) is not None, "the moved day's sweep is due"


# --------------------------------------------------------------------------- reminders run --today


def future_due_day(factory) -> tuple[int, date]:
    """An Ally whose 90-day reminder falls due on a day after the real today."""
    start = real_today()
    _org, agreement_id = factory.ally(start=start, email="future@example.org")
    return agreement_id, term_end(start) - timedelta(days=90)


@pytest.mark.parametrize("answer", [None, "n\n", "\n"])
def test_a_future_run_without_yes_asks_and_queues_nothing(app, runner, factory, answer):
    _agreement_id, day = future_due_day(factory)
    before = count(app, OutboxMessage)  # the application's own email
    result = runner.invoke(args=["reminders", "run", "--today", day.isoformat()], input=answer)
    assert result.exit_code != 0
    assert f"{day.isoformat()} is after this instance's today" in result.output
    assert "REAL email" in result.output
    assert "Nothing queued" in result.output
    assert count(app, OutboxMessage) == before
    assert count(app, SweepRun) == 0


def test_a_future_run_queues_when_confirmed(app, runner, factory):
    agreement_id, day = future_due_day(factory)
    result = runner.invoke(args=["reminders", "run", "--today", day.isoformat()], input="y\n")
    assert result.exit_code == 0, result.output
    assert f"before_90 agreement {agreement_id}" in result.output
    assert [m.to_addr for m in outbox(app, "reminder")] == ["future@example.org"]


def test_a_future_run_with_yes_queues_without_asking(app, runner, factory):
    agreement_id, day = future_due_day(factory)
    result = runner.invoke(args=["reminders", "run", "--today", day.isoformat(), "--yes"])
    assert result.exit_code == 0, result.output
    assert "REAL email" not in result.output and "Queue real email" not in result.output
    assert f"before_90 agreement {agreement_id}" in result.output
    assert result.output.splitlines()[-1].startswith("queued ")
    assert [m.to_addr for m in outbox(app, "reminder")] == ["future@example.org"]


def test_a_future_dry_run_needs_no_confirmation(app, runner, factory):
    agreement_id, day = future_due_day(factory)
    result = runner.invoke(args=["reminders", "run", "--today", day.isoformat(), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Queue real email" not in result.output
    assert f"before_90 agreement {agreement_id}" in result.output
    assert outbox(app, "reminder") == []


def test_today_and_past_days_need_no_confirmation(app, runner):
    for day in (real_today(), real_today() - timedelta(days=400)):
        result = runner.invoke(args=["reminders", "run", "--today", day.isoformat()])
        assert result.exit_code == 0, result.output
        assert "Queue real email" not in result.output


def test_with_the_clock_set_only_days_after_it_ask(moved_clock, app, runner):
    # The moved day itself is the instance's today, though later than the real date.
    for args in (["reminders", "run"], ["reminders", "run", "--today", MOVED.isoformat()]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert "Queue real email" not in result.output
    later = (MOVED + timedelta(days=1)).isoformat()
    result = runner.invoke(args=["reminders", "run", "--today", later])
    assert result.exit_code != 0
    assert f"{later} is after this instance's today (2028-11-23)" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).where(SweepRun.as_of > MOVED)) == 0
    assert runner.invoke(args=["reminders", "run", "--today", later, "--yes"]).exit_code == 0


# --------------------------------------------------------------------------- the link address


def test_make_run_records_its_address_for_reminders_queued_elsewhere(app, factory):
    """``make run PORT=8080`` records its address; ``flask --app wsgi reminders run`` in another
    shell (another process, no ALLIES_PUBLIC_BASE_URL) then links to port 8080."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ALLIES_", "MAKE", "MFLAGS"))
        and name not in ("DATABASE_URL", "SECRET_KEY")
    }
    env["ALLIES_INSTANCE_PATH"] = app.instance_path
    made = subprocess.run(
        ["make", "--no-print-directory", "-s", "record-base-url", "PORT=8080"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    recorded = os.path.join(app.instance_path, "public_base_url")
    with open(recorded) as handle:
        assert handle.read().strip() == "http://127.0.0.1:8080"

    start = real_today() - timedelta(days=700)
    end = term_end(start)
    assert end - timedelta(days=30) <= real_today() < end - timedelta(days=7)
    _org, agreement_id = factory.ally(start=start, email="port@example.org")
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        ALLIES_TIMEZONE=app.config["TIMEZONE"],
        SECRET_KEY=app.config["SECRET_KEY"],
    )
    ran = subprocess.run(
        [FLASK, "--app", "wsgi", "reminders", "run"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    assert f"before_30 agreement {agreement_id} to port@example.org" in ran.stdout
    (message,) = [m for m in outbox(app, "reminder") if m.to_addr == "port@example.org"]
    assert "http://127.0.0.1:8080/my/link/" in message.body_text
    assert "127.0.0.1:5000" not in message.body_text + message.body_html


def test_the_recorded_address_is_the_fallback_for_email_links(bare_env, monkeypatch):
    assert create_app().config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"  # nothing recorded

    (bare_env / "public_base_url").write_text("http://127.0.0.1:8080\n")
    app = create_app()
    assert app.config["PUBLIC_BASE_URL"] == "http://127.0.0.1:8080"
    with app.app_context():
        assert public_url("organizations.allies") == "http://127.0.0.1:8080/allies"

    (bare_env / "config.py").write_text('PUBLIC_BASE_URL = "https://config.example.org"\n')
    assert create_app().config["PUBLIC_BASE_URL"] == "https://config.example.org"

    monkeypatch.setenv("ALLIES_PUBLIC_BASE_URL", "https://allies.example.org")
    assert create_app().config["PUBLIC_BASE_URL"] == "https://allies.example.org"


def test_a_test_configuration_ignores_the_recorded_address(app_config):
    os.makedirs(app_config["INSTANCE_PATH"], exist_ok=True)
    with open(os.path.join(app_config["INSTANCE_PATH"], "public_base_url"), "w") as handle:
        handle.write("http://127.0.0.1:8080\n")
    assert create_app(app_config).config["PUBLIC_BASE_URL"] == "http://allies.test"
