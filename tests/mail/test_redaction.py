"""The outbox holds no usable key: a delivered message's stored copy has its link token removed,
no staff role sees a token on any outbox page, and the recipient still gets the working link
(over SMTP, in the .eml file when no server is set, and on a retry after a failure)."""

import re
from datetime import date, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from allies.agreements.terms import term_end
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.sender import deliver_pending, eml_filename
from allies.reminders.operations import run_sweep
from allies.timeutil import utcnow
from tests.fixtures import rows

# The SMTP servers (the smtp_servers and smtp fixtures) are in tests/mail/conftest.py.

ADDRESS = "holder@example.org"
TOKEN = re.compile(r"/my/link/([A-Za-z0-9._-]+)")
REDACTED = "/my/link/[redacted]"


@pytest.fixture
def app_config(app_config, database_url, smtp):
    app_config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_TIMEOUT=1)
    return app_config


def deliver(app, now=None):
    with app.app_context():
        return deliver_pending(now=now)


def _status_email(app, factory) -> tuple[int, str]:
    """Apply as ``ADDRESS``: the id of the 'application received' email and its link token."""
    factory.application(email=ADDRESS)
    with app.app_context():
        message = db.session.scalar(
            sa.select(OutboxMessage).where(
                OutboxMessage.to_addr == ADDRESS, OutboxMessage.kind == "application_received"
            )
        )
        token = TOKEN.search(message.body_text).group(1)
        assert token in message.body_html
        return message.id, token


def _received(smtp, app, message_id):
    (email,) = smtp.handler.by_message_id(rows(app)[message_id].message_id)
    return email.get_body(("plain",)).get_content(), email.get_body(("html",)).get_content()


def _assert_redacted(app, message_id, token):
    row = rows(app)[message_id]
    assert row.status == "sent"
    for body in (row.body_text, row.body_html):
        assert token not in body and REDACTED in body


def _assert_link_signs_in(app, token):
    client = app.test_client()
    response = client.post(f"/my/link/{token}")
    assert response.status_code == 302, response.get_data(as_text=True)


def _staff_pages(client, message_id) -> str:
    return "".join(
        client.get(url).get_data(as_text=True)
        for url in (
            "/staff/outbox",
            f"/staff/outbox/{message_id}",
            f"/staff/outbox/{message_id}/preview",
        )
    )


def test_a_delivered_message_keeps_no_token_in_the_database_and_the_link_works(app, smtp, factory):
    message_id, token = _status_email(app, factory)
    assert deliver(app).sent >= 1
    text, html = _received(smtp, app, message_id)
    assert token in text and token in html  # the recipient has the real link
    _assert_redacted(app, message_id, token)
    _assert_link_signs_in(app, token)


def test_without_a_server_the_eml_file_is_the_delivery_and_keeps_the_link(app, smtp, factory):
    app.config["MAIL_SERVER"] = ""
    message_id, token = _status_email(app, factory)
    assert deliver(app).sent >= 1
    assert smtp.handler.received == []
    row = rows(app)[message_id]
    path = Path(app.config["MAIL_FOLDER"]) / eml_filename(row)
    email = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert token in email.get_body(("plain",)).get_content()
    assert token in email.get_body(("html",)).get_content()
    _assert_redacted(app, message_id, token)
    _assert_link_signs_in(app, token)


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_no_staff_role_sees_a_token_pending_failed_or_sent(app, client, auth, smtp, factory, role):
    message_id, token = _status_email(app, factory)
    auth.login(role)

    page = _staff_pages(client, message_id)  # pending: not yet delivered
    assert rows(app)[message_id].status == "pending"
    assert token not in page and REDACTED in page
    assert "Sign-in, renewal and conference answer links are hidden" in page

    smtp.handler.mode = "550"
    deliver(app)
    assert rows(app)[message_id].status == "failed"
    assert token not in _staff_pages(client, message_id)

    smtp.handler.mode = "accept"
    client.post(f"/staff/outbox/{message_id}/retry")
    deliver(app)
    assert rows(app)[message_id].status == "sent"
    assert token not in _staff_pages(client, message_id)


def test_a_failed_message_keeps_its_link_and_a_retry_delivers_it(app, client, auth, smtp, factory):
    message_id, token = _status_email(app, factory)
    smtp.handler.mode = "550"
    deliver(app)
    failed = rows(app)[message_id]
    assert failed.status == "failed" and token in failed.body_text  # kept for the retry

    smtp.handler.mode = "accept"
    auth.login("admin")
    assert client.post(f"/staff/outbox/{message_id}/retry").status_code == 302
    deliver(app)
    text, html = _received(smtp, app, message_id)
    assert token in text and token in html
    _assert_redacted(app, message_id, token)
    _assert_link_signs_in(app, token)


def test_a_deferred_message_keeps_its_link_until_it_goes(app, smtp, factory):
    message_id, token = _status_email(app, factory)
    smtp.handler.mode = "451"
    deliver(app)
    deferred = rows(app)[message_id]
    assert deferred.status == "pending" and token in deferred.body_text

    smtp.handler.mode = "accept"
    deliver(app, now=utcnow() + timedelta(hours=1))
    text, _html = _received(smtp, app, message_id)
    assert token in text
    _assert_redacted(app, message_id, token)


def test_a_delivered_renewal_reminder_is_redacted_and_its_link_opens_the_renewal(
    app, smtp, factory
):
    start = date(2025, 3, 10)
    _org, agreement_id = factory.ally(start=start, email=ADDRESS)
    with app.app_context():
        assert not run_sweep(term_end(start) - timedelta(days=30)).errors
        message = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "reminder")
        )
        message_id, token = message.id, TOKEN.search(message.body_text).group(1)
    deliver(app)
    text, html = _received(smtp, app, message_id)
    assert token in text and token in html
    _assert_redacted(app, message_id, token)
    response = app.test_client().post(f"/my/link/{token}")
    assert response.status_code == 302
    assert response.location.endswith(f"/my/renew/{agreement_id}")


def test_outbox_redact_clears_links_from_messages_delivered_before(app, runner, smtp, factory):
    message_id, token = _status_email(app, factory)
    pending_id, pending_token = message_id, token
    with app.app_context():  # a message delivered by an earlier version, which kept its link
        old = OutboxMessage(
            message_id="<old@allies.test>",
            kind="sign_in_link",
            to_addr=ADDRESS,
            subject="Your sign-in link",
            body_text=f"Sign in: http://allies.test/my/link/{token}x?next=%2Fmy",
            body_html=f'<a href="http://allies.test/my/link/{token}x?next=%2Fmy">Sign in</a>',
            status="sent",
            sent_at=utcnow(),
        )
        db.session.add(old)
        db.session.commit()
        old_id = old.id
    result = runner.invoke(args=["outbox", "redact"])
    assert result.exit_code == 0, result.output
    assert "1" in result.output
    stored = rows(app)
    for body in (stored[old_id].body_text, stored[old_id].body_html):
        assert token not in body and f"{REDACTED}?next=%2Fmy" in body
    assert pending_token in stored[pending_id].body_text  # not delivered yet: kept


def test_a_conference_answer_link_is_hidden_from_staff_and_redacted_once_delivered(
    app, client, auth, smtp, factory
):
    """The answer link in an invitation acts for the Ally: outbox pages hide its token too."""
    from allies.conferences.models import Conference
    from allies.conferences.operations import invite_current_allies

    today = date(2030, 3, 2)
    app.config["TODAY"] = today
    factory.ally(start=date(2029, 6, 1), email=ADDRESS)
    with app.app_context():
        conference = Conference(
            title="Health Equity Together",
            place="Lima, Peru",
            start_date=date(2030, 6, 10),
            end_date=date(2030, 6, 12),
        )
        db.session.add(conference)
        db.session.commit()
        invite_current_allies(conference, staff=None, today=today)
        message = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "conference_invitation")
        )
        assert message is not None and message.to_addr == ADDRESS
        answer = re.compile(rf"/conferences/{conference.id}/answer/([A-Za-z0-9._-]+)")
        message_id, token = message.id, answer.search(message.body_text).group(1)
    auth.login("admin")
    assert token not in _staff_pages(client, message_id)
    deliver(app)
    text, html = _received(smtp, app, message_id)
    assert token in text and token in html
    stored = rows(app)[message_id]
    assert stored.status == "sent"
    assert token not in stored.body_text and token not in stored.body_html
    assert token not in _staff_pages(client, message_id)
