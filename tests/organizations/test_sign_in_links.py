"""Emailed sign-in links: a bounded number to one address an hour, whatever the source, and a
bounded number live per contact; the page answers the same whether or not a link went."""

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.organizations.access import InvalidLink, consume_link_token, make_link_token
from allies.organizations.models import Contact, SignInLink
from allies.organizations.operations import send_sign_in_link
from allies.timeutil import utcnow

ADDRESS = "holder@example.org"


def _links_sent(app, address=ADDRESS) -> list[str]:
    """The sign-in link emails queued for ``address`` (the outbox), oldest first: their bodies."""
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(OutboxMessage.body_text)
                .where(OutboxMessage.to_addr == address, OutboxMessage.kind == "sign_in_link")
                .order_by(OutboxMessage.id)
            )
        )


def _token(body: str) -> str:
    return re.search(r"/my/link/([A-Za-z0-9._-]+)", body).group(1)


def _travel(app, hours: float) -> None:
    """Move every link and message back ``hours`` (as if that much time had passed)."""
    with app.app_context():
        for model in (SignInLink, OutboxMessage):
            for row in db.session.scalars(sa.select(model)):
                row.created_at -= timedelta(hours=hours)
        db.session.commit()


@pytest.fixture
def app_config(app_config, database_url):
    """The per-address limit at its default; Flask-Limiter's per-IP limit on, as in production."""
    app_config["RATELIMIT_ENABLED"] = True
    return app_config


def test_a_rotating_source_gets_three_links_an_hour_to_one_address_and_the_same_page(
    app, client, factory
):
    factory.application(email=ADDRESS)
    pages = []
    for n in range(8):  # each request from its own address: the per-IP limit never trips
        response = client.post(
            "/sign-in", data={"email": ADDRESS}, environ_base={"REMOTE_ADDR": f"10.9.0.{n + 1}"}
        )
        assert response.status_code == 200
        pages.append(response.get_data(as_text=True))
    assert len(_links_sent(app)) == 3
    assert len(set(pages)) == 1, "the answer must not tell whether a link went"
    assert ADDRESS in pages[0]

    _travel(app, 1.01)  # an hour later the address may have links again
    client.post("/sign-in", data={"email": ADDRESS}, environ_base={"REMOTE_ADDR": "10.9.1.1"})
    assert len(_links_sent(app)) == 4


def test_the_limit_is_a_setting_and_the_address_is_matched_as_typed_any_case(app, factory):
    factory.application(email=ADDRESS)
    app.config["SIGN_IN_LINKS_PER_HOUR"] = 1
    with app.app_context():
        assert send_sign_in_link(ADDRESS) is True
        assert send_sign_in_link("  HOLDER@Example.org ") is True  # known, but nothing sent
    assert len(_links_sent(app)) == 1


def test_an_address_shared_by_several_contacts_still_gets_three_an_hour(app, factory):
    factory.application(email=ADDRESS, name="First Org")
    factory.application(email=ADDRESS, name="Second Org")
    with app.app_context():
        for _ in range(5):
            send_sign_in_link(ADDRESS)
    assert len(_links_sent(app)) == 3


def test_the_limit_holds_when_requests_arrive_at_once_on_several_workers(app, factory):
    factory.application(email=ADDRESS)
    barrier = threading.Barrier(8)
    errors = []

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                send_sign_in_link(ADDRESS)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(_links_sent(app)) == 3


def test_a_new_link_retires_the_oldest_beyond_three_live_ones(app, factory):
    factory.application(email=ADDRESS)
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == ADDRESS))
        tokens = [make_link_token(contact, "sign-in") for _ in range(5)]
        db.session.commit()
        for token in tokens[:2]:
            with pytest.raises(InvalidLink):
                consume_link_token(token, "sign-in")
        for token in tokens[2:]:
            assert consume_link_token(token, "sign-in").contact_id == contact.id
        live = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(SignInLink)
            .where(SignInLink.contact_id == contact.id, SignInLink.used_at.is_(None))
        )
        assert live == 0


def test_requested_links_beyond_the_bound_retire_the_oldest_and_the_newest_work(
    app, client, factory
):
    factory.application(email=ADDRESS)
    with app.app_context():
        for _hour in range(4):  # four requests in four hours: each one sent
            send_sign_in_link(ADDRESS)
            _travel(app, 1.01)
    bodies = _links_sent(app)
    assert len(bodies) == 4
    assert client.post(f"/my/link/{_token(bodies[0])}").status_code == 400
    assert client.post(f"/my/link/{_token(bodies[-1])}").status_code == 302


def test_the_bound_is_per_purpose_so_sign_in_links_never_retire_a_renewal_link(app, factory):
    _org, agreement_id = factory.ally(email=ADDRESS)
    with app.app_context():
        from allies.agreements.models import Agreement

        agreement = db.session.get(Agreement, agreement_id)
        contact = agreement.organization.contact_for("primary")
        renewal = make_link_token(contact, "renewal", agreement=agreement)
        db.session.commit()
        for _ in range(5):
            make_link_token(contact, "sign-in")
        db.session.commit()
        assert consume_link_token(renewal, "renewal").agreement_id == agreement_id


def test_a_used_link_does_not_hold_a_place_among_the_live_ones(app, factory):
    factory.application(email=ADDRESS)
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == ADDRESS))
        db.session.execute(sa.update(SignInLink).values(used_at=utcnow()))  # the status link
        first, second, used = (make_link_token(contact, "sign-in") for _ in range(3))
        db.session.commit()
        consume_link_token(used, "sign-in")
        newest = make_link_token(contact, "sign-in")
        db.session.commit()
        for token in (first, second, newest):
            assert consume_link_token(token, "sign-in").contact_id == contact.id
