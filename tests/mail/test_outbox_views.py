"""The staff outbox pages: listing, filtering, paging, a message, its HTML kept inert, retry."""

import re
from datetime import timedelta

import pytest

from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.sender import deliver_pending
from allies.staff.audit import history_of
from allies.timeutil import utcnow
from tests.fixtures import csrf_token_from, queue, rows


@pytest.fixture
def app_config(app_config, database_url, smtp):
    app_config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_TIMEOUT=1)
    return app_config


def deliver(app, now=None):
    with app.app_context():
        return deliver_pending(now=now)


def add_message(app, **fields) -> int:
    """An outbox row written directly, for content the templates would never produce."""
    values = {
        "message_id": f"<{utcnow().timestamp()}.{len(fields)}@alliance.example>",
        "kind": "test_message",
        "to_addr": "someone@example.org",
        "subject": "A subject",
        "body_text": "Hello",
        "body_html": "<p>Hello</p>",
    }
    values.update(fields)
    with app.app_context():
        message = OutboxMessage(**values)
        db.session.add(message)
        db.session.commit()
        return message.id


def test_outbox_pages_require_staff(app, client, smtp):
    (message_id,) = queue(app, 1)
    for url in (
        "/staff/outbox",
        f"/staff/outbox/{message_id}",
        f"/staff/outbox/{message_id}/preview",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/staff/sign-in" in response.headers["Location"]
    response = client.post(f"/staff/outbox/{message_id}/retry")
    assert response.status_code == 302 and "/staff/sign-in" in response.headers["Location"]
    assert rows(app)[message_id].status == "pending"


def test_a_550_shows_as_failed_and_the_retry_button_sends_it(app, client, auth, smtp):
    ids = queue(app, 3)
    smtp.handler.refuse_rcpt = {"member1@example.org": "550 5.1.1 No such mailbox here"}
    deliver(app)
    failed_id = ids[1]
    auth.login("reviewer")

    page = client.get("/staff/outbox").get_data(as_text=True)
    assert "Sent (2)" in page and "Failed (1)" in page and "Pending (0)" in page
    assert page.count('class="badge badge-sent"') == 2
    assert page.count('class="badge badge-failed"') == 1
    assert "No such mailbox here" in page

    page = client.get("/staff/outbox?status=failed").get_data(as_text=True)
    assert "Test message 1" in page
    assert "Test message 0" not in page and "Test message 2" not in page

    page = client.get(f"/staff/outbox/{failed_id}").get_data(as_text=True)
    assert "No such mailbox here" in page
    form = re.search(r'<form method="post" action="([^"]+/retry)"[^>]*>(.*?)</form>', page, re.S)
    assert form and form.group(1) == f"/staff/outbox/{failed_id}/retry"
    assert 'name="csrf_token"' in form.group(2) and "Retry sending" in form.group(2)

    # With CSRF protection on, as in production: the page's token is required and works.
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(form.group(1)).status_code == 400
    assert rows(app)[failed_id].status == "failed"
    token = csrf_token_from(client.get(f"/staff/outbox/{failed_id}").get_data(as_text=True))
    response = client.post(form.group(1), data={"csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200
    assert "will be sent again" in response.get_data(as_text=True)
    assert rows(app)[failed_id].status == "pending"
    with app.app_context():
        (event,) = [
            e for e in history_of(db.session.get(OutboxMessage, failed_id)) if e.action == "retried"
        ]
        assert event.staff_id is not None and (event.from_state, event.to_state) == (
            "failed",
            "pending",
        )

    smtp.handler.refuse_rcpt = {}
    report = deliver(app)
    assert (report.sent, report.failed) == (1, 0)
    assert smtp.handler.counts_by_message_id()[rows(app)[failed_id].message_id] == 1
    page = client.get(f"/staff/outbox/{failed_id}").get_data(as_text=True)
    assert "badge-sent" in page and "Retry sending" not in page


def test_retrying_a_message_that_is_not_failed_changes_nothing(app, client, auth, smtp):
    (message_id,) = queue(app, 1)
    deliver(app)
    auth.login("reviewer")
    response = client.post(f"/staff/outbox/{message_id}/retry", follow_redirects=True)
    assert "Only failed messages can be retried" in response.get_data(as_text=True)
    row = rows(app)[message_id]
    assert row.status == "sent" and row.attempts == 1
    assert len(smtp.handler.received) == 1


def test_message_bodies_are_shown_escaped_never_as_live_html(app, client, auth, smtp):
    message_id = add_message(
        app,
        subject="Hi <b>there</b>",
        body_text="Plain <script>alert('text')</script> & more",
        body_html='<p onclick="x()">Hi</p><script>alert("html")</script><img src="https://t.example/p.gif">',
    )
    auth.login("reviewer")
    response = client.get(f"/staff/outbox/{message_id}")
    page = response.get_data(as_text=True)
    assert "<script>alert" not in page and 'onclick="x()"' not in page
    assert "&lt;script&gt;alert(&#39;text&#39;)&lt;/script&gt; &amp; more" in page
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in page
    assert "&lt;script&gt;alert(&#34;html&#34;)&lt;/script&gt;" in page
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert " sandbox " in frame and f'src="/staff/outbox/{message_id}/preview"' in frame

    preview = client.get(f"/staff/outbox/{message_id}/preview")
    assert preview.status_code == 200 and preview.mimetype == "text/html"
    csp = preview.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    assert "script-src" not in csp and "frame-ancestors 'self'" in csp
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    # The page that frames it keeps the site's strict policy.
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def listed_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<th scope="row"><a href="/staff/outbox/(\d+)"', page)]


def test_listing_is_newest_first_and_paged(app, client, auth, smtp):
    ids = queue(app, 53)
    auth.login("reviewer")
    page_one = client.get("/staff/outbox").get_data(as_text=True)
    listed = [
        int(i) for i in re.findall(r'<th scope="row"><a href="/staff/outbox/(\d+)"', page_one)
    ]
    assert listed == sorted(ids, reverse=True)[:50]
    assert "page 1 of 2" in page_one and 'rel="next"' in page_one

    page_two = client.get("/staff/outbox?page=2").get_data(as_text=True)
    listed = [
        int(i) for i in re.findall(r'<th scope="row"><a href="/staff/outbox/(\d+)"', page_two)
    ]
    assert listed == sorted(ids, reverse=True)[50:]
    assert 'rel="prev"' in page_two and 'rel="next"' not in page_two

    # Out-of-range pages and unknown statuses fall back to something sensible.
    assert client.get("/staff/outbox?page=99").status_code == 200
    assert client.get("/staff/outbox?page=abc").status_code == 200
    assert client.get("/staff/outbox?status=bogus").status_code == 200
    empty = client.get("/staff/outbox?status=failed").get_data(as_text=True)
    assert "No failed messages." in empty


def test_pending_message_shows_next_try_and_no_retry_button(app, client, auth, smtp):
    (message_id,) = queue(app, 1)
    smtp.handler.mode = "451"
    deliver(app)
    auth.login("admin")
    page = client.get(f"/staff/outbox/{message_id}").get_data(as_text=True)
    assert "badge-pending" in page and "Next try" in page and "451" in page
    assert "Retry sending" not in page
    smtp.handler.mode = "accept"
    assert deliver(app, now=utcnow() + timedelta(hours=1)).sent == 1


def test_unknown_message_is_404(app, client, auth, smtp):
    auth.login("reviewer")
    assert client.get("/staff/outbox/999999").status_code == 404
    assert client.post("/staff/outbox/999999/retry").status_code == 404
