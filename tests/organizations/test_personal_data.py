"""A contact's personal data: the admin's JSON download, and erasure everywhere it is written."""

import json
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import sqlalchemy as sa

from allies.extensions import db
from allies.timeutil import alliance_today
from tests.fixtures import csrf_token_from

NAME = "Dana Rivera"
EMAIL = "dana.rivera@equity.example.org"
PHONE = "+1 312 555 0100"
SIGNER = "Lee Chen"
ORG = "Health Equity Collective"


def _person(app, factory) -> dict:
    """An Ally whose primary contact Dana wrote everywhere Allies keeps words: the application,
    a question and her answer, staff notes, audit entries, emails (delivered to .eml files and one
    waiting), and sign-in links. Returns the ids."""
    from allies.applications.models import Application
    from allies.applications.operations import (
        EndorsementInput,
        answer_question,
        approve_application,
        ask_question,
        submit_application,
    )
    from allies.applications.statements import current_statements
    from allies.mail.sender import deliver_pending
    from allies.organizations.models import OrganizationNote
    from allies.organizations.operations import add_contact, send_sign_in_link, update_profile
    from allies.staff.models import StaffUser

    factory.staff("admin")
    with app.app_context():
        texts = current_statements()
        application = submit_application(
            {
                "name": ORG,
                "website": "https://equity.example.org",
                "type_id": None,
                "city": "Chicago",
                "region": "IL",
                "country": "USA",
                "description": "Training clinicians to organise with their communities.",
                "logo_filename": None,
            },
            {"name": NAME, "title": "Director", "email": EMAIL, "phone": PHONE},
            f"Our director {NAME} leads the programme; write to {EMAIL}.",
            EndorsementInput(
                version_ids={k: v.id for k, v in texts.items()},
                endorsed={k: True for k in texts},
                signer_name=SIGNER,
                signer_title="Chief Executive",
                signer_email=EMAIL,
                ip="127.0.0.1",
            ),
        )
        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        ask_question(application, f"{NAME}, which residencies take part?", staff=staff)
        application = db.session.get(Application, application.id)
        answer_question(
            application, f"Three. Regards, {NAME} ({PHONE})", contact=application.contact
        )
        application = db.session.get(Application, application.id)
        today = alliance_today()
        agreement = approve_application(application, staff=staff, start=today, today=today)
        organization = application.organization
        contact = application.contact
        add_contact(
            organization,
            {"role": "communications", "name": "Chris Other", "email": "chris@equity.example.org"},
            actor=staff.label,
            staff=staff,
        )
        update_profile(organization, {"city": "Evanston"}, actor=f"ally contact {EMAIL}")
        db.session.add(
            OrganizationNote(
                organization_id=organization.id,
                staff_id=staff.id,
                author=staff.label,
                body=f"Called {NAME} on {PHONE}; she prefers {EMAIL.upper()}.",
            )
        )
        db.session.commit()
        send_sign_in_link(EMAIL)
        while deliver_pending().claimed:
            pass
        send_sign_in_link(EMAIL)  # this one waits in the outbox, with a live link
        return {
            "organization": organization.id,
            "contact": contact.id,
            "agreement": agreement.agreement_id,
            "application": application.id,
        }


def _texts_holding(app, *needles: str) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text in the database holding one of ``needles``."""
    found = []
    lowered = [needle.lower() for needle in needles]
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if value is None or isinstance(value, int | float | bool | date | datetime):
                        continue
                    text = (
                        json.dumps(value, ensure_ascii=False)
                        if not isinstance(value, str)
                        else value
                    )
                    if any(needle in text.lower() for needle in lowered):
                        found.append((table.name, column, text[:120]))
    return found


def _mail_files_holding(app, *needles: str) -> list[str]:
    """Names of the .eml files whose headers or any decoded part hold one of ``needles``."""
    found = []
    for path in Path(app.config["MAIL_FOLDER"]).glob("*.eml"):
        parsed = message_from_bytes(path.read_bytes(), policy=default_policy)
        texts = [str(value) for value in parsed.values()]
        texts += [part.get_content() for part in parsed.walk() if not part.is_multipart()]
        if any(needle.lower() in text.lower() for text in texts for needle in needles):
            found.append(path.name)
    return found


def _erase(client, ids, reason="She asked by email to be forgotten."):
    return client.post(
        f"/staff/allies/{ids['organization']}/contacts/{ids['contact']}/erase",
        data={"reason": reason, "confirm": "y"},
    )


def test_erasure_leaves_the_person_nowhere_and_the_history_intact(app, client, auth, factory):
    from allies.agreements.models import Agreement
    from allies.mail.models import OutboxMessage
    from allies.organizations.models import Contact, SignInLink
    from allies.staff.models import AuditEvent

    ids = _person(app, factory)
    needles = (NAME, EMAIL, PHONE)
    assert _texts_holding(app, *needles), "the scenario writes the person into the database"
    assert _mail_files_holding(app, *needles), "and into delivered .eml files"
    auth.login("admin")
    with app.app_context():
        events_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        contact = db.session.get(Contact, ids["contact"])
        version_before = contact.session_version

    response = _erase(client, ids, reason=f"{NAME} asked by email ({EMAIL}).")
    assert response.status_code == 302, response.get_data(as_text=True)

    assert _texts_holding(app, *needles) == []
    assert _mail_files_holding(app, *needles) == []
    with app.app_context():
        contact = db.session.get(Contact, ids["contact"])
        assert contact.name == f"Erased contact {contact.id}"
        assert contact.email == f"erased-{contact.id}@invalid"
        assert (contact.phone, contact.title, contact.is_enabled) == ("", "", False)
        assert contact.erased_at is not None and contact.session_version > version_before
        assert not db.session.scalars(
            sa.select(SignInLink).where(
                SignInLink.contact_id == contact.id, SignInLink.used_at.is_(None)
            )
        ).all()
        waiting = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "sign_in_link")
        ).all()
        assert [m.status for m in waiting] == ["sent", "failed"]
        assert "erased" in waiting[-1].last_error
        assert all(m.to_addr == contact.email for m in waiting)
        # The other contact and the organization's records are untouched.
        other = db.session.scalar(sa.select(Contact).where(Contact.name == "Chris Other"))
        assert other.email == "chris@equity.example.org" and other.is_enabled
        assert db.session.get(Agreement, ids["agreement"]) is not None
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
        assert len(events) == events_before + 1
        erased = events[-1]
        assert erased.action == "contact_erased" and erased.staff_id is not None
        assert f"Erased contact {contact.id}" in erased.reason
        assert f"erased-{contact.id}@invalid" in erased.reason
        assert any(e.actor == f"applicant erased-{contact.id}@invalid" for e in events)

    page = client.get(f"/staff/allies/{ids['organization']}").get_data(as_text=True)
    assert "Agreements" in page and "(the term in force)" in page
    assert "contact erased" in page and "question asked" in page
    assert f"Erased contact {ids['contact']}" in page and "erased " in page


def test_the_download_holds_everything_about_the_person_and_no_link(app, client, auth, factory):
    from allies.staff.models import AuditEvent

    ids = _person(app, factory)
    auth.login("admin")
    response = client.get(
        f"/staff/allies/{ids['organization']}/contacts/{ids['contact']}/data.json"
    )
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["contact"]["email"] == EMAIL and data["contact"]["phone"] == PHONE
    assert "session_version" not in data["contact"]
    assert [a["id"] for a in data["applications_sent"]] == [ids["application"]]
    assert data["endorsements_signed"][0]["signer_name"] == SIGNER
    assert len(data["application_messages_naming_them"]) == 2
    assert len(data["staff_notes_naming_them"]) == 1
    assert {m["kind"] for m in data["emails"]} >= {"application_received", "sign_in_link"}
    assert any(e["actor"] == f"applicant {EMAIL}" for e in data["audit_events"])
    assert data["sign_in_links"] and all("nonce" not in link for link in data["sign_in_links"])
    text = response.get_data(as_text=True)
    assert "/my/link/[redacted]" in text
    assert "Chris Other" not in text

    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event.action == "contact_data_downloaded"
        assert event.subject_id == ids["organization"] and event.staff_id is not None
        assert EMAIL not in event.reason and NAME not in event.reason


def test_reviewers_get_403_and_wrong_ids_404(app, client, auth, factory):
    ids = _person(app, factory)
    base = f"/staff/allies/{ids['organization']}/contacts/{ids['contact']}"
    auth.login("reviewer")
    assert client.get(f"{base}/data.json").status_code == 403
    assert client.get(f"{base}/erase").status_code == 403
    assert _erase(client, ids).status_code == 403
    page = client.get(f"/staff/allies/{ids['organization']}").get_data(as_text=True)
    assert "Download data (JSON)" not in page
    auth.logout()
    auth.login("admin")
    other_org, _agreement = factory.ally(name="Another Ally")
    assert (
        client.get(f"/staff/allies/{other_org}/contacts/{ids['contact']}/erase").status_code == 404
    )
    assert (
        client.get(f"/staff/allies/{ids['organization']}/contacts/999999/data.json").status_code
        == 404
    )
    page = client.get(f"/staff/allies/{ids['organization']}").get_data(as_text=True)
    assert "Download data (JSON)" in page and "Erase…" in page


def test_erasure_needs_csrf_a_reason_and_the_confirmation(app, client, auth, factory):
    from allies.organizations.models import Contact

    ids = _person(app, factory)
    auth.login("admin")
    url = f"/staff/allies/{ids['organization']}/contacts/{ids['contact']}/erase"
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        confirm = client.get(url)
        assert confirm.status_code == 200
        page = confirm.get_data(as_text=True)
        assert "cannot be undone" in page and "Erased contact" in page
        assert client.post(url, data={"reason": "asked", "confirm": "y"}).status_code == 400
        token = csrf_token_from(page)
        missing = client.post(url, data={"csrf_token": token, "reason": "", "confirm": ""})
        assert missing.status_code == 400
        assert "Give a reason" in missing.get_data(as_text=True)
        with app.app_context():
            assert db.session.get(Contact, ids["contact"]).erased_at is None
        done = client.post(url, data={"csrf_token": token, "reason": "asked", "confirm": "y"})
        assert done.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        assert db.session.get(Contact, ids["contact"]).erased_at is not None
    again = client.post(url, data={"reason": "again", "confirm": "y"})
    assert again.status_code == 302
    assert "erased already" in client.get(again.location).get_data(as_text=True)


def test_the_confirmation_warns_about_the_only_primary_contact_of_a_current_ally(
    app, client, auth, factory
):
    ids = _person(app, factory)
    auth.login("admin")
    page = client.get(
        f"/staff/allies/{ids['organization']}/contacts/{ids['contact']}/erase"
    ).get_data(as_text=True)
    assert "only primary contact" in page and "no reminder reaches it" in page
    assert "not yet sent will not be sent" in page
    # Allowed all the same: reminders then skip the Ally until a new primary is added.
    assert _erase(client, ids).status_code == 302


def test_an_email_being_delivered_right_now_holds_the_erasure_back(app, client, auth, factory):
    from allies.mail.models import OutboxMessage
    from allies.timeutil import utcnow

    ids = _person(app, factory)
    with app.app_context():
        message = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.status == "pending")
        )
        message.status = "sending"
        message.claim_token = "another-sender"
        message.claimed_until = utcnow() + timedelta(minutes=5)
        db.session.commit()
    auth.login("admin")
    response = _erase(client, ids)
    assert response.status_code == 409
    assert "being sent right now" in response.get_data(as_text=True)
    assert _texts_holding(app, EMAIL)
