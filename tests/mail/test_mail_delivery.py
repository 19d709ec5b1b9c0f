"""Outbox delivery against a real SMTP server (aiosmtpd) that can accept, defer, refuse or hang.

Time is travelled by passing ``now`` to ``deliver_pending`` instead of sleeping.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from allies.errors import OperationError
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.sender import deliver_pending, retry_message, summarize_outbox
from allies.staff.audit import history_of
from allies.staff.models import StaffUser
from allies.timeutil import utcnow
from tests.fixtures import PROJECT_DIR, queue, rows

# The SMTP servers (the smtp_servers and smtp fixtures) are in tests/mail/conftest.py.


@pytest.fixture
def app_config(app_config, database_url, smtp):
    """Send to the test SMTP server, with a short timeout for the hanging one."""
    app_config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        MAIL_TIMEOUT=1,
        MAIL_DEFAULT_SENDER="Allies <allies@alliance.test>",
    )
    return app_config


# --- helpers ----------------------------------------------------------------------------------


def deliver(app, now=None, **kwargs):
    with app.app_context():
        return deliver_pending(now=now, **kwargs)


def use_server(app, port):
    app.config["MAIL_SERVER"] = "127.0.0.1"
    app.config["MAIL_PORT"] = port


# --- delivery ---------------------------------------------------------------------------------


def test_accepting_server_gets_each_message_once_with_its_headers(app, smtp):
    ids = queue(app, 3)
    report = deliver(app)
    assert (report.sent, report.retried, report.failed) == (3, 0, 0)

    stored = rows(app)
    assert smtp.handler.counts_by_message_id() == Counter({stored[i].message_id: 1 for i in ids})
    for message_id in ids:
        row = stored[message_id]
        assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
        assert row.claim_token is None and row.last_error == ""
        (email,) = smtp.handler.by_message_id(row.message_id)
        assert email["To"] == row.to_addr
        assert email["From"] == "Allies <allies@alliance.test>"
        assert email["Subject"] == row.subject
        assert email["Date"]
        assert email.get_content_type() == "multipart/alternative"
        text = email.get_body(preferencelist=("plain",)).get_content()
        html = email.get_body(preferencelist=("html",)).get_content()
        assert "This is test message" in text and "<strong>" in html

    again = deliver(app, now=utcnow() + timedelta(days=30))
    assert again.claimed == 0
    assert sum(smtp.handler.counts_by_message_id().values()) == 3


def test_application_emails_go_out(app, smtp, factory):
    """The emails the real application flow queues are delivered like any other."""
    factory.application(email="applicant@example.org")
    report = deliver(app)
    assert report.sent >= 1 and report.failed == 0
    recipients = {m["To"] for m in smtp.handler.received}
    assert "applicant@example.org" in recipients


@pytest.mark.parametrize("outage", ["451", "refused", "hang"])
def test_outage_loses_nothing_and_every_message_arrives_once_after(app, smtp, outage):
    ids = queue(app, 4)
    if outage == "451":
        smtp.handler.mode = "451"
    elif outage == "refused":
        use_server(app, smtp.refused_port)
    else:
        use_server(app, smtp.hanging.port)

    t0 = utcnow()
    now = t0
    for attempt in (1, 2):
        report = deliver(app, now=now)
        assert (report.sent, report.retried, report.failed) == (0, 4, 0)
        for row in rows(app).values():
            assert row.status == "pending", "nothing is marked sent during an outage"
            # An unreachable server is tried once per batch; the untried messages keep their
            # attempts and wait as long as the one that was tried.
            tried = outage == "451" or row.id == ids[0]
            assert row.attempts == (attempt if tried else 0)
            delay = (row.next_attempt_at - now).total_seconds()
            assert 60 * 2 ** (attempt - 1) * 0.5 <= delay <= 60 * 2 ** (attempt - 1)
            assert row.last_error
        # Not due yet: nothing is claimed before the back-off has passed.
        assert deliver(app, now=now + timedelta(seconds=1)).claimed == 0
        now = max(row.next_attempt_at for row in rows(app).values()) + timedelta(seconds=1)
    assert smtp.handler.received == []
    if outage == "hang":
        # A server that does not answer is tried once per batch, not once per message.
        assert len(smtp.hanging.connections) == 2
        assert "timed out" in rows(app)[ids[0]].last_error
    if outage == "451":
        assert "451" in rows(app)[ids[0]].last_error

    smtp.handler.mode = "accept"
    use_server(app, smtp.port)
    report = deliver(app, now=t0 + timedelta(days=1))
    assert (report.sent, report.retried, report.failed) == (4, 0, 0)
    stored = rows(app)
    assert smtp.handler.counts_by_message_id() == Counter({stored[i].message_id: 1 for i in ids})
    assert all(row.status == "sent" for row in stored.values())
    assert [stored[i].attempts for i in ids] == ([3, 3, 3, 3] if outage == "451" else [3, 1, 1, 1])
    assert deliver(app, now=t0 + timedelta(days=2)).claimed == 0
    assert sum(smtp.handler.counts_by_message_id().values()) == 4


def test_gives_up_after_max_attempts(app, smtp):
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    (message_id,) = queue(app, 1)
    smtp.handler.mode = "451"
    now = utcnow()
    outcomes = []
    for _ in range(3):
        report = deliver(app, now=now)
        outcomes.append((report.retried, report.failed))
        now += timedelta(days=1)
    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    row = rows(app)[message_id]
    assert row.status == "failed" and row.attempts == 3
    assert "Gave up after 3 attempts" in row.last_error and "451" in row.last_error
    assert deliver(app, now=now + timedelta(days=10)).claimed == 0
    assert smtp.handler.received == []


def test_550_after_data_fails_at_once(app, smtp):
    (message_id,) = queue(app, 1)
    smtp.handler.mode = "550"
    report = deliver(app)
    assert (report.sent, report.retried, report.failed) == (0, 0, 1)
    row = rows(app)[message_id]
    assert row.status == "failed" and row.attempts == 1
    assert "550" in row.last_error and "refused by policy" in row.last_error
    smtp.handler.mode = "accept"
    assert deliver(app, now=utcnow() + timedelta(days=1)).claimed == 0
    assert smtp.handler.received == []


def test_refused_recipient_fails_and_the_rest_of_the_batch_is_sent(app, smtp):
    ids = queue(app, 3)
    smtp.handler.refuse_rcpt = {
        "member1@example.org": "550 5.1.1 No such mailbox",
        "member2@example.org": "450 4.2.1 Mailbox busy",
    }
    report = deliver(app)
    assert (report.sent, report.retried, report.failed) == (1, 1, 1)
    stored = rows(app)
    assert [stored[i].status for i in ids] == ["sent", "failed", "pending"]
    assert "No such mailbox" in stored[ids[1]].last_error
    assert "450" in stored[ids[2]].last_error
    assert smtp.handler.counts_by_message_id() == Counter({stored[ids[0]].message_id: 1})

    smtp.handler.refuse_rcpt = {}
    report = deliver(app, now=utcnow() + timedelta(days=1))
    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    assert smtp.handler.counts_by_message_id()[stored[ids[2]].message_id] == 1


def test_header_injection_is_refused_not_sent(app, smtp):
    """A subject with a line break can never become extra headers (e.g. a hidden Bcc)."""
    ids = queue(app, 2)
    with app.app_context():
        message = db.session.get(OutboxMessage, ids[0])
        message.subject = "Hello\r\nBcc: everyone@example.org"
        db.session.commit()
    report = deliver(app)
    assert (report.sent, report.failed) == (1, 1)
    row = rows(app)[ids[0]]
    assert row.status == "failed" and "cannot be built" in row.last_error
    (received,) = smtp.handler.received
    assert received["Bcc"] is None and received["Subject"] == "Test message 1"


def test_retry_message_requeues_a_failed_message_and_audits_it(app, smtp):
    (message_id,) = queue(app, 1)
    smtp.handler.mode = "550"
    deliver(app)
    with app.app_context():
        staff = StaffUser(email="reviewer@example.org", name="Rita Reviewer", role="reviewer")
        staff.set_password("correct-horse-battery")
        db.session.add(staff)
        db.session.commit()
        staff_id = staff.id
        message = db.session.get(OutboxMessage, message_id)
        retry_message(message, staff)
        assert message.status == "pending" and message.attempts == 0
        (event,) = [e for e in history_of(message) if e.action == "retried"]
        assert (event.from_state, event.to_state, event.staff_id) == ("failed", "pending", staff_id)
        assert "550" in event.reason
        with pytest.raises(OperationError):
            retry_message(message, staff)
    smtp.handler.mode = "accept"
    assert deliver(app).sent == 1
    assert len(smtp.handler.received) == 1


def test_summarize_outbox_counts_every_status(app, smtp):
    queue(app, 3)
    smtp.handler.refuse_rcpt = {"member0@example.org": "550 5.1.1 No such mailbox"}
    deliver(app)
    queue(app, 2, to="later{n}@example.org")
    with app.app_context():
        assert summarize_outbox() == {"pending": 2, "sending": 0, "sent": 2, "failed": 1}


def test_concurrent_senders_deliver_each_message_exactly_once(app, smtp):
    ids = queue(app, 40)
    reports = []
    errors = []

    def worker():
        try:
            with app.app_context():
                while True:
                    report = deliver_pending(batch_size=3)
                    reports.append(report)
                    if report.claimed == 0:
                        return
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r.sent for r in reports) == 40
    stored = rows(app)
    assert all(stored[i].status == "sent" and stored[i].attempts == 1 for i in ids)
    assert smtp.handler.counts_by_message_id() == Counter({stored[i].message_id: 1 for i in ids})


# --- crashes ----------------------------------------------------------------------------------

CRASHING_SENDER = """
import json, sys
from allies import create_app
from allies.mail.sender import deliver_pending

app = create_app(json.loads(sys.argv[1]))
with app.app_context():
    deliver_pending()
print("finished", flush=True)
"""


def test_sender_killed_mid_send_is_resent_once_with_the_same_message_id(
    app, app_config, smtp, tmp_path
):
    ids = queue(app, 2)
    config = {
        "TESTING": True,
        "SECRET_KEY": app_config["SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": app_config["SQLALCHEMY_DATABASE_URI"],
        "INSTANCE_PATH": str(tmp_path / "crashing-instance"),
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.hanging.port,
        "MAIL_TIMEOUT": 60,
        "MAIL_DEFAULT_SENDER": app_config["MAIL_DEFAULT_SENDER"],
    }
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SENDER, json.dumps(config)],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # The sender has claimed its batch and is blocked talking to the server.
        assert smtp.hanging.connected.wait(30), process.stderr.read1().decode()
        claimed = rows(app)
        assert all(claimed[i].status == "sending" and claimed[i].attempts == 1 for i in ids)
        assert all(claimed[i].claimed_until > utcnow() for i in ids)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL

    after_crash = rows(app)
    assert all(after_crash[i].status == "sending" for i in ids), "nothing marked after a crash"
    # While the dead sender's lease lasts, nobody else takes its messages.
    assert deliver(app).claimed == 0

    report = deliver(app, now=utcnow() + timedelta(seconds=301))
    assert (report.sent, report.retried, report.failed) == (2, 0, 0)
    stored = rows(app)
    for message_id in ids:
        assert stored[message_id].status == "sent" and stored[message_id].attempts == 2
        assert stored[message_id].message_id == claimed[message_id].message_id
    assert smtp.handler.counts_by_message_id() == Counter({claimed[i].message_id: 1 for i in ids})
    assert deliver(app, now=utcnow() + timedelta(days=1)).claimed == 0


def test_message_whose_every_attempt_crashed_ends_failed_not_sent(app, smtp):
    app.config["MAIL_MAX_ATTEMPTS"] = 2
    (message_id,) = queue(app, 1)
    now = utcnow()
    with app.app_context():
        message = db.session.get(OutboxMessage, message_id)
        message.status, message.attempts = "sending", 2
        message.claim_token, message.claimed_until = "dead-sender", now - timedelta(seconds=1)
        db.session.commit()
    assert deliver(app, now=now).claimed == 0
    row = rows(app)[message_id]
    assert row.status == "failed" and "interrupted" in row.last_error
    assert smtp.handler.received == []


# --- files ------------------------------------------------------------------------------------


def test_without_a_server_messages_are_written_as_eml_files(app, smtp):
    app.config["MAIL_SERVER"] = ""
    folder = Path(app.config["MAIL_FOLDER"])
    ids = queue(app, 2)
    now = utcnow()
    assert deliver(app, now=now).sent == 2
    stored = rows(app)
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == sorted(
        f"{stored[i].created_at:%Y%m%d-%H%M%S}-{i:06d}.eml" for i in ids
    )
    for message_id in ids:
        row = stored[message_id]
        path = folder / f"{row.created_at:%Y%m%d-%H%M%S}-{message_id:06d}.eml"
        email = message_from_bytes(path.read_bytes(), policy=default_policy)
        assert email["Message-ID"] == row.message_id
        assert email["To"] == row.to_addr and email["Subject"] == row.subject
        assert "This is test message" in email.get_body(("plain",)).get_content()
        assert "<strong>" in email.get_body(("html",)).get_content()
    first = files[0].read_bytes()

    # A sender that crashed after writing re-sends into the same file, not a second one.
    with app.app_context():
        message = db.session.get(OutboxMessage, ids[0])
        message.status, message.claim_token = "sending", "dead-sender"
        message.claimed_until = now - timedelta(seconds=1)
        db.session.commit()
    assert deliver(app, now=now).sent == 1
    assert sorted(folder.iterdir()) == files
    assert files[0].read_bytes() == first
    assert smtp.handler.received == []


def test_unwritable_mail_folder_is_a_temporary_failure(app, smtp, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app.config["MAIL_SERVER"] = ""
    app.config["MAIL_FOLDER"] = str(blocker / "mail")
    (message_id,) = queue(app, 1)
    report = deliver(app)
    assert (report.sent, report.retried) == (0, 1)
    row = rows(app)[message_id]
    assert row.status == "pending" and "mail folder" in row.last_error

    app.config["MAIL_FOLDER"] = str(tmp_path / "mail-ok")
    assert deliver(app, now=utcnow() + timedelta(days=1)).sent == 1
    assert len(list((tmp_path / "mail-ok").glob("*.eml"))) == 1


# --- commands ---------------------------------------------------------------------------------


def test_outbox_send_and_list_commands(app, smtp):
    queue(app, 3)
    smtp.handler.refuse_rcpt = {"member2@example.org": "550 5.1.1 No such mailbox"}
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sent 2, retried 0, failed 1"
    assert len(smtp.handler.received) == 2

    result = runner.invoke(args=["outbox", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 4
    assert "Test message 2" in lines[0] and "failed" in lines[0] and "No such mailbox" in lines[0]
    assert all("sent" in line for line in lines[1:3])
    assert lines[3] == "Totals: pending 0, sending 0, sent 2, failed 1"

    result = runner.invoke(args=["outbox", "list", "--status", "failed"])
    assert result.output.count("#") == 1

    again = runner.invoke(args=["outbox", "send"])
    assert again.output.strip() == "sent 0, retried 0, failed 0"


def test_a_two_day_outage_loses_nothing_and_gives_up_only_after_three_days(app, smtp):
    (message_id,) = queue(app, 1)
    smtp.handler.mode = "451"
    created = rows(app)[message_id].created_at
    now = created
    while now < created + timedelta(days=2):
        deliver(app, now=now)
        row = rows(app)[message_id]
        assert row.status == "pending", f"failed after {now - created} of outage"
        now = row.next_attempt_at + timedelta(seconds=1)
    deliver(app, now=created + timedelta(hours=73))
    assert rows(app)[message_id].status == "failed"
    assert "Gave up" in rows(app)[message_id].last_error
