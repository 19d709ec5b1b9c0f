"""A contact's personal data: the admin's JSON download, and erasure everywhere it is written."""

import json
import re
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import sqlalchemy as sa

from allies.extensions import db
from allies.timeutil import alliance_today
from tests.fixtures import csrf_token_from, start_for_end

NAME = "Dana Rivera"
EMAIL = "dana.rivera@equity.example.org"
PHONE = "+1 312 555 0100"
SIGNER = "Lee Chen"
ORG = "Health Equity Collective"
# The Allies of the readdressing tests: the factory's primary contact, and a signatory.
TODAY = date(2030, 3, 2)
PRIMARY = "Pat Contact"
PRIMARY_EMAIL = "pat@readdress.example.org"
SIGNATORY = "Sig Nature"
SIGNATORY_EMAIL = "sig@readdress.example.org"
LINK_TOKEN = re.compile(r"/my/link/([A-Za-z0-9._-]+)")


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


# The download's sections and the table each holds rows of (``other_records`` holds the rest).
SECTIONS = {
    "applications_sent": "application",
    "endorsements_signed": "endorsement",
    "application_messages_naming_them": "application_message",
    "staff_notes_naming_them": "organization_note",
    "emails": "outbox_message",
    "audit_events": "audit_event",
    "sign_in_links": "sign_in_link",
}


def _snapshot(app) -> dict:
    """Every row of every table, by (table, primary key)."""
    rows = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            keys = [column.name for column in table.primary_key.columns]
            for row in db.session.execute(sa.select(table)).mappings():
                rows[(table.name, tuple(row[key] for key in keys))] = dict(row)
    return rows


def _downloaded(data: dict) -> dict[str, list[dict]]:
    """The rows of a download by table."""
    tables = {"contact": [data["contact"]]}
    for section, table in SECTIONS.items():
        tables.setdefault(table, []).extend(data[section])
    for table, rows in data["other_records"].items():
        tables.setdefault(table, []).extend(rows)
    return tables


def test_the_download_holds_every_record_the_erasure_rewrites(app, client, auth, factory):
    from allies.agreements.models import Agreement
    from allies.agreements.operations import terminate_agreement
    from allies.conferences.models import Conference, Invitation
    from allies.conferences.operations import invite_current_allies, save_answer
    from allies.staff.exports import SECRET_COLUMNS
    from allies.staff.models import StaffUser

    ids = _person(app, factory)
    with app.app_context():
        today = alliance_today()
        conference = Conference(
            title="Health Equity Together",
            place="Lima, Peru",
            start_date=today + timedelta(days=60),
            end_date=today + timedelta(days=62),
        )
        db.session.add(conference)
        db.session.commit()
        invite_current_allies(conference, staff=None, today=today)
        invitation = db.session.scalar(sa.select(Invitation))
        save_answer(invitation, attending=True, people=2, names=f"{NAME}, Sam", today=today)
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.role == "admin"))
        terminate_agreement(
            db.session.get(Agreement, ids["agreement"]),
            staff=staff,
            reason=f"{NAME} wrote that they are closing.",
            on=today,
            today=today,
        )
    auth.login("admin")
    data = client.get(
        f"/staff/allies/{ids['organization']}/contacts/{ids['contact']}/data.json"
    ).get_json()
    others = data["other_records"]
    assert [row["names"] for row in others["conference_invitation"]] == [f"{NAME}, Sam"]
    assert NAME in others["agreement"][0]["termination_reason"]
    downloaded = _downloaded(data)
    # One list of secret columns for every download (allies/staff/exports.py).
    assert SECRET_COLUMNS["sign_in_link"] == {"nonce"}
    for table, rows in downloaded.items():
        for row in rows:
            assert not SECRET_COLUMNS.get(table, set()) & row.keys(), table

    before = _snapshot(app)
    assert _erase(client, ids).status_code == 302
    after = _snapshot(app)
    changed = {key for key, row in before.items() if after.get(key) != row}
    assert {table for table, _key in changed} >= {
        "conference_invitation",
        "agreement",
        "contact",
        "outbox_message",
        "audit_event",
    }
    held = {(table, row["id"]) for table, rows in downloaded.items() for row in rows if "id" in row}
    missing = {(table, key[0]) for table, key in changed} - held
    assert not missing, f"erased but not in the download: {sorted(missing)}"


# --- mail still waiting for the organization ------------------------------------------------------


def _ally(
    app, factory, *, start=TODAY, signatory=True, name="Readdress Org", email=PRIMARY_EMAIL
) -> dict:
    """An Ally whose primary contact is Pat, with Sig as signatory if ``signatory``."""
    from allies.organizations.models import Contact

    organization_id, agreement_id = factory.ally(name=name, email=email, start=start)
    with app.app_context():
        contact = db.session.scalar(
            sa.select(Contact).where(Contact.organization_id == organization_id)
        )
        if signatory:
            db.session.add(
                Contact(
                    organization_id=organization_id,
                    role="signatory",
                    name=SIGNATORY,
                    email=SIGNATORY_EMAIL,
                )
            )
            db.session.commit()
        return {"organization": organization_id, "contact": contact.id, "agreement": agreement_id}


def _messages(app, kind: str) -> list:
    from allies.mail.models import OutboxMessage

    with app.app_context():
        messages = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        ).all()
        for message in messages:
            db.session.expunge(message)
        return messages


def _confirmation(client, ids) -> str:
    return client.get(
        f"/staff/allies/{ids['organization']}/contacts/{ids['contact']}/erase"
    ).get_data(as_text=True)


def test_an_invitation_for_the_organization_goes_to_the_signatory_in_copy(
    app, client, auth, factory
):
    from allies.conferences.models import Conference
    from allies.conferences.operations import invite_current_allies

    app.config["TODAY"] = TODAY
    ids = _ally(app, factory)
    with app.app_context():
        conference = Conference(
            title="Health Equity Together",
            place="Lima, Peru",
            start_date=TODAY + timedelta(days=100),
            end_date=TODAY + timedelta(days=102),
        )
        db.session.add(conference)
        db.session.commit()
        conference_id = conference.id
        assert invite_current_allies(conference, staff=None, today=TODAY).count == 1
    (before,) = _messages(app, "conference_invitation")
    assert (before.to_addr, before.cc_addrs) == (PRIMARY_EMAIL, SIGNATORY_EMAIL)
    answer_link = re.search(r"/conferences/\d+/answer/\S+", before.body_text).group(0)
    auth.login("admin")
    page = _confirmation(client, ids)
    assert f"will go to {SIGNATORY_EMAIL} instead" in page and "conference invitation" in page

    assert _erase(client, ids).status_code == 302

    (message,) = _messages(app, "conference_invitation")
    assert (message.to_addr, message.cc_addrs, message.status) == (SIGNATORY_EMAIL, "", "pending")
    assert f"Hello {SIGNATORY}," in message.body_text and SIGNATORY in message.body_html
    assert PRIMARY not in message.body_text + message.body_html
    # The answer link acts for the organization, not the person: it still works as it was.
    assert answer_link in message.body_text
    with app.app_context():
        conference = db.session.get(Conference, conference_id)
        assert invite_current_allies(conference, staff=None, today=TODAY).count == 0


def test_a_renewal_reminders_signatory_keeps_the_copy_and_link_of_their_own(
    app, client, auth, factory
):
    from allies.reminders.models import Reminder
    from allies.reminders.operations import run_sweep

    app.config["TODAY"] = TODAY
    ids = _ally(app, factory, start=start_for_end(TODAY + timedelta(days=90)))
    with app.app_context():
        run_sweep(TODAY)
    # The renewal link signs in as the person it is sent to: the signatory was never in copy of
    # the person's reminder, but got a copy of their own with a link of their own.
    before, copy_before = _messages(app, "reminder")
    assert (before.to_addr, before.cc_addrs) == (PRIMARY_EMAIL, "")
    assert (copy_before.to_addr, copy_before.cc_addrs) == (SIGNATORY_EMAIL, "")
    old_token = LINK_TOKEN.search(before.body_text).group(1)
    copy_token = LINK_TOKEN.search(copy_before.body_text).group(1)
    assert old_token not in copy_before.body_text + copy_before.body_html
    auth.login("admin")
    _confirmation(client, ids)

    assert _erase(client, ids).status_code == 302

    message, copy = _messages(app, "reminder")
    # The person's own reminder is not sent (nobody else holds it); the reminder record still
    # points at it. The signatory's copy goes out, naming the pseudonym, its link unchanged.
    assert message.status == "failed" and "erased" in message.last_error
    with app.app_context():
        reminder = db.session.scalar(sa.select(Reminder))
        assert reminder.outbox_message_id == message.id
    assert (copy.to_addr, copy.cc_addrs, copy.status) == (SIGNATORY_EMAIL, "", "pending")
    assert f"Hello {SIGNATORY}," in copy.body_text
    assert PRIMARY not in copy.body_text + copy.body_html
    assert LINK_TOKEN.search(copy.body_text).group(1) == copy_token
    auth.logout()
    assert client.post(f"/my/link/{old_token}").status_code == 400
    used = client.post(f"/my/link/{copy_token}")
    assert used.status_code == 302 and f"/my/renew/{ids['agreement']}" in used.location
    renew = client.get(used.location)
    assert renew.status_code == 200 and "Readdress Org" in renew.get_data(as_text=True)


def test_an_erased_signatorys_own_copy_of_a_reminder_is_not_sent_to_the_primary_again(
    app, client, auth, factory
):
    from allies.organizations.models import Contact
    from allies.reminders.operations import run_sweep

    app.config["TODAY"] = TODAY
    ids = _ally(app, factory, start=start_for_end(TODAY + timedelta(days=90)))
    with app.app_context():
        run_sweep(TODAY)
        signatory = db.session.scalar(sa.select(Contact).where(Contact.role == "signatory"))
        ids = {**ids, "contact": signatory.id}
    message, copy = _messages(app, "reminder")
    primary_token = LINK_TOKEN.search(message.body_text).group(1)
    auth.login("admin")
    assert "not be sent" in _confirmation(client, ids)

    assert _erase(client, ids).status_code == 302

    message_after, copy_after = _messages(app, "reminder")
    # The primary contact already has the reminder of their own: the signatory's copy is not
    # handed to them a second time, it is simply not sent.
    assert copy.to_addr == SIGNATORY_EMAIL
    assert (copy_after.to_addr, copy_after.status) == (f"erased-{ids['contact']}@invalid", "failed")
    assert "erased" in copy_after.last_error
    assert (message_after.to_addr, message_after.status) == (PRIMARY_EMAIL, "pending")
    assert LINK_TOKEN.search(message_after.body_text).group(1) == primary_token
    to_primary = [m for m in _messages(app, "reminder") if m.to_addr == PRIMARY_EMAIL]
    assert len(to_primary) == 1


def test_personal_emails_are_not_sent_and_the_others_go_to_another_primary_contact(
    app, client, auth, factory
):
    from allies.organizations.models import Contact
    from allies.organizations.operations import send_sign_in_link

    ids = _ally(app, factory, signatory=False)
    with app.app_context():
        db.session.add(
            Contact(
                organization_id=ids["organization"],
                role="primary",
                name="Alex Second",
                email="alex@readdress.example.org",
            )
        )
        db.session.commit()
        send_sign_in_link(PRIMARY_EMAIL)
    auth.login("admin")
    page = _confirmation(client, ids)
    assert "will go to alex@readdress.example.org instead" in page
    assert "2 email(s) to them not yet sent will not be sent" in page

    assert _erase(client, ids).status_code == 302

    pseudonym = f"erased-{ids['contact']}@invalid"
    # Sign-in and status links are the person's own: never handed to somebody else.
    for kind in ("sign_in_link", "application_received"):
        (message,) = _messages(app, kind)
        assert (message.to_addr, message.status) == (pseudonym, "failed"), kind
    (approved,) = _messages(app, "application_approved")
    assert (approved.to_addr, approved.status) == ("alex@readdress.example.org", "pending")


def test_an_email_with_nobody_left_to_take_it_is_not_sent(app, client, auth, factory):
    ids = _ally(app, factory, signatory=False)
    auth.login("admin")
    assert "will go to" not in _confirmation(client, ids)
    assert _erase(client, ids).status_code == 302
    (approved,) = _messages(app, "application_approved")
    assert approved.status == "failed" and "erased" in approved.last_error


# --- who counts as a current Ally: the standing module ------------------------------------------


def test_the_only_primary_contact_warning_asks_the_standing_rule(app, client, auth, factory):
    app.config["TODAY"] = TODAY
    upcoming = _ally(app, factory, start=TODAY + timedelta(days=10), signatory=False)
    renewed = _ally(
        app,
        factory,
        start=start_for_end(TODAY + timedelta(days=30)),
        signatory=False,
        name="Renewed Early",
        email="pat@renewed.example.org",
    )
    factory.renewal(
        renewed["agreement"],
        submitted_on=TODAY - timedelta(days=5),
        approved_on=TODAY - timedelta(days=1),
    )
    auth.login("admin")
    # A term that has not started does not list the Ally; a term renewed early still does.
    assert "only primary contact" not in _confirmation(client, upcoming)
    assert "only primary contact" in _confirmation(client, renewed)
